"""--check (alias of --dry-run) and --diff: diffs on the console and in --json, nothing written, tasks
that are not check-mode safe skipped unless ``check_mode: true``."""

from __future__ import annotations

from pathlib import Path

from nornflow.workflow.checks import check_mode_safe, declares_check_mode
from tests.change_control import make_project, run, statuses, workflow

TASKS = """\
from pathlib import Path

from nornir.core.task import Result, Task


def push(task: Task) -> Result:
    Path("pushed-" + task.host.name).write_text("x")
    return Result(host=task.host, result="pushed", changed=True)


def get_facts(task: Task) -> Result:
    return Result(host=task.host, result="facts")


get_facts.nornflow_check_mode = True
"""

FLOW = """\
workflow:
  name: change
  tasks:
    - {name: get_facts}
    - {name: push}
    - {name: push, description: forced, check_mode: true}
    - name: write_file
      args: {filename: "out/{{ host.name }}.cfg", content: "hostname {{ host.name }}\\nntp 10.0.0.1\\n"}
"""


def test_check_diff_prints_the_diff_and_writes_nothing(tmp_path: Path, impl):
    root = make_project(tmp_path, hosts=2, tasks=TASKS)
    (root / "out").mkdir()
    (root / "out" / "h00.cfg").write_text("hostname h00\nntp 10.9.9.9\n")
    workflow(root, "change", FLOW)
    res, data = run(root, "change", "--check", "--diff")
    assert res.exit_code == 0, res.output
    assert data["dry_run"] is True
    assert "DRY RUN" in res.output
    assert statuses(data, 0) == {"h00": "ok", "h01": "ok"}
    assert statuses(data, 1) == {"h00": "skipped", "h01": "skipped"}
    assert data["tasks"][1]["hosts"]["h00"]["skip_reason"] == "not check-mode safe"
    assert statuses(data, 2) == {"h00": "changed", "h01": "changed"}  # check_mode: true runs it
    h00 = data["tasks"][3]["hosts"]["h00"]
    assert h00["status"] == "changed"
    assert "-ntp 10.9.9.9" in h00["diff"] and "+ntp 10.0.0.1" in h00["diff"]
    assert "+hostname h01" in data["tasks"][3]["hosts"]["h01"]["diff"]
    assert "diff h00" in res.output and "-ntp 10.9.9.9" in res.output and "+ntp 10.0.0.1" in res.output
    assert "\x1b[" not in res.output  # not a terminal: plain text
    assert (root / "out" / "h00.cfg").read_text() == "hostname h00\nntp 10.9.9.9\n"
    assert not (root / "out" / "h01.cfg").exists()
    # the forced task ran (it is the user's word), the unsafe one did not: only the forced pushes exist
    assert sorted(p.name for p in root.glob("pushed-*")) == ["pushed-h00", "pushed-h01"]


def test_without_diff_no_diff_on_console_but_in_json(tmp_path: Path):
    root = make_project(tmp_path, hosts=1)
    workflow(
        root,
        "w",
        "workflow:\n  name: w\n  tasks:\n    - {name: write_file, args: {filename: f.txt, content: a}}\n",
    )
    res, data = run(root, "w", "--dry-run")
    assert res.exit_code == 0
    assert "+a" in data["tasks"][0]["hosts"]["h00"]["diff"]
    assert "diff h00" not in res.output
    assert not (root / "f.txt").exists()


def test_check_mode_false_skips_even_a_safe_task(tmp_path: Path):
    root = make_project(tmp_path, hosts=1)
    workflow(root, "w", "workflow:\n  name: w\n  tasks:\n    - {name: echo, check_mode: false}\n")
    _, data = run(root, "w", "--check")
    assert statuses(data, 0) == {"h00": "skipped"}
    _, data = run(root, "w")
    assert statuses(data, 0) == {"h00": "ok"}  # outside check mode it runs


def test_bad_check_mode_value_is_exit_3(tmp_path: Path):
    root = make_project(tmp_path, hosts=1)
    workflow(root, "w", "workflow:\n  name: w\n  tasks:\n    - {name: echo, check_mode: maybe}\n")
    res, _ = run(root, "w", "--check")
    assert res.exit_code == 3 and "check_mode" in res.output


def test_declaring_check_mode():
    def plain(task):
        return None

    def honours(task, dry_run=None):
        return None

    assert not declares_check_mode(plain)
    assert declares_check_mode(honours)
    assert declares_check_mode(check_mode_safe(plain))


def test_diff_is_coloured_on_a_terminal():
    import io

    from rich.console import Console

    from nornflow.cli.console import ConsoleReporter
    from nornflow.run.results import TaskResult

    tr = TaskResult("write_file", 0, ["r1"])
    tr.diffs[0] = "--- a\n+++ a\n@@ -1 +1 @@\n-old\n+new\n"
    out = io.StringIO()
    ConsoleReporter(Console(file=out, force_terminal=True, width=100), show_diff=True)._print_diffs(tr)
    text = out.getvalue()
    assert "\x1b[32m+new" in text and "\x1b[31m-old" in text
    plain = io.StringIO()
    ConsoleReporter(Console(file=plain, width=100), show_diff=True)._print_diffs(tr)
    assert "\x1b[" not in plain.getvalue() and "+new" in plain.getvalue()
