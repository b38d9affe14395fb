"""Print per-call costs of the hot path, compiled vs pure, and their ratio.

Usage: ``python bench/hotpath_compare.py [--repeat 7]``. Each figure is the best of ``repeat`` timings
of 200,000 calls (per host for dispatch: run_pre + run_post), in nanoseconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._hooks import HOSTS, IMPLS, Vars, make_dispatcher, outcome
from nornflow.hooks.builtins.set_to import SetToHook

N = 200_000


class Model:
    name = "bench"


def _best(stmt, repeat: int) -> float:
    return min(timeit.repeat(stmt, number=1, repeat=repeat)) / N * 1e9


def measure(impl, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    cache = impl.HookInstanceCache()
    held = cache.get_or_create(SetToHook, "facts")  # kept alive: the cache holds instances weakly
    get = cache.get_or_create

    def cache_hit():
        for _ in range(N):
            get(SetToHook, "facts")

    out["cache hit"] = _best(cache_hit, repeat)
    del held
    for hooks in (0, 1, 3):
        dispatcher = make_dispatcher(impl, hooks)
        model, vm = Model(), Vars()
        run = dispatcher.tracker.begin_run(model)
        run_pre, run_post = dispatcher.run_pre, dispatcher.run_post
        hosts = (HOSTS * (N // len(HOSTS) + 1))[:N]
        result = outcome(impl)

        def dispatch(
            run_pre=run_pre, run_post=run_post, hosts=hosts, model=model, vm=vm, run=run, result=result
        ):
            for host in hosts:
                if run_pre(model, host, vm, run):
                    run_post(model, host, result, vm)

        out[f"dispatch, {hooks} hook(s)"] = _best(dispatch, repeat)
        dispatcher.tracker.end_run(run)
    tracker = impl.ExecutionTracker()
    model, hook = Model(), SetToHook("x")
    run = tracker.begin_run(model)
    first = tracker.is_first_execution

    def check():
        for _ in range(N):
            first(hook, model)

    out["tracker check"] = _best(check, repeat)
    tracker.end_run(run)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if "cython" in IMPLS:  # which build is measured (a full-API or a Limited API, abi3, module)
        print(f"compiled twin: {os.path.basename(IMPLS['cython'].__file__)}")
    results = {name: measure(impl, args.repeat) for name, impl in sorted(IMPLS.items())}
    names = list(next(iter(results.values())))
    print(f"{'operation (ns per call)':28} {'python':>10} {'cython':>10} {'cython/python':>14}")
    for op in names:
        py = results.get("python", {}).get(op)
        cy = results.get("cython", {}).get(op)
        ratio = f"{cy / py:14.2f}" if py and cy else f"{'-':>14}"
        print(f"{op:28} {py or float('nan'):10.1f} {cy or float('nan'):10.1f} {ratio}")


if __name__ == "__main__":
    main()
