"""The recap and ``--json`` count hosts honestly: a host that never started is "not run", never "ok".

After Ctrl-C (958 of 5,000 hosts ran) and after fail-fast (3 hosts never started), the per-task
counts, the per-host statuses, the run's host totals and the console's last line say what happened.
"""

from __future__ import annotations

import io
import signal
from pathlib import Path

from rich.console import Console

from nornflow.cli.console import ConsoleReporter
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings

TASKS = """\
import os
import signal

from nornir.core.task import Result, Task


def interrupt_at(task: Task, host: str) -> Result:
    if task.host.name == host:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while this host runs: it finishes, no other starts
    return Result(host=task.host, result="done")


def fail_on(task: Task, host: str) -> Result:
    if task.host.name == host:
        raise RuntimeError("device said no")
    return Result(host=task.host, result="fine")
"""


def _engine(tmp_path: Path, n_hosts: int) -> NornFlow:
    (tmp_path / "tasks").mkdir(exist_ok=True)
    (tmp_path / "tasks" / "steps.py").write_text(TASKS)
    inventory = inventory_from_data({f"r{i:04d}": {} for i in range(n_hosts)})
    return NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=1)


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None), out


def test_after_ctrl_c_the_hosts_that_never_ran_are_not_run(tmp_path: Path):
    engine = _engine(tmp_path, 5000)
    console, out = _console()
    flow = {"workflow": {"name": "big", "tasks": [{"name": "interrupt_at", "args": {"host": "r0957"}}]}}
    previous = signal.getsignal(signal.SIGINT)
    result = engine.run(flow, reporter=ConsoleReporter(console))
    assert signal.getsignal(signal.SIGINT) is previous
    assert result.interrupted and result.exit_code == 130

    counts = result.tasks[0].counts()
    assert counts["ran"] == counts["ok"] == 958
    assert counts["not_run"] == 4042 and counts["skipped"] == 0
    assert result.host_counts() == {
        "total": 5000,
        "ran": 958,
        "ok": 958,
        "failed": 0,
        "unfinished": 0,
        "not_run": 4042,
    }
    data = result.to_dict()
    assert data["host_counts"]["not_run"] == 4042 and len(data["not_run_hosts"]) == 4042
    hosts = data["tasks"][0]["hosts"]
    assert hosts["r0957"]["status"] == "ok"
    assert hosts["r0958"]["status"] == "not_run" and hosts["r0958"]["skip_reason"] == "run interrupted"
    text = out.getvalue()
    assert "INTERRUPTED 5000 host(s): 958 ran (958 ok, 0 failed), 4042 not run" in text
    assert "5000 ok" not in text


def test_an_interrupt_between_tasks_leaves_hosts_unfinished(tmp_path: Path):
    engine = _engine(tmp_path, 10)
    console, out = _console()
    tasks = [{"name": "interrupt_at", "args": {"host": "r0003"}}, {"name": "echo", "args": {"msg": "x"}}]
    result = engine.run({"workflow": {"name": "two", "tasks": tasks}}, reporter=ConsoleReporter(console))
    assert result.host_counts() == {
        "total": 10,
        "ran": 4,
        "ok": 0,
        "failed": 0,
        "unfinished": 4,
        "not_run": 6,
    }
    assert result.tasks[1].counts()["not_run"] == 10
    text = out.getvalue()
    assert "INTERRUPTED 10 host(s): 4 ran (0 ok, 0 failed, 4 unfinished), 6 not run" in text
    assert "not run" in text.split("recap")[1].splitlines()[1]  # the recap has a "not run" column


def test_after_fail_fast_the_hosts_never_started_are_not_counted_ok(tmp_path: Path):
    engine = _engine(tmp_path, 4)
    console, out = _console()
    flow = {
        "workflow": {
            "name": "ff",
            "failure_strategy": "fail-fast",
            "tasks": [{"name": "fail_on", "args": {"host": "r0000"}}, {"name": "echo"}],
        }
    }
    result = engine.run(flow, reporter=ConsoleReporter(console))
    assert result.exit_code == 1
    first, second = (t.counts() for t in result.tasks)
    assert (first["ran"], first["failed"], first["not_run"], first["ok"]) == (1, 1, 3, 0)
    assert second["not_run"] == 4 and second["ran"] == 0
    assert result.host_counts()["not_run"] == 3 and result.host_counts()["ok"] == 0
    text = out.getvalue()
    assert "FAILED 4 host(s): 1 ran (0 ok, 1 failed), 3 not run" in text
    assert "3 ok" not in text


def test_a_complete_run_keeps_the_short_line(tmp_path: Path):
    engine = _engine(tmp_path, 4)
    console, out = _console()
    flow = {"workflow": {"name": "f", "tasks": [{"name": "fail_on", "args": {"host": "r0001"}}]}}
    result = engine.run(flow, reporter=ConsoleReporter(console))
    assert result.host_counts() == {"total": 4, "ran": 4, "ok": 3, "failed": 1, "unfinished": 0, "not_run": 0}
    assert "FAILED 4 host(s): 3 ok, 1 failed in " in out.getvalue()
    assert "not run" not in out.getvalue()
