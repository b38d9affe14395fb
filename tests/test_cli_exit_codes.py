"""Every exit code README lists, each from the CLI: 0 ok, 1 some host failed, 2 usage error,
3 invalid workflow/settings/inventory, 4 internal error, 130 interrupted; and the hints of a typo
(did you mean) and of a command run outside any project (nornflow init)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nornflow.cli.project import create_project
from tests.cli_runner import cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    (tmp_path / "tasks" / "steps.py").write_text(
        textwrap.dedent(
            """\
            import os
            import signal

            from nornir.core.task import Result, Task


            def fails_on_r2(task: Task) -> Result:
                if task.host.name == "r2":
                    raise RuntimeError("device said no")
                return Result(host=task.host, result="fine")


            def ctrl_c(task: Task) -> Result:
                os.kill(os.getpid(), signal.SIGINT)
                return Result(host=task.host, result="interrupted while running")
            """
        )
    )
    return tmp_path


def _clean(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


def test_exit_0_when_every_host_is_ok(project: Path):
    _clean(cli(project, "run", "hello"), 0, "OK 4 host(s): 4 ok, 0 failed")


def test_exit_1_when_some_host_failed(project: Path):
    _clean(cli(project, "run", "fails_on_r2"), 1, "FAILED 4 host(s): 3 ok, 1 failed", "device said no")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--vars", "foo"], "--vars takes key=value, got 'foo'"),
        (["--filter", "site"], "--filter takes key=value"),
        (["--filter", "colour=red"], "unknown filter 'colour'"),
        (["--filter", "site=xyz"], "no host matches the filters"),
        (["--filter", "hosts=@missing.txt"], "missing.txt: --filter hosts=@missing.txt: file not found"),
        (["--limit", "@missing.txt"], "missing.txt: --limit @missing.txt: file not found"),
        (["--failed-hosts", "."], "--failed-hosts . is a directory"),
        (["--workers", "0"], "--workers"),
        (["--failure-strategy", "sometimes"], "--failure-strategy"),
        (["--json-file", "."], "--json-file . is a directory"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_exit_2_for_a_usage_error(project: Path, args: list[str], fragment: str):
    _clean(cli(project, "run", "hello", *args), 2, fragment)
    assert not (project / "output").exists(), "a usage error must stop the run before any task"


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("settings", "wokers"),
        ("workflow", "unknown task 'no_such_task'"),
        ("inventory", "hosts.yaml"),
        ("workflow filter", "unknown filter 'colour'"),
    ],
)
def test_exit_3_for_an_invalid_workflow_settings_or_inventory(project: Path, setup: str, fragment: str):
    target = "hello"
    if setup == "settings":
        (project / "nornflow.yaml").write_text("wokers: 3\n")
    elif setup == "workflow":
        (project / "workflows" / "bad.yaml").write_text("workflow:\n  name: bad\n  tasks: [no_such_task]\n")
        target = "bad"
    elif setup == "inventory":
        (project / "inventory" / "hosts.yaml").unlink()
    else:
        (project / "workflows" / "bad.yaml").write_text(
            "workflow:\n  name: bad\n  inventory_filters: {colour: red}\n  tasks: [echo]\n"
        )
        target = "bad"
    _clean(cli(project, "run", target), 3, fragment)


def test_exit_4_for_an_internal_error(project: Path, monkeypatch: pytest.MonkeyPatch):
    from nornflow.run.api import NornFlow

    def broken(self, *args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(NornFlow, "run", broken)
    _clean(cli(project, "run", "hello"), 4, "internal error: ZeroDivisionError: a bug", "--debug")


def test_exit_130_when_interrupted(project: Path):
    result = cli(project, "run", "ctrl_c", "--workers", "1")
    _clean(
        result,
        130,
        "interrupted (SIGINT): no new host will start",
        "INTERRUPTED 4 host(s): 1 ran",
        "3 not run",
    )


# -- hints -------------------------------------------------------------------------------------------


def test_a_workflow_name_typo_gets_a_did_you_mean(project: Path):
    _clean(
        cli(project, "run", "helo"), 3, "'helo' is neither a workflow", "did you mean the workflow 'hello'"
    )
    _clean(cli(project, "validate", "hello_"), 3, "did you mean the workflow 'hello'")
    _clean(cli(project, "run", "ecoh"), 3, "did you mean the task 'echo'")


def test_a_nested_workflow_is_suggested_by_its_path(project: Path):
    nested = project / "workflows" / "site_a"
    nested.mkdir()
    (nested / "backup.yaml").write_text("workflow:\n  name: backup\n  tasks: [echo]\n")
    _clean(cli(project, "run", "site_a/bakup"), 3, "did you mean the workflow 'site_a/backup'")
    assert cli(project, "run", "site_a/backup").exit_code == 0
    assert cli(project, "run", "backup").exit_code == 0  # a domain folder's workflow runs by its name too


def test_outside_a_project_the_error_suggests_nornflow_init(tmp_path: Path):
    result = cli(tmp_path, "run", "hello")
    _clean(result, 3, "not a nornflow project", "nornflow init")
    inside = tmp_path / "proj"
    create_project(inside)
    result = cli(inside, "run", "helo")
    assert result.exit_code == 3 and "nornflow init" not in result.output
