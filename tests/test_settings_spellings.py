"""Settings files written for NornFlow 1.0: its spellings map onto nornflow's keys; $NORNFLOW_SETTINGS."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from nornflow.exceptions import SettingsError
from nornflow.run.api import NornFlow
from nornflow.settings import OTHER_SPELLINGS, Settings, settings_path


def settings_file(tmp_path: Path, text: str, name: str = "nornflow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_every_directory_spelling_maps_onto_nornflows_key(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path,
        """\
        local_tasks: [my_tasks, /abs/tasks]
        local_workflows: flows
        local_filters: [inv_filters]
        local_hooks: [my_hooks]
        local_j2_filters: [jinja]
        vars_dir: variables
        """,
    )
    s = Settings.load(path)
    assert s.task_dirs == ["my_tasks", "/abs/tasks"]
    assert s.workflow_dirs == ["flows"]  # one string is a list of one, as with nornflow's keys
    assert s.filter_dirs == ["inv_filters"]
    assert s.hook_dirs == ["my_hooks"]
    assert s.j2_filter_dirs == ["jinja"]
    assert s.vars_dir == "variables"
    assert s.spellings == {
        "task_dirs": "local_tasks",
        "workflow_dirs": "local_workflows",
        "filter_dirs": "local_filters",
        "hook_dirs": "local_hooks",
        "j2_filter_dirs": "local_j2_filters",
    }
    assert s.as_dict()["spelled_as"]["task_dirs"] == "local_tasks"
    assert set(OTHER_SPELLINGS.values()) <= set(Settings.model_fields)


def test_nornflows_own_keys_record_no_other_spelling(tmp_path: Path) -> None:
    s = Settings.load(settings_file(tmp_path, "task_dirs: [t]\n"))
    assert s.task_dirs == ["t"] and s.spellings == {} and "spelled_as" not in s.as_dict()


def test_both_spellings_of_one_setting_is_an_error_naming_both(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "task_dirs: [a]\nvars_dir: v\nlocal_tasks: [b]\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(path)
    err = info.value
    assert err.file == str(path) and err.line == 3 and err.key == "local_tasks"
    assert "'task_dirs' and 'local_tasks'" in err.message and "keep one" in err.message


def test_a_bad_value_is_reported_under_the_key_as_written(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "dry_run: false\nlocal_tasks: 3\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(path)
    assert info.value.key.startswith("local_tasks") and info.value.line == 2


def test_an_unknown_key_lists_both_spellings_and_the_closest(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(settings_file(tmp_path, "local_task: [t]\n"))
    assert info.value.key == "local_task" and info.value.line == 1
    assert (
        "NornFlow 1.0 spellings" in info.value.message and "did you mean 'local_tasks'" in info.value.message
    )


def test_settings_path_order(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = tmp_path / "env.yaml"
    given = tmp_path / "given.yaml"
    assert settings_path(None, environ={}) is None
    assert settings_path(None, default="nornflow.yaml", environ={}) == Path("nornflow.yaml")
    assert settings_path(given, environ={}) == given
    assert settings_path(None, environ={"NORNFLOW_SETTINGS": str(env)}) == env
    with caplog.at_level(logging.WARNING, logger="nornflow.settings"):
        assert settings_path(given, environ={"NORNFLOW_SETTINGS": str(env)}) == env
    assert "NORNFLOW_SETTINGS" in caplog.text and "given.yaml" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nornflow.settings"):
        assert settings_path(env, environ={"NORNFLOW_SETTINGS": str(env)}) == env
    assert caplog.text == ""  # the same file both ways: nothing to warn about


def test_the_api_reads_nornflow_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = settings_file(tmp_path, "local_tasks: [elsewhere]\nworkers: 3\n", name="prod.yaml")
    monkeypatch.setenv("NORNFLOW_SETTINGS", str(path))
    nf = NornFlow()
    assert nf.settings.source == str(path) and nf.workers == 3
    assert nf.settings.task_dirs == ["elsewhere"]


def test_the_cli_reads_nornflow_settings_before_settings_and_the_project(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nornflow.cli.app import app

    prod = settings_file(tmp_path, "workers: 7\n", name="prod.yaml")
    dev = settings_file(tmp_path, "workers: 2\n", name="dev.yaml")
    settings_file(tmp_path, "workers: 5\n")
    runner = CliRunner()
    shown = runner.invoke(
        app, ["show", "settings", "-C", str(tmp_path)], env={"NORNFLOW_SETTINGS": str(prod)}
    )
    assert shown.exit_code == 0 and "workers: 7" in shown.output
    shown = runner.invoke(app, ["show", "settings", "--settings", str(dev)], env={"NORNFLOW_SETTINGS": ""})
    assert "workers: 2" in shown.output
    shown = runner.invoke(app, ["show", "settings", "-C", str(tmp_path)])
    assert "workers: 5" in shown.output


class Counting:
    """A Nornir processor counting the hosts it saw complete."""

    seen: list[str] = []

    def task_started(self, task): ...
    def task_completed(self, task, result): ...
    def task_instance_started(self, task, host): ...
    def task_instance_completed(self, task, host, result):
        Counting.seen.append(host.name)

    def subtask_instance_started(self, task, host): ...
    def subtask_instance_completed(self, task, host, result): ...


@pytest.mark.parametrize(
    "path",
    [
        "nornflow.builtins.DefaultNornFlowProcessor",
        "nornflow.builtins.processors.DefaultNornFlowProcessor",
        "nornflow.builtins.processors.default_processor.DefaultNornFlowProcessor",
        "nornflow.builtins.processors.NornFlowHookProcessor",
        "nornflow.vars.processors.NornFlowVariableProcessor",
    ],
)
def test_nornflow_1s_own_processors_are_left_out_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    import nornflow.settings as settings_mod

    settings_mod._NOTED.discard(path)
    text = f"processors:\n  - class: {path}\n    args: {{}}\n  - class: {__name__}.Counting\n"
    with caplog.at_level(logging.INFO, logger="nornflow.settings"):
        s = Settings.load(settings_file(tmp_path, text))
    assert [p.class_ for p in s.processors] == [f"{__name__}.Counting"]
    assert "NornFlow 1.0's" in caplog.text and "left out" in caplog.text


def test_a_workflow_listing_only_the_default_processor_runs_with_nornflows_console(tmp_path: Path) -> None:
    from nornflow.inventory import inventory_from_data

    settings = Settings.load(settings_file(tmp_path, f"processors:\n  - class: {__name__}.Counting\n"))
    nf = NornFlow(settings, inventory=inventory_from_data({"r1": {}, "r2": {}}))
    Counting.seen = []
    nf.run({"workflow": {"name": "w", "tasks": [{"name": "echo"}]}})
    assert sorted(Counting.seen) == ["r1", "r2"]  # the project's processor
    only_default = {"class": "nornflow.builtins.DefaultNornFlowProcessor", "args": {}}
    prepared = nf.load_workflow({"workflow": {"name": "w", "processors": [only_default], "tasks": ["echo"]}})
    assert prepared.processors == []  # as in NornFlow 1.0: the workflow's list replaces the project's
    Counting.seen = []
    assert nf.run(prepared).exit_code == 0 and Counting.seen == []


def test_an_unknown_class_under_nornflow_builtins_is_still_an_error(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "processors:\n  - class: nornflow.builtins.NoSuchProcessor\n")
    with pytest.raises(SettingsError) as info:
        NornFlow(path)
    assert info.value.key == "processors[0].class" and "cannot import" in info.value.message


def test_logger_and_redaction_sections_map_onto_nornflows_keys(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path,
        """\
        logger:
          directory: .nornflow/logs
          level: debug
        redaction:
          enabled: false
          sensitive_names: [zq_vendor_pin]
        """,
    )
    s = Settings.load(path)
    assert (s.log_dir, s.log_level, s.mask_secrets, s.secret_names) == (
        ".nornflow/logs",
        "DEBUG",
        False,
        ["zq_vendor_pin"],
    )
    assert s.spellings["log_level"] == "logger.level" and s.spellings["mask_secrets"] == "redaction.enabled"
    defaults = Settings()
    assert (defaults.log_dir, defaults.log_level, defaults.mask_secrets, defaults.secret_names) == (
        None,
        "INFO",
        True,
        [],
    )


@pytest.mark.parametrize(
    ("text", "key", "line", "message"),
    [
        ("logger:\n  directory: logs\n  level: LOUD\n", "logger.level", 3, "must be one of DEBUG"),
        ("logger:\n  file: x.log\n", "logger.file", 2, "valid keys of logger: directory, level"),
        ("redaction: true\n", "redaction", 1, "must be a mapping"),
        ("log_dir: a\nlogger: {directory: b}\n", "logger.directory", 2, "'log_dir' and 'logger.directory'"),
        ("redaction:\n  logs_enabled: sometimes\n", "redaction.logs_enabled", 2, "true or false"),
    ],
)
def test_section_errors_name_the_key_and_line(
    tmp_path: Path, text: str, key: str, line: int, message: str
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(settings_file(tmp_path, text))
    assert (info.value.key, info.value.line) == (key, line) and message in info.value.message


def test_logs_enabled_that_differs_warns_once_what_is_done(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = settings_file(tmp_path, "redaction:\n  enabled: true\n  logs_enabled: false\n")
    with caplog.at_level(logging.WARNING, logger="nornflow.settings"):
        Settings.load(path)
        Settings.load(path)
    assert caplog.text.count("redaction.logs_enabled: false is not applied") == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nornflow.settings"):
        Settings.load(
            settings_file(tmp_path, "redaction: {enabled: false, logs_enabled: false}\n", "same.yaml")
        )
    assert caplog.text == ""  # the same choice: nothing to say


def test_secret_names_add_to_nornflows_rule() -> None:
    import uuid

    from nornflow.secrets import add_secret_names, is_secret_key, mask_data

    word = f"zq{uuid.uuid4().hex[:8]}"  # names are process-wide: one no other test adds
    name = f"{word}_pin"
    assert not is_secret_key(name)
    add_secret_names([name, "  "])
    checked = [name, f"Site-{word.upper()}.PIN", f"{name}ned", "password"]
    assert [is_secret_key(k) for k in checked] == [True, True, False, True]
    assert mask_data({"a": {f"my_{name}": "1234", "b": 1}}) == {"a": {f"my_{name}": "********", "b": 1}}


def test_cli_writes_the_run_log_masked_and_honours_mask_secrets(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nornflow.cli.app import app

    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory/hosts.yaml").write_text(
        "r1: {password: s3cr3t-pw, data: {zq_token_x: 9, only_r1: 1}}\nr2: {}\n"
    )
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows/w.yaml").write_text(
        "workflow:\n  tasks:\n    - name: echo\n      args: {msg: 'pw {{ host.password }}'}\n"
        "    - name: echo\n      args: {msg: '{{ host.only_r1 }}'}\n      if: \"host.name == 'r2'\"\n"
    )
    settings_file(
        tmp_path, "logger: {directory: logs, level: INFO}\nredaction: {sensitive_names: [zq_token_x]}\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["run", "w", "-C", str(tmp_path)])
    assert result.exit_code == 1
    [log_file] = (tmp_path / "logs").glob("w_*.log")
    text = log_file.read_text()
    assert "INFO nornflow.run: run w on 2 host(s)" in text
    assert "ERROR nornflow.run: task echo, host r2" in text and "only_r1" in text
    assert "exit code 1" in text and "s3cr3t-pw" not in text
    assert "s3cr3t-pw" not in result.output
    settings_file(tmp_path, "redaction: {enabled: false}\n")
    shown = runner.invoke(app, ["run", "w", "-C", str(tmp_path), "--json"])
    assert "secrets are not masked" in shown.stderr and "pw s3cr3t-pw" in shown.stdout
