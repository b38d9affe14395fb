"""The flyweight cache frees what no live task uses (issue 13, item 16), on both twins: a long-lived
process loading thousands of distinct workflows keeps only the instances of the task models still
alive, while every live model still shares one instance per (hook class, value), also under threads
creating and dropping models concurrently. The documented names keep working."""

from __future__ import annotations

import gc
import random
import threading
from typing import Any

from nornflow.hooks.base import PreRunHook
from nornflow.hooks.registry import HOOK_REGISTRY, register_hook
from nornflow.models import TaskModel, runnable


class Counted(PreRunHook):
    """Counts its constructions, to see that live models share one instance."""

    hook_name = "rel_counted"
    built = 0
    lock = threading.Lock()

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        with Counted.lock:
            Counted.built += 1

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        return True


def hooks_of(model: TaskModel) -> list[Any]:
    return [*model.get_pre_hooks(), *model.get_post_hooks()]


def test_instances_no_live_model_uses_are_freed(impl):
    from nornflow import _hotpath

    cache = _hotpath.HOOK_CACHE
    register_hook(Counted)
    keep = TaskModel.create({"name": "keep", "set_to": "kept", "rel_counted": "shared"})
    kept = hooks_of(keep)
    baseline = len(cache)
    for i in range(5000):  # 5,000 distinct workflows' tasks, each dropped after use
        model = TaskModel.create(
            {"name": f"t{i}", "set_to": f"v{i}", "rel_counted": "shared", "output": False}
        )
        model.dispatcher  # noqa: B018  (prepared as a run prepares it)
        assert hooks_of(model)[0] is kept[0]  # the live one is shared, not rebuilt
    del model
    gc.collect()
    assert len(cache) == baseline  # only what `keep` uses (set_to kept, rel_counted shared)
    assert sorted(repr(h) for h in cache.instances()) == sorted(repr(h) for h in kept)
    del keep, kept
    gc.collect()
    assert len(cache) == 0
    # the public names of the hooks guide keep working: membership, lookup, assignment
    model = TaskModel.create({"name": "again", "set_to": "kept"})
    hook = model.get_post_hooks()[0]
    key = (type(hook), str, "kept")
    assert key in runnable._HOOK_INSTANCE_CACHE and runnable._HOOK_INSTANCE_CACHE[key] is hook
    with runnable._HOOK_CACHE_LOCK:
        runnable._HOOK_INSTANCE_CACHE[key] = hook
    assert cache.get_or_create(type(hook), "kept") is hook


def test_one_instance_per_key_among_live_models_under_concurrent_create_and_drop(impl):
    """32 threads create models from a small set of values and drop most of them at random: every
    live model of a key holds the same instance, and once all are dropped nothing is left."""
    from nornflow import _hotpath

    cache = _hotpath.HOOK_CACHE
    register_hook(Counted)
    values = [f"v{k}" for k in range(6)]
    live: list[TaskModel] = []
    live_lock = threading.Lock()
    problems: list[str] = []
    barrier = threading.Barrier(32)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[TaskModel] = []
        barrier.wait()
        for _ in range(300):
            value = rng.choice(values)
            model = TaskModel.create({"name": "t", "rel_counted": value, "set_to": value})
            if rng.random() < 0.2:
                mine.append(model)
            if mine and rng.random() < 0.3:
                mine.pop(rng.randrange(len(mine)))  # drop one, letting its instances go
            for other in mine:  # the instance a live model holds is the cached one
                for hook in hooks_of(other):
                    if cache.get(type(hook), hook.value) is not hook:
                        problems.append(f"{hook!r} is not the cached instance")
        with live_lock:
            live.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems, problems[:5]
    for value in values:
        holders = [m for m in live if m.hooks["rel_counted"] == value]
        assert len({id(hooks_of(m)[0]) for m in holders}) <= 1, value
        assert len({id(h) for m in holders for h in hooks_of(m) if h.hook_name == "set_to"}) <= 1
    gc.collect()
    live_keys = {(type(h), h.value) for m in live for h in hooks_of(m)}
    assert len(cache) == len(live_keys)
    live.clear()
    del holders
    gc.collect()
    assert len(cache) == 0
    assert HOOK_REGISTRY["rel_counted"] is Counted


def test_the_guide_names_are_the_process_cache_in_both_modules():
    import nornflow.hooks
    from nornflow import _hotpath

    assert nornflow.hooks._HOOK_INSTANCE_CACHE is runnable._HOOK_INSTANCE_CACHE is _hotpath.HOOK_CACHE.data
    assert nornflow.hooks._HOOK_CACHE_LOCK is runnable._HOOK_CACHE_LOCK is _hotpath.HOOK_CACHE.lock
    model = TaskModel.create({"name": "guide", "set_to": "guide_var"})
    hook = model.get_post_hooks()[0]
    key = (type(hook), str, "guide_var")
    cache = nornflow.hooks._HOOK_INSTANCE_CACHE
    assert key in cache and cache[key] is hook  # the guide's fast path
    with nornflow.hooks._HOOK_CACHE_LOCK:  # and its slow path
        cache[key] = hook
    assert _hotpath.HOOK_CACHE.get(type(hook), "guide_var") is hook
