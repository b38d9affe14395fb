"""throttle: at most N hosts in a task at once, whatever the worker count."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.change_control import make_project, run, workflow

#: The task records how many hosts are inside it at once, and meets ``PARTIES`` hosts at a barrier:
#: with throttle 2 and a barrier of 2 every pair of hosts meets (the maximum is reached, not only
#: bounded); without throttle a barrier of 3 shows that the run does put more hosts in at once.
TASKS = """\
import json
import os
import threading

from nornir.core.task import Result, Task

_lock = threading.Lock()
_inside = [0, 0]
_barrier = threading.Barrier(int(os.environ.get("PARTIES", "2")), timeout=20)


def crowded(task: Task) -> Result:
    with _lock:
        _inside[0] += 1
        _inside[1] = max(_inside[1], _inside[0])
    try:
        _barrier.wait()
    finally:
        with _lock:
            _inside[0] -= 1
    return Result(host=task.host, result=_inside[1])
"""


def _max_inside(data: dict) -> int:
    return max(r["result"] for r in data["tasks"][0]["hosts"].values())


@pytest.mark.parametrize("where", ["task", "block"])
def test_throttle_2_never_exceeds_2_under_20_workers(tmp_path: Path, monkeypatch, impl, where: str):
    import sys

    for name in [m for m in sys.modules if m.startswith("nornflow_project_tasks")]:
        del sys.modules[name]  # a fresh barrier and counter per test
    root = make_project(tmp_path, hosts=40, tasks=TASKS)
    if where == "task":
        workflow(root, "t", "workflow:\n  name: t\n  tasks:\n    - {name: crowded, throttle: 2}\n")
    else:
        workflow(
            root, "t", "workflow:\n  name: t\n  tasks:\n    - block: [{name: crowded}]\n      throttle: 2\n"
        )
    monkeypatch.setenv("PARTIES", "2")
    res, data = run(root, "t", "--workers", "20")
    assert res.exit_code == 0, res.output
    assert _max_inside(data) == 2
    assert data["tasks"][0]["counts"]["ok"] == 40
    assert data["tasks"][0]["controls"] == {"throttle": 2}
    assert "(throttle 2)" in res.output  # the recap row


def test_without_throttle_more_hosts_run_at_once(tmp_path: Path, monkeypatch):
    import sys

    for name in [m for m in sys.modules if m.startswith("nornflow_project_tasks")]:
        del sys.modules[name]
    root = make_project(tmp_path, hosts=3, tasks=TASKS)
    workflow(root, "t", "workflow:\n  name: t\n  tasks:\n    - {name: crowded}\n")
    monkeypatch.setenv("PARTIES", "3")
    res, data = run(root, "t", "--workers", "20")
    assert res.exit_code == 0, res.output
    assert _max_inside(data) == 3


@pytest.mark.parametrize("value", [0, -1, "two", True])
def test_bad_throttle_is_exit_3(tmp_path: Path, value):
    root = make_project(tmp_path, hosts=1)
    workflow(root, "t", f"workflow:\n  name: t\n  tasks:\n    - {{name: echo, throttle: {value!r}}}\n")
    res, _ = run(root, "t")
    assert res.exit_code == 3 and "throttle" in res.output and "t.yaml" in res.output


def test_throttle_gate_is_per_task(impl):
    from nornflow.hooks.base import TaskSetup
    from nornflow.hooks.builtins.control import ThrottleHook

    hook = ThrottleHook(2)
    a, b = TaskSetup(object()), TaskSetup(object())  # type: ignore[arg-type]
    hook.configure(a)
    hook.configure(b)
    assert a.wrappers[0].places is not b.wrappers[0].places
    assert isinstance(a.wrappers[0].places, type(threading.BoundedSemaphore(1)))
