"""Reliability under concurrency: 20,000 hosts, 64 worker threads, on both hot-path twins.

What other tools get wrong and these tests catch: per-host state shared between worker threads (a
host ends up with another host's value, or none), run-once steps that run on whichever thread wins
the race, and hook instances duplicated (or mixed up) by racing constructors.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nornir.core.inventory import Inventory
from nornir.core.task import Result, Task

from nornflow import _hotpath
from nornflow.hooks.base import PostRunHook, PreRunHook
from nornflow.hooks.builtins.output import OutputHook
from nornflow.hooks.registry import register_hook
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.workflow.catalog import TaskInfo

N_HOSTS = 20_000
WORKERS = 64


def _name(position: int) -> str:
    """Host names whose alphabetical order is not the inventory order (7919 is prime)."""
    return f"dev{(position * 7919) % N_HOSTS:05d}"


NAMES = [_name(i) for i in range(N_HOSTS)]


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    """20,000 in-memory hosts; ``idx`` is the host's position in inventory order."""
    return inventory_from_data({name: {"data": {"idx": i}} for i, name in enumerate(NAMES)})


@pytest.fixture(autouse=True)
def _frequent_thread_switches() -> Iterator[None]:
    """Switch threads every 1 ms instead of 5 ms, so races show up in a short test."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-3)
    yield
    sys.setswitchinterval(old)


def _engine(tmp_path: Path, inventory: Inventory) -> NornFlow:
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=WORKERS)
    nf.catalog.tasks["yielding_echo"] = TaskInfo.of("yielding_echo", yielding_echo, "tests")
    return nf


def yielding_echo(task: Task, msg: Any = "") -> Result:
    """``echo`` that gives up the GIL between rendering and returning, inviting another thread in."""
    time.sleep(0)
    return Result(host=task.host, result=msg)


# -- per-host variables --------------------------------------------------------------------------------


def test_set_to_keeps_every_host_value_with_its_host_across_runs(impl, tmp_path: Path, inventory: Inventory):
    nf = _engine(tmp_path, inventory)
    for run_id in range(2):
        workflow = {
            "workflow": {
                "name": f"isolation-{run_id}",
                "tasks": [
                    {
                        "name": "yielding_echo",
                        "args": {"msg": "{{ host.name }}-{{ run_id }}"},
                        "set_to": "mine",
                    },
                    {
                        "name": "echo",
                        "args": {"msg": "{{ mine }}|{{ host.idx }}"},
                        "set_to": {"again": "result", "flag": "failed"},
                    },
                ],
            }
        }
        prepared = nf.load_workflow(workflow)
        result = nf.run(prepared, vars={"run_id": run_id})
        _check_cache(prepared, expected_size=2)

        assert result.exit_code == 0
        assert result.tasks[0].counts()["ok"] == N_HOSTS and result.tasks[1].counts()["ok"] == N_HOSTS
        variables = result.variables
        assert len(variables) == N_HOSTS, "a host lost its variables"
        wrong = [
            host
            for i, host in enumerate(NAMES)
            if variables[host] != {"mine": f"{host}-{run_id}", "again": f"{host}-{run_id}|{i}", "flag": False}
        ]
        assert not wrong, f"{len(wrong)} host(s) hold another host's (or run's) value, e.g. {wrong[:3]}"
        # the later task rendered the variable of its own host, from this run
        rendered = result.tasks[1]
        bad = [h for i, h in enumerate(NAMES) if rendered[h].result != f"{h}-{run_id}|{i}"]
        assert not bad, f"later task saw a foreign value on {len(bad)} host(s), e.g. {bad[:3]}"
    assert len(_hotpath.TRACKER) == 0


# -- run-once hooks ------------------------------------------------------------------------------------

CALLS: dict[str, list[tuple[str, str]]] = {}
_CALLS_LOCK = threading.Lock()


def _record(kind: str, task_model: Any, host: Any) -> None:
    with _CALLS_LOCK:
        CALLS.setdefault(kind, []).append((task_model.name, host.name))


class OncePre(PreRunHook):
    """A once-per-task pre-hook that records where it ran."""

    hook_name = "rel_once_pre"
    run_once_per_task = True

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        _record("once_pre", task_model, host)
        return True


class OncePost(PostRunHook):
    """A once-per-task post-hook that records where it ran."""

    hook_name = "rel_once_post"
    run_once_per_task = True

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        _record("once_post", task_model, host)


class Straggle(PreRunHook):
    """Slows down the pre-hooks of the host named by its value: a thread that would race ahead wins
    against it unless the engine decides run-once hosts in inventory order."""

    hook_name = "rel_straggle"
    order = 5

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        if host.name == self.value:
            time.sleep(0.05)
        return True


@pytest.fixture
def once_hooks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[str, str]]]:
    """Register the recording hooks, and record the built-in ``output`` hook's executions too."""
    for cls in (OncePre, OncePost, Straggle):
        register_hook(cls)
    original = OutputHook._run_hook

    def recording_output(self: OutputHook, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        _record("output", task_model, host)
        return original(self, task_model, host, vars_mgr)

    monkeypatch.setattr(OutputHook, "_run_hook", recording_output)
    CALLS.clear()
    return CALLS


def _first(predicate: Any) -> str:
    return next(name for i, name in enumerate(NAMES) if predicate(i))


def test_run_once_hooks_run_exactly_once_per_task_run_on_the_first_eligible_host(
    impl, tmp_path: Path, inventory: Inventory, once_hooks: dict[str, list[tuple[str, str]]]
):
    nf = _engine(tmp_path, inventory)
    for run in range(2):
        start = 17 + 1000 * run

        def eligible(i: int, start: int = start) -> bool:
            return i >= start and i % 5 != 0

        first = _first(eligible)
        condition = "host.idx >= start and host.idx % 5 != 0"
        workflow = {
            "workflow": {
                "name": "once",
                "tasks": [
                    {  # run_once: the task itself runs on the first eligible host only
                        "name": "once_task",
                        "hooks": {"rel_straggle": first},
                        "if": condition,
                        "run_once": True,
                        "output": False,
                        "rel_once_pre": True,
                        "rel_once_post": True,
                    },
                    {  # every eligible host runs it; the once-per-task hooks still run once
                        "name": "all_task",
                        "if": condition,
                        "rel_straggle": first,
                        "output": True,
                        "rel_once_pre": True,
                        "rel_once_post": True,
                    },
                ],
            }
        }
        nf.catalog.tasks["once_task"] = nf.catalog.tasks["all_task"] = nf.catalog.get("echo")
        CALLS.clear()
        prepared = nf.load_workflow(workflow)
        result = nf.run(prepared, vars={"start": start})
        # if, run_once, output false/true, the two recorders, and this run's rel_straggle: the cache
        # holds instances weakly, so the previous run's workflow (dropped) left nothing behind
        gc.collect()
        _check_cache(prepared, expected_size=6 + 1)

        assert result.exit_code == 0
        once, every = result.tasks
        ran = [h for h in NAMES if once[h].status == "ok"]
        assert ran == [first], f"run {run}: run_once ran on {ran[:5]}, expected {first}"
        assert once.counts() == {
            "ok": 1,
            "changed": 0,
            "failed": 0,
            "skipped": N_HOSTS - 1,
            "ignored": 0,
            "not_run": 0,
            "ran": 1,
        }
        reasons = {once[h].skip_reason for h in NAMES if h != first}
        assert reasons == {"run_once: ran on another host", "if condition is false"}
        expected_every = sum(1 for i in range(N_HOSTS) if eligible(i))
        assert every.counts()["ok"] == expected_every
        for kind in ("once_pre", "once_post"):
            assert sorted(once_hooks.get(kind, [])) == [("all_task", first), ("once_task", first)], (
                f"run {run}: {kind} ran {once_hooks.get(kind)}"
            )
        # ``output`` is a task option read when the task is prepared: never called per host
        assert "output" not in once_hooks
        assert once.print_output is False and every.print_output is True
    assert len(_hotpath.TRACKER) == 0


# -- the instance cache --------------------------------------------------------------------------------


def _check_cache(prepared: Any, expected_size: int) -> None:
    """Every hook of ``prepared`` is the one cached instance for its (class, value) key, and the cache
    holds nothing else: ``expected_size`` distinct keys so far in this test."""
    cache = _hotpath.HOOK_CACHE
    for task in prepared.tasks:
        for hook in (*task.model.get_pre_hooks(), *task.model.get_post_hooks()):
            value = task.model.hooks[hook.hook_name]
            assert cache.get(type(hook), value) is hook, f"{hook!r} is not the cached instance"
            assert (type(hook), type(value), value) in cache
    assert len(cache) == expected_size, sorted(map(repr, cache.instances()))


class SlowInit(PreRunHook):
    """A hook whose constructor is slow, so racing threads all miss the cache together."""

    hook_name = "rel_slow_init"
    built: list[Any] = []

    def __init__(self, value: Any = None) -> None:
        time.sleep(0.001)
        super().__init__(value)
        SlowInit.built.append(value)

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        return True


def test_racing_threads_get_one_instance_per_key(impl):
    SlowInit.built = []
    cache = _hotpath.HOOK_CACHE
    keys = [f"value-{k}" for k in range(50)]
    seen: list[dict[str, Any]] = [{} for _ in range(WORKERS)]
    barrier = threading.Barrier(WORKERS)

    def worker(n: int) -> None:
        barrier.wait()
        for key in keys if n % 2 else reversed(keys):
            seen[n][key] = cache.get_or_create(SlowInit, key)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(SlowInit.built) == sorted(keys), "an instance was constructed more than once"
    for key in keys:
        assert len({id(s[key]) for s in seen}) == 1
    assert len(cache) == len(keys)
