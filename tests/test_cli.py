"""End-to-end through the CLI (typer's CliRunner) on projects made in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project

runner = CliRunner()


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def workflow(project: Path, name: str, body: str) -> Path:
    return write(project / "workflows" / f"{name}.yaml", body)


# -- the happy path ----------------------------------------------------------------------------------


def test_init_then_run_the_demo(project: Path):
    result = cli("run", "hello", cwd=project)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "workflow hello: 4 task(s) on 4 host(s)" in out
    assert "recap" in out and "OK 4 host(s): 4 ok, 0 failed" in out
    assert "core at ams: 6 config lines" in out
    config = (project / "output" / "r1.cfg").read_text()
    assert "hostname r1" in config and "ntp server 192.0.2.123" in config
    assert "banner motd ^Managed by nornflow (core, ams)^" in config
    # output: false hides the rendered config but keeps the status lines
    assert "interface Vlan10" not in out


def test_json_output_is_the_structured_result(project: Path):
    result = cli("run", "hello", "--json", cwd=project)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workflow"] == "hello" and data["status"] == "ok" and data["exit_code"] == 0
    assert [t["name"] for t in data["tasks"]] == ["describe_host", "build_config", "write_file", "echo"]
    r1 = data["tasks"][0]["hosts"]["r1"]
    assert r1["status"] == "ok" and r1["result"]["site"] == "ams"
    assert data["tasks"][2]["hosts"]["sw1"]["status"] == "changed"
    assert data["variables"]["fw1"]["facts"]["role"] == "firewall"
    assert data["tasks"][3]["counts"] == {
        "ok": 4,
        "changed": 0,
        "failed": 0,
        "skipped": 0,
        "ignored": 0,
        "not_run": 0,
        "ran": 4,
    }
    assert data["host_counts"] == {"total": 4, "ran": 4, "ok": 4, "failed": 0, "unfinished": 0, "not_run": 0}


def test_second_run_reports_no_change_and_dry_run_writes_nothing(project: Path):
    assert cli("run", "hello", cwd=project).exit_code == 0
    data = json.loads(cli("run", "hello", "--json", cwd=project).stdout)
    assert data["tasks"][2]["counts"]["changed"] == 0 and data["tasks"][2]["counts"]["ok"] == 4
    (project / "output" / "r1.cfg").write_text("old\n")
    data = json.loads(cli("run", "hello", "--json", "--dry-run", cwd=project).stdout)
    assert data["dry_run"] is True
    host = data["tasks"][2]["hosts"]["r1"]
    assert host["status"] == "changed" and "+hostname r1" in host["diff"]
    assert (project / "output" / "r1.cfg").read_text() == "old\n"


def test_validate_and_show(project: Path):
    result = cli("validate", "hello", cwd=project)
    assert result.exit_code == 0 and "valid" in result.output and "4 task(s)" in result.output
    tasks = cli("show", "tasks", cwd=project).output
    assert "describe_host" in tasks and "write_file" in tasks and "tasks/network.py" in tasks
    hooks = cli("show", "hooks", cwd=project).output
    for name in ("set_to", "output", "if", "when", "run_once", "retries", "loop", "timeout"):
        assert name in hooks
    assert "once per task" in hooks and "per host" in hooks
    flows = cli("show", "workflows", cwd=project).output
    assert "hello" in flows
    settings = cli("show", "settings", cwd=project).output
    assert "failure_strategy: skip-failed" in settings and "workers: 20" in settings


def test_version_is_fast_and_names_the_implementation():
    from nornflow._about import hotpath_label
    from nornflow._version import DISTRIBUTION

    out = subprocess.run([sys.executable, "-m", "nornflow", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith(f"{DISTRIBUTION} ") and f"hot path: {hotpath_label()};" in out.stdout
    assert cli("--version").output == out.stdout  # the fast path and typer's option print the same line


def test_run_a_single_task_with_vars(project: Path):
    result = cli("run", "echo", "--vars", "msg=hi", "--json", cwd=project)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # the task has no args: echo's default is an empty message
    assert data["tasks"][0]["name"] == "echo" and data["tasks"][0]["counts"]["ok"] == 4


def test_filters_vars_and_precedence(project: Path):
    write(project / "vars" / "defaults.yaml", "a: defaults\nb: defaults\nc: defaults\nd: defaults\n")
    workflow(
        project,
        "prec",
        """\
        workflow:
          name: prec
          vars: {b: workflow, c: workflow, d: workflow}
          tasks:
            - name: set
              args: {d: runtime}
            - name: echo
              args:
                msg: "{{ e }} {{ a }} {{ b }} {{ c }} {{ d }} {{ host.site }}"
        """,
    )
    env = {"NORNFLOW_VAR_e": "environment", "NORNFLOW_VAR_a": "environment"}
    result = cli("run", "prec", "--vars", "c=cli", "--filter", "groups=ams", "--json", cwd=project, env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["hosts"] == ["r1", "sw1"]
    assert data["tasks"][1]["hosts"]["r1"]["result"] == "environment defaults workflow cli runtime ams"


def test_failures_exit_1_and_are_shown_with_host_task_and_error(project: Path):
    write(
        project / "tasks" / "flaky.py",
        """\
        from nornir.core.task import Result, Task

        def flaky(task: Task) -> Result:
            if task.host.name == "r2":
                raise RuntimeError("device said no")
            return Result(host=task.host, result="fine")
        """,
    )
    workflow(
        project,
        "flaky",
        """\
        workflow:
          name: flaky
          tasks:
            - name: flaky
            - name: echo
              args: {msg: after}
        """,
    )
    result = cli("run", "flaky", cwd=project)
    assert result.exit_code == 1
    assert "r2" in result.output and "RuntimeError: device said no" in result.output
    assert "FAILED" in result.output
    data = json.loads(cli("run", "flaky", "--json", cwd=project).stdout)
    assert data["failed_hosts"] == ["r2"]
    assert data["tasks"][1]["hosts"]["r2"]["status"] == "skipped"
    assert data["tasks"][1]["hosts"]["r2"]["skip_reason"] == "failed in an earlier task"
    run_all = json.loads(cli("run", "flaky", "--json", "--failure-strategy", "run-all", cwd=project).stdout)
    assert run_all["tasks"][1]["hosts"]["r2"]["status"] == "ok"
    assert run_all["exit_code"] == 1


def test_fail_fast_stops_and_says_so(project: Path):
    hosts = project / "inventory" / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("    role: edge\n", "    role: edge\n    only_r2: here\n"))
    workflow(
        project,
        "ff",
        """\
        workflow:
          name: ff
          failure_strategy: fail-fast
          tasks:
            - name: echo
              args: {msg: "{{ host.only_r2 }}"}
            - name: echo
              args: {msg: never}
        """,
    )
    result = cli("run", "ff", "--workers", "1", "--vars", "x=1", cwd=project)
    assert result.exit_code == 1
    assert "fail-fast" in result.output
    # the three hosts never started: they are "not run", not "ok"
    assert "FAILED 4 host(s): 1 ran (0 ok, 1 failed), 3 not run" in result.output
    data = json.loads(cli("run", "ff", "--workers", "1", "--json", cwd=project).stdout)
    assert data["stopped"].startswith("fail-fast: host 'r1' failed task 'echo'")
    first = data["tasks"][0]["hosts"]
    assert first["r1"]["status"] == "failed"
    assert all(first[h]["status"] == "not_run" for h in ("r2", "sw1", "fw1"))
    assert all(h["status"] == "not_run" for h in data["tasks"][1]["hosts"].values())
    assert data["not_run_hosts"] == ["r2", "sw1", "fw1"]


def test_output_false_is_honoured(project: Path):
    workflow(
        project,
        "quiet",
        """\
        workflow:
          name: quiet
          tasks:
            - name: echo
              args: {msg: SECRET-PAYLOAD}
              output: false
            - name: echo
              args: {msg: VISIBLE-PAYLOAD}
        """,
    )
    result = cli("run", "quiet", cwd=project)
    assert result.exit_code == 0
    assert "SECRET-PAYLOAD" not in result.output and "VISIBLE-PAYLOAD" in result.output


# -- bad input: a clear error, a non-zero exit, nothing half-done -------------------------------------


def assert_user_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


def test_missing_project_and_settings(tmp_path: Path):
    assert_user_error(
        cli("run", "hello", "--project", str(tmp_path / "nope")), 3, "project directory not found"
    )
    assert_user_error(
        cli("run", "hello", "--settings", str(tmp_path / "x.yaml")), 3, "settings file not found"
    )


def test_invalid_settings(project: Path):
    (project / "nornflow.yaml").write_text("workers: many\n")
    assert_user_error(cli("run", "hello", cwd=project), 3, "nornflow.yaml", "workers")
    (project / "nornflow.yaml").write_text("wokers: 3\n")
    assert_user_error(cli("run", "hello", cwd=project), 3, "nornflow.yaml", "wokers", "unknown key")


def test_yaml_syntax_error_names_file_line_and_column(project: Path):
    workflow(project, "broken", "workflow:\n  name: broken\n  tasks: [\n")
    result = cli("run", "broken", cwd=project)
    assert_user_error(result, 3, "broken.yaml:")
    assert ":4:" in result.output or ":3:" in result.output


def test_unknown_task_unknown_key_and_bad_hook_value(project: Path):
    workflow(project, "a", "workflow:\n  name: a\n  tasks:\n    - name: no_such_task\n")
    assert_user_error(cli("run", "a", cwd=project), 3, "unknown task 'no_such_task'", "a.yaml")
    workflow(project, "b", "workflow:\n  name: b\n  tasks:\n    - name: echo\n      set_too: x\n")
    assert_user_error(cli("run", "b", cwd=project), 3, "b.yaml:5", "set_too", "Did you mean 'set_to'")
    workflow(project, "c", "workflow:\n  name: c\n  tasks:\n    - name: echo\n      output: loud\n")
    assert_user_error(cli("run", "c", cwd=project), 3, "task 'echo'", "hook 'output'", "true or false")
    assert_user_error(cli("validate", "c", cwd=project), 3, "hook 'output'")


def test_validation_happens_before_any_task_runs(project: Path):
    workflow(
        project,
        "late",
        """\
        workflow:
          name: late
          tasks:
            - name: write_file
              args: {filename: "marker-{{ host.name }}", content: x}
            - name: echo
              retries: {count: -1}
        """,
    )
    assert_user_error(cli("run", "late", cwd=project), 3, "hook 'retries'", "count")
    assert not list(project.glob("marker-*"))


def test_unknown_filter_and_undefined_variable(project: Path):
    assert_user_error(
        cli("run", "hello", "--filter", "colour=red", cwd=project), 2, "unknown filter 'colour'"
    )
    workflow(
        project,
        "undef",
        "workflow:\n  name: undef\n  tasks:\n    - name: echo\n      args: {msg: '{{ nope }}'}\n",
    )
    # found before the run, not on every host at run time
    result = cli("run", "undef", cwd=project)
    assert result.exit_code == 3
    assert "undef.yaml:4, task 'echo', key 'args.msg': undefined variable 'nope'" in result.output
    assert "Traceback" not in result.output


def test_task_module_that_fails_to_import(project: Path):
    write(project / "tasks" / "bad.py", "import definitely_not_installed_xyz\n")
    assert_user_error(cli("run", "hello", cwd=project), 3, "bad.py", "definitely_not_installed_xyz")


def test_inventory_file_missing(project: Path):
    (project / "inventory" / "hosts.yaml").unlink()
    assert_user_error(cli("run", "hello", cwd=project), 3, "hosts.yaml")


def test_bad_cli_usage_exits_2(project: Path):
    assert cli("run", cwd=project).exit_code == 2
    assert cli("run", "hello", "--failure-strategy", "sometimes", cwd=project).exit_code == 2
    assert_user_error(cli("run", "hello", "--vars", "novalue", cwd=project), 2, "key=value")


def test_debug_shows_a_traceback_without_locals(project: Path):
    write(
        project / "tasks" / "bad.py",
        """\
        def connect():
            password = "".join(["hun", "ter2"])  # the value only shows if locals are printed
            raise RuntimeError("boom " + str(len(password)))

        connect()
        """,
    )
    result = cli("run", "hello", "--debug", cwd=project)
    assert result.exit_code == 3
    assert "Traceback" in result.output and "boom 7" in result.output
    assert "hunter2" not in result.output


@pytest.mark.source_tree  # reads examples/demo
def test_bundled_demo_is_the_init_template():
    """examples/demo (README's first command) must stay identical to what `nornflow init` creates."""
    from nornflow.cli.project import TEMPLATE

    demo = Path(__file__).resolve().parent.parent / "examples" / "demo"
    for name, content in TEMPLATE.items():
        assert (demo / name).read_text() == content, name


def test_the_progress_bar_polls_the_running_task_instead_of_per_host_events(tmp_path: Path):
    """Large runs on a terminal show a bar whose count is read from the task's live result at each
    refresh: no reporter call per host (at 100,000 hosts those cost ~10% of the run)."""
    import io

    from rich.console import Console

    from nornflow.cli.console import PER_HOST_LINES_LIMIT, ConsoleReporter
    from nornflow.inventory import inventory_from_data
    from nornflow.run.api import NornFlow
    from nornflow.run.results import NOT_RUN, OK
    from nornflow.settings import Settings

    out = io.StringIO()
    reporter = ConsoleReporter(Console(file=out, force_terminal=True, color_system=None, width=100))
    seen: list[tuple[int, int]] = []
    task_running = reporter.task_running

    def spy(task, result):
        task_running(task, result)
        progress = reporter._progress
        assert progress is not None and progress.done is not None
        seen.append((progress.done(), result.pending()))
        result.codes[:3] = bytes([OK] * 3)  # three hosts finish: the next refresh shows 3
        renderables = list(progress.get_renderables())
        assert renderables and progress.tasks[0].completed == 3 == progress.done()
        result.codes[:3] = bytes([NOT_RUN] * 3)

    reporter.task_running = spy  # type: ignore[method-assign]
    count = PER_HOST_LINES_LIMIT + 50
    inventory = inventory_from_data({f"h{i:04d}": {} for i in range(count)})
    result = NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=4).run(
        {"workflow": {"name": "big", "tasks": [{"name": "echo", "args": {"msg": "x"}}]}}, reporter=reporter
    )
    assert result.exit_code == 0 and result.tasks[0].counts()["ok"] == count
    assert seen == [(0, count)] and reporter.per_host is False
    assert "1. echo" in out.getvalue() and f"{count} ok" in out.getvalue()
