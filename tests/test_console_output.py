"""What the operator sees: live progress on a terminal (a pseudo-terminal here) and plain progress
lines on a pipe, failures grouped by message, ignored failures as such, task descriptions, multi-line
results as indented blocks, the per-host recap, and a notice while a large inventory loads."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.console import (
    FAILURE_GROUPS_SHOWN,
    PER_HOST_LINES_LIMIT,
    ConsoleReporter,
    LoadingNotice,
)
from nornflow.cli.project import create_project
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings

TASKS = """\
import time

from nornir.core.task import Result, Task


def slow(task: Task, seconds: float = 0.01) -> Result:
    \"\"\"Wait like a device, fail on every seventh host.\"\"\"
    time.sleep(seconds)
    if int(task.host.name[1:]) % 7 == 3:
        raise ConnectionError("Authentication failed")
    return Result(host=task.host, result="fine")


def grouped(task: Task, kinds: int = 1) -> Result:
    n = int(task.host.name[1:])
    if n % 10 < 4:
        raise ConnectionError("Authentication failed")
    if n % 10 == 4:
        raise TimeoutError(f"connection to {task.host.name} timed out")
    if n % 10 == 5 and kinds > 1:
        raise RuntimeError(f"error kind {n // 10 % kinds}")
    return Result(host=task.host, result="fine")


def lines(task: Task) -> Result:
    return Result(host=task.host, result="hostname " + task.host.name + "\\n!\\nend\\n")
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with 300 hosts: beyond the per-host line limit, so runs show progress."""
    root = tmp_path_factory.mktemp("big")
    create_project(root)
    hosts = {f"h{i:04d}": {} for i in range(300)}
    (root / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (root / "tasks" / "slow.py").write_text(TASKS)
    flow = {
        "workflow": {
            "name": "slow",
            "tasks": [
                {"name": "slow", "description": "Wait like a device", "args": {"seconds": 0.02}},
                {"name": "echo", "args": {"msg": "after"}},
            ],
        }
    }
    (root / "workflows" / "slow.yaml").write_text(yaml.safe_dump(flow))
    return root


def _command(project: Path) -> list[str]:
    return [sys.executable, "-m", "nornflow", "run", "slow", "--project", str(project), "--workers", "4"]


def test_progress_on_a_terminal_shows_task_hosts_rate_eta_and_failures(big: Path):
    """On a pseudo-terminal: a live bar with task i/N and its name, hosts done/total, hosts per
    second, ETA and the failed count, which rich redraws in place."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(_command(big), stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(leader)
    raw = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 1, raw
    screen = ANSI.sub("", raw)
    bars = re.findall(
        r"task 1/2 slow .*?(\d+)/300 hosts +(\d+|-) hosts/s +ETA +[-\d:]+ +(\d+) failed", screen
    )
    assert bars, screen[-3000:]
    assert any(int(done) < 300 for done, _, _ in bars), "the bar was never seen mid-task"
    assert any(rate != "-" and int(rate) > 0 for _, rate, _ in bars)
    assert max(int(failed) for _, _, failed in bars) > 0  # the failures counted live
    assert "\x1b[" in raw  # drawn as on a terminal (cursor moves, colours)
    # the bar is transient: the summary replaces it, with the description and the grouped failures
    assert "1. slow - Wait like a device: 257 ok, 43 failed" in screen
    assert "failed 43 hosts: ConnectionError: Authentication failed: h0003, h0010, h0017" in screen


def test_progress_on_a_pipe_is_plain_lines_every_few_seconds(big: Path):
    env = {**os.environ, "NORNFLOW_PROGRESS_INTERVAL": "0.3", "COLUMNS": "160"}
    proc = subprocess.run(_command(big), capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out  # no bar, no colours, no cursor movement in a log
    lines = re.findall(
        r"^progress: task 1/2 slow: (\d+)/300 hosts \((\d+)%\), (\d+) hosts/s, ETA (\S+), (\d+) failed$",
        out,
        re.MULTILINE,
    )
    assert lines, out
    done = [int(d) for d, *_ in lines]
    assert done == sorted(done) and done[0] < 300
    assert all(int(p) == 100 * int(d) // 300 for d, p, *_ in lines)
    assert "1. slow - Wait like a device: 257 ok, 43 failed" in out


def _reporter(**options) -> tuple[ConsoleReporter, io.StringIO]:
    out = io.StringIO()
    return ConsoleReporter(Console(file=out, width=200, color_system=None), **options), out


def _engine(tmp_path: Path, n_hosts: int) -> NornFlow:
    (tmp_path / "tasks").mkdir(exist_ok=True)
    (tmp_path / "tasks" / "steps.py").write_text(TASKS)
    inventory = inventory_from_data({f"r{i:04d}": {} for i in range(n_hosts)})
    return NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=1)


def test_large_run_failures_are_grouped_by_message(tmp_path: Path):
    reporter, out = _reporter()
    flow = {"workflow": {"name": "g", "tasks": [{"name": "grouped"}]}}
    result = _engine(tmp_path, 1030).run(flow, reporter=reporter)
    assert result.tasks[0].counts()["failed"] == 515
    text = out.getvalue()
    assert (
        "  failed 412 hosts: ConnectionError: Authentication failed: r0000, r0001, r0002, r0003, r0010 "
        "and 407 more"
    ) in text
    # messages naming their own host group too
    assert "  failed 103 hosts: TimeoutError: connection to <host> timed out: r0004, r0014," in text
    assert text.count("  failed ") == 2  # one line per group, not one per host


def test_many_kinds_of_failure_are_cut_and_counted(tmp_path: Path):
    reporter, out = _reporter()
    flow = {"workflow": {"name": "g", "tasks": [{"name": "grouped", "args": {"kinds": 30}}]}}
    _engine(tmp_path, 1000).run(flow, reporter=reporter)
    text = out.getvalue()
    groups = [line for line in text.splitlines() if line.startswith("  failed ")]
    assert len(groups) == FAILURE_GROUPS_SHOWN
    # 2 groups shown above the kinds, 8 kinds shown, 30 - 8 = 22 kinds left, 100 hosts over 30 kinds
    assert re.search(r"\.\.\. and 22 more kind\(s\) of failure on \d+ host\(s\) \(all in --json\)", text)


def test_ignored_failures_are_shown_as_failed_ignored(tmp_path: Path):
    reporter, out = _reporter()
    flow = {"workflow": {"name": "g", "tasks": [{"name": "grouped", "ignore_errors": True}]}}
    result = _engine(tmp_path, 300).run(flow, reporter=reporter)
    assert result.exit_code == 0
    text = out.getvalue()
    assert "1. grouped: 150 ok, 150 failed (ignored)" in text
    assert "  failed (ignored) 120 hosts: ConnectionError: Authentication failed: r0000" in text
    assert not [line for line in text.splitlines() if line.startswith("  failed 1")]
    recap = text.split("recap")[1]
    assert "ignored" in recap.splitlines()[1]


def test_ignored_failures_in_per_host_lines(tmp_path: Path):
    reporter, out = _reporter()
    flow = {"workflow": {"name": "g", "tasks": [{"name": "grouped", "ignore_errors": True}]}}
    _engine(tmp_path, 10).run(flow, reporter=reporter)
    assert "  failed (ignored) r0001: ConnectionError: Authentication failed" in out.getvalue()


def test_task_description_is_in_the_header_and_multi_line_results_are_blocks(tmp_path: Path):
    reporter, out = _reporter()
    flow = {
        "workflow": {
            "name": "d",
            "tasks": [{"name": "lines", "description": "Show the\n  configuration"}],
        }
    }
    _engine(tmp_path, 2).run(flow, reporter=reporter)
    text = out.getvalue()
    assert re.search(r"^1\. lines - Show the configuration ─", text, re.MULTILINE)
    assert "  ok       r0000: hostname r0000\n      !\n      end\n  ok       r0001: hostname r0001\n" in text


def test_multi_line_errors_are_blocks_too(tmp_path: Path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "prompt.py").write_text(
        "from nornir.core.task import Result, Task\n\n\n"
        "def prompt(task: Task) -> Result:\n"
        "    raise RuntimeError('unexpected prompt\\nrouter#\\n% Invalid input')\n"
    )
    reporter, out = _reporter()
    engine = NornFlow(Settings(base_dir=tmp_path), inventory=inventory_from_data({"r1": {}}))
    engine.run({"workflow": {"name": "p", "tasks": ["prompt"]}}, reporter=reporter)
    assert "  failed   r1: RuntimeError: unexpected prompt\n      router#\n      % Invalid input\n" in (
        out.getvalue()
    )


def test_recap_hosts_prints_a_row_per_host(tmp_path: Path):
    create_project(tmp_path)
    (tmp_path / "tasks" / "steps.py").write_text(TASKS)
    (tmp_path / "workflows" / "two.yaml").write_text(
        yaml.safe_dump(
            {"workflow": {"name": "two", "tasks": ["lines", {"name": "echo", "if": "host.name != 'r1'"}]}}
        )
    )
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        hosts = CliRunner().invoke(app, ["run", "two", "--recap", "hosts"], catch_exceptions=False)
        both = CliRunner().invoke(app, ["run", "two", "--recap", "both"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert hosts.exit_code == 0, hosts.output
    rows = hosts.output.split("host recap\n", 1)[1].splitlines()
    assert rows[0].split() == ["host", "ok", "changed", "failed", "skipped"]
    assert rows[1].split() == ["r1", "1", "0", "0", "1"]
    assert rows[2].split() == ["r2", "2", "0", "0", "0"]
    assert [r.split()[0] for r in rows[1:5]] == ["r1", "r2", "sw1", "fw1"]
    assert "recap\n task" not in hosts.output  # the task table is not there
    assert "host recap" in both.output and "1. lines" in both.output.split("host recap")[1]


def test_the_per_host_recap_counts_ignored_and_not_run(tmp_path: Path):
    reporter, out = _reporter(recap="hosts")
    flow = {"workflow": {"name": "g", "tasks": [{"name": "grouped", "ignore_errors": True}, "echo"]}}
    _engine(tmp_path, 12).run(flow, reporter=reporter)
    rows = out.getvalue().split("host recap\n", 1)[1].splitlines()
    assert rows[0].split() == ["host", "ok", "changed", "failed", "ignored", "skipped"]
    assert rows[1].split() == ["r0000", "1", "0", "0", "1", "0"]
    assert rows[7].split() == ["r0006", "2", "0", "0", "0", "0"]


def test_loading_notice_on_a_pipe_and_on_a_terminal():
    plain = io.StringIO()
    with LoadingNotice(Console(file=plain, width=100), delay=0) as notice:
        notice.hosts = 100000
    assert plain.getvalue().splitlines()[0] == "loading the inventory ..."
    assert re.fullmatch(r"inventory: 100000 host\(s\) loaded in \d+\.\ds", plain.getvalue().splitlines()[1])

    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, color_system="standard", width=100)
    with LoadingNotice(console, delay=0) as notice:
        time.sleep(0.3)  # the spinner draws
        notice.hosts = 5
    shown = ANSI.sub("", terminal.getvalue())
    assert "loading the inventory ..." in shown and "inventory: 5 host(s) loaded in" in shown

    quick = io.StringIO()
    with LoadingNotice(Console(file=quick), delay=30) as notice:
        notice.hosts = 4
    assert quick.getvalue() == ""  # a fast load says nothing


def test_run_and_validate_say_when_the_inventory_loads_slowly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from nornflow.cli import console

    create_project(tmp_path)
    monkeypatch.setattr(console, "LOADING_NOTICE_AFTER", 0)  # as if the inventory took long to load
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        ran = CliRunner().invoke(app, ["run", "hello"], catch_exceptions=False)
        validated = CliRunner().invoke(app, ["validate", "hello"], catch_exceptions=False)
    finally:
        os.chdir(old)
    for result in (ran, validated):
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "loading the inventory ..."
        assert re.fullmatch(r"inventory: 4 host\(s\) loaded in \d+\.\ds", lines[1])


def test_small_runs_keep_per_host_lines(tmp_path: Path):
    reporter, out = _reporter()
    flow = {"workflow": {"name": "s", "tasks": ["lines"]}}
    _engine(tmp_path, PER_HOST_LINES_LIMIT).run(flow, reporter=reporter)
    assert out.getvalue().count("  ok       r") == PER_HOST_LINES_LIMIT
