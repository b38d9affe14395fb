"""No leaks: a long-lived process running the same workflow again and again does not grow.

The tracker, the hook instance cache, the variables and the results of finished runs must all be
released (the cache keeps one instance per distinct hook value, which does not change between runs).
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

from nornir.core.task import Result, Task

from nornflow import _hotpath
from nornflow.hooks.base import PostRunHook
from nornflow.hooks.registry import register_hook
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.workflow.catalog import TaskInfo

RUNS = 200
#: Growth allowed between run 20 and run 200: caches of the interpreter and libraries still warming up
#: (about 90 KiB, levelling off). Keeping the variables of every finished run adds ~3.6 MiB.
TOLERANCE = 256 * 1024


def flaky(task: Task, n: int = 0) -> Result:
    """Fails on every fifth host, with a traceback (frames hold references: cycles to collect)."""
    if task.host["i"] % 5 == 0:
        raise RuntimeError(f"device {task.host.name} said no ({n})")
    return Result(host=task.host, result={"facts": list(range(n))})


class OncePost(PostRunHook):
    """A once-per-task post-hook: its run goes through the tracker."""

    hook_name = "leak_once_post"
    run_once_per_task = True

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        vars_mgr.set_runtime_var(host, "first", result.result)


WORKFLOW = {
    "workflow": {
        "name": "leaks",
        "vars": {"n": 20},
        "tasks": [
            {"name": "flaky", "args": {"n": "{{ n }}"}, "set_to": "facts", "ignore_errors": True},
            {"name": "echo", "args": {"msg": "{{ host.name }} {{ facts }}"}, "output": False, "retries": 1},
            {"name": "echo", "args": {"msg": "once"}, "run_once": True, "leak_once_post": True},
            {"name": "echo", "loop": [1, 2, 3], "args": {"msg": "{{ item }}"}, "if": "host.i % 2 == 0"},
        ],
    }
}


def test_two_hundred_runs_do_not_grow_memory(impl, tmp_path: Path):
    register_hook(OncePost)
    inventory = inventory_from_data({f"h{i:02d}": {"data": {"i": i}} for i in range(20)})
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=4)
    nf.catalog.tasks["flaky"] = TaskInfo.of("flaky", flaky, "tests")

    def run_once() -> None:
        result = nf.run(WORKFLOW)
        assert result.exit_code == 0 and result.tasks[0].counts()["ignored"] == 4
        assert len(result.variables) == 20

    for _ in range(5):  # warm up lazy imports and caches
        run_once()
    gc.collect()
    cache_size = len(_hotpath.HOOK_CACHE)
    tracemalloc.start()
    try:
        for number in range(1, RUNS + 1):
            run_once()
            if number == 20:
                gc.collect()
                at_20 = tracemalloc.get_traced_memory()[0]
        gc.collect()
        at_200 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    growth = at_200 - at_20
    assert growth < TOLERANCE, f"memory grew by {growth / 1024:.0f} KiB over {RUNS - 20} runs"
    assert len(_hotpath.TRACKER) == 0, "the tracker still holds finished task runs"
    assert len(_hotpath.HOOK_CACHE) == cache_size, "the same workflow created new hook instances"


def test_no_per_host_task_or_result_object_outlives_its_host(impl, tmp_path: Path):
    """The engine records outcomes column-wise: the Nornir Task and Result of a host are garbage as soon
    as its step is over, not at the end of the task (at 100,000 hosts keeping them until then was half
    of the run's memory). Only what results need is kept: the payload."""
    import weakref

    alive: list[weakref.ref[Any]] = []
    still_alive: list[int] = []

    def traced(task: Task) -> Result:
        still_alive.append(sum(1 for ref in alive if ref() is not None))
        result = Result(host=task.host, result={"host": task.host.name})
        alive.extend((weakref.ref(task), weakref.ref(result)))
        return result

    inventory = inventory_from_data({f"h{i:02d}": {} for i in range(30)})
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=1)
    nf.catalog.tasks["traced"] = TaskInfo.of("traced", traced, "tests")
    result = nf.run({"workflow": {"name": "w", "tasks": [{"name": "traced", "set_to": "out"}] * 2}})
    assert len(still_alive) == 60 and set(still_alive) == {0}
    assert result.tasks[1]["h07"].result == {"host": "h07"} and result.variables["h07"]["out"] == {
        "host": "h07"
    }
