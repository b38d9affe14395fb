"""Ctrl-C during a run, in a real process: scheduling stops, hosts in flight finish, the recap and the
``--json`` document show what was done (exit 130), and no host is left unaccounted for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nornflow.cli.project import create_project

N_HOSTS = 40
SLOW_TASK = """\
import time
from pathlib import Path

from nornir.core.task import Result, Task


def slow(task: Task) -> Result:
    time.sleep(0.2)
    Path("{markers}", task.host.name).touch()
    return Result(host=task.host, result=f"done {{task.host.name}}")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with 40 hosts and a task taking 0.2 s per host that leaves a marker file when done."""
    create_project(tmp_path)
    hosts = {f"h{i:02d}": {"data": {"i": i}} for i in range(N_HOSTS)}
    (tmp_path / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    markers = tmp_path / "markers"
    markers.mkdir()
    (tmp_path / "tasks" / "slow.py").write_text(SLOW_TASK.format(markers=markers))
    workflow = {
        "workflow": {
            "name": "slow",
            "tasks": [{"name": "slow", "set_to": "outcome"}, {"name": "echo", "args": {"msg": "after"}}],
        }
    }
    (tmp_path / "workflows" / "slow.yaml").write_text(yaml.safe_dump(workflow))
    return tmp_path


def start_run(project: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "nornflow", "run", "slow", "--project", str(project), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_first_results(project: Path, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not any((project / "markers").iterdir()):
        if proc.poll() is not None or time.monotonic() > deadline:
            _, err = proc.communicate()
            pytest.fail(f"the run never produced a result (rc={proc.returncode}):\n{err}")
        time.sleep(0.02)


def test_ctrl_c_stops_scheduling_lets_running_hosts_finish_and_writes_json(project: Path):
    proc = start_run(project, "--json", "--workers", "2")
    wait_for_first_results(project, proc)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop after Ctrl-C")

    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Traceback" not in out
    data = json.loads(out)
    assert data["interrupted"] is True and data["status"] == "interrupted" and data["exit_code"] == 130

    slow, after = data["tasks"]
    statuses = {h: r["status"] for h, r in slow["hosts"].items()}
    assert set(statuses) == {f"h{i:02d}" for i in range(N_HOSTS)}, "a host is missing from the result"
    done = sorted(h for h, s in statuses.items() if s == "ok")
    not_started = [h for h, s in statuses.items() if s == "not_run"]
    assert done and not_started and len(done) + len(not_started) == N_HOSTS, statuses
    # only the hosts that were running (at most one per worker) finished after the signal
    markers_at_end = {p.name for p in (project / "markers").iterdir()}
    assert set(done) == markers_at_end, "a host finished but its result was lost (or the reverse)"
    assert len(done) < N_HOSTS - 10, "scheduling did not stop"
    assert {slow["hosts"][h].get("skip_reason") for h in not_started} == {"run interrupted"}
    assert all(slow["hosts"][h]["result"] == f"done {h}" for h in done)
    # what finished is kept: its variables are in the JSON; the next task did not start
    assert data["variables"] == {h: {"outcome": f"done {h}"} for h in done}
    assert {r["skip_reason"] for r in after["hosts"].values()} == {"run interrupted"}

    # the console (stderr with --json) says so and still prints the partial recap
    assert "interrupted (SIGINT): no new host will start" in err
    assert "recap" in err and "INTERRUPTED 40 host(s)" in err
    # counted honestly: the hosts that finished the first task did not finish the workflow, the
    # others never started (not "40 ok")
    unfinished, not_run = len(done), N_HOSTS - len(done)
    assert f"{unfinished} ran (0 ok, 0 failed, {unfinished} unfinished), {not_run} not run" in err
    assert data["host_counts"] == {
        "total": N_HOSTS,
        "ran": unfinished,
        "ok": 0,
        "failed": 0,
        "unfinished": unfinished,
        "not_run": not_run,
    }
    assert slow["counts"]["not_run"] == not_run and slow["counts"]["ran"] == unfinished
    assert after["counts"]["not_run"] == N_HOSTS and after["counts"]["skipped"] == 0


def test_ctrl_c_without_json_prints_the_partial_recap(project: Path):
    proc = start_run(project, "--workers", "2")
    wait_for_first_results(project, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "interrupted (SIGINT): no new host will start" in out
    assert "run interrupted" in out and "recap" in out and "INTERRUPTED 40 host(s)" in out
    assert "done h00" in out  # a finished host's result is shown


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_the_run_as_ctrl_c_does(project: Path, sig: signal.Signals, code: int):
    """``kill`` or a closed terminal: scheduling stops, running hosts finish, the partial recap and the
    JSON of what finished are kept, and the exit code is 128 + the signal."""
    proc = start_run(project, "--json", "--workers", "2")
    wait_for_first_results(project, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in out + err
    data = json.loads(out)
    assert data["interrupted"] is True and data["signal"] == sig.name and data["exit_code"] == code
    assert data["incomplete"] is False
    statuses = {h: r["status"] for h, r in data["tasks"][0]["hosts"].items()}
    done = {h for h, s in statuses.items() if s == "ok"}
    assert done == {p.name for p in (project / "markers").iterdir()}, "a finished host was lost"
    assert len(done) < N_HOSTS - 10, "scheduling did not stop"
    assert f"interrupted ({sig.name}): no new host will start" in err and "recap" in err


def test_a_second_signal_aborts_and_still_writes_the_json_marked_incomplete(project: Path):
    proc = start_run(project, "--json", "--workers", "2")
    wait_for_first_results(project, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err and "aborted" in err
    data = json.loads(out)
    assert data["incomplete"] is True and data["interrupted"] is True
    statuses = {h: r["status"] for h, r in data["tasks"][0]["hosts"].items()}
    assert set(statuses) == {f"h{i:02d}" for i in range(N_HOSTS)}
    assert any(s == "ok" for s in statuses.values())
