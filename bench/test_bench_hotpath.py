"""pytest-benchmark micro benchmarks of the hot path, compiled and pure side by side.

Run: ``python -m pytest bench/ --benchmark-group-by=param:op`` (each round covers 1,000 host calls;
divide the mean by 1,000 for the per-host figure). ``python bench/hotpath_compare.py`` prints the
per-call numbers and the compiled/pure ratios directly.
"""

from __future__ import annotations

import pytest

from bench._hooks import HOSTS, IMPLS, Vars, make_dispatcher, outcome
from nornflow.hooks.builtins.set_to import SetToHook

IMPL_NAMES = sorted(IMPLS)


class Model:
    name = "bench"


@pytest.mark.parametrize("impl_name", IMPL_NAMES)
def test_cache_hit(benchmark, impl_name):
    cache = IMPLS[impl_name].HookInstanceCache()
    cache.get_or_create(SetToHook, "facts")
    get = cache.get_or_create

    def hits():
        for _ in range(1000):
            get(SetToHook, "facts")

    benchmark(hits)


@pytest.mark.parametrize("hooks", [0, 1, 3])
@pytest.mark.parametrize("impl_name", IMPL_NAMES)
def test_dispatch(benchmark, impl_name, hooks):
    dispatcher = make_dispatcher(IMPLS[impl_name], hooks)
    model, vm = Model(), Vars()
    run = dispatcher.tracker.begin_run(model)
    run_pre, run_post = dispatcher.run_pre, dispatcher.run_post
    result = outcome(IMPLS[impl_name])

    def per_host():
        for host in HOSTS:
            if run_pre(model, host, vm, run):
                run_post(model, host, result, vm)

    benchmark(per_host)
    dispatcher.tracker.end_run(run)


@pytest.mark.parametrize("impl_name", IMPL_NAMES)
def test_tracker_check(benchmark, impl_name):
    impl = IMPLS[impl_name]
    tracker = impl.ExecutionTracker()
    model, hook = Model(), SetToHook("x")
    run = tracker.begin_run(model)
    first = tracker.is_first_execution

    def checks():
        for _ in range(1000):
            first(hook, model)

    benchmark(checks)
    tracker.end_run(run)
