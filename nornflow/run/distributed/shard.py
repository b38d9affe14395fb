"""One shard of a run: a Dask actor that owns a contiguous range of hosts for the whole run.

It lives in a Dask worker process. ``setup`` rebuilds the project there (settings, tasks, hooks,
filters, the inventory from the same files) and a :class:`~nornflow.run.executor.LocalExecutor` for
its hosts, which keeps their runtime variables and open connections from task to task. The driver
calls ``run_task`` (on the actor's thread) and, meanwhile, ``drain`` and ``stop`` (coroutines, on the
worker's event loop, so they answer while the task runs). Everything returned is plain data.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Any

from nornflow._hotpath import CHANGED, FAILED, OK
from nornflow.run.distributed.wire import Row, pack_rows, plain
from nornflow.run.executor import LocalExecutor

__all__ = ["Shard", "stopping"]

#: the stop flags of the shards living in this process (a task may poll :func:`stopping`)
_STOPS: list[threading.Event] = []


def stopping() -> bool:
    """Inside a Dask worker: whether the run asked this worker's shard to stop (fail-fast, Ctrl-C).
    A long task may poll it to give up early; False anywhere else."""
    return any(event.is_set() for event in _STOPS)


class Shard:
    """A Dask actor running one contiguous range of a run's hosts with a LocalExecutor."""

    def __init__(self, number: int) -> None:
        """``number``: the shard's place (0-based) among the run's shards, for its error messages."""
        self.number = number
        self._executor: _ShardExecutor | None = None
        self._prepared: Any = None
        self._names: list[str] = []
        self._stop = threading.Event()
        self._done: deque[int] = deque()
        self._failed: list[tuple[str, str]] = []
        self._result: Any = None
        _STOPS.append(self._stop)

    def setup(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Load the project and the workflow as the driver did, and start the executor on this
        shard's hosts; returns what the driver checks (the host count, this process's pid)."""
        from nornflow.run.api import NornFlow
        from nornflow.run.executor import RunControl, RunPlan
        from nornflow.run.processors import make_processors
        from nornflow.settings import Settings

        settings = Settings.load(spec["settings_file"]) if spec["settings_file"] else spec["settings"]
        nf = NornFlow(settings, workers=spec["workers"], tune_gc=spec["tune_gc"])
        prepared = nf.load_workflow(spec["workflow"], vars=spec["cli_vars"])
        names = list(spec["hosts"])
        wanted = set(names)
        inventory = nf.inventory.filter(filter_func=lambda host: host.name in wanted)
        missing = [n for n in names if n not in inventory.hosts]
        if missing:
            raise LookupError(f"hosts not in this worker's inventory: {', '.join(missing[:5])}")
        classes = prepared.processors if prepared.processors is not None else nf._processor_classes
        executor = _ShardExecutor(
            inventory,
            runner=nf.settings.runner,
            runner_options=nf.settings.runner_options,
            processors=make_processors(classes),
            config=nf._config,
            pause_gc=spec["tune_gc"],
        )
        executor.done = self._done
        control = RunControl(stop=self._stop, on_failed=self._on_failed if spec["fail_fast"] else None)
        executor.start(
            RunPlan(prepared, names, spec["static_vars"], spec["dry_run"], spec["workers"], control)
        )
        self._names, self._prepared, self._executor = names, prepared, executor
        return {"hosts": len(names), "pid": os.getpid()}

    def run_task(self, index: int, positions: list[int] | None, seed: list[int]) -> dict[str, Any]:
        """Run task ``index`` on this shard's hosts at ``positions`` (None: all); ``seed`` names the
        task's run-once hooks (by place) that already ran on another shard. Returns the rows not
        drained yet, the run-once hooks that fired here, and the first counted failure."""
        from nornflow.run.results import TaskResult

        assert self._executor is not None
        task = self._prepared.tasks[index]
        result = TaskResult(task.name, index, self._names)
        self._done.clear()
        executor = self._executor
        executor.once_hooks = _once_hooks(task)
        executor.seed = seed
        executor.fired = []
        self._result = result
        try:
            executor.run_task(index, result, positions)
            rows = self._take()
        finally:
            self._result = None
        if task.dispatcher.post_once:  # the once-per-task post-hooks may rewrite a drained outcome
            first = _first_ran(result, positions)
            if first is not None:
                rows.extend(pack_rows(result, [first]))
        return {"rows": rows, "fired": executor.fired, "failed": self._failed[:1]}

    async def drain(self) -> dict[str, Any]:
        """The rows of the hosts finished since the last call (the driver's progress), and the
        first counted failure (fail-fast across shards)."""
        return {"rows": self._take(), "failed": self._failed[:1]}

    async def stop(self) -> None:
        """Stop scheduling hosts: the ones running finish, the others stay not run."""
        self._stop.set()

    async def variables(self) -> dict[str, dict[str, Any]]:
        """This shard's hosts' runtime variables, in inventory order, as plain data."""
        if self._executor is None or self._executor._vars is None:
            return {}
        return plain(self._executor._vars.runtime_snapshot(self._names, copy=True))

    def close(self) -> None:
        """Close every connection this shard's hosts opened."""
        if self._executor is not None:
            self._executor.close()
        if self._stop in _STOPS:
            _STOPS.remove(self._stop)

    def _on_failed(self, host: str, task: str) -> None:
        if not self._failed:
            self._failed.append((host, task))
        self._stop.set()

    def _take(self) -> list[Row]:
        result = self._result
        if result is None:
            return []
        done = self._done
        indices = []
        while done:
            indices.append(done.popleft())
        return pack_rows(result, indices)


class _ShardExecutor(LocalExecutor):
    """The local executor of one shard: reports each finished host by index, and seeds each task
    run with the run-once claims other shards already won."""

    done: deque[int]
    once_hooks: list[Any]
    seed: list[int]
    fired: list[int]

    def _begin_run(self, task: Any) -> Any:
        run = super()._begin_run(task)
        for j in self.seed:
            run.fired[id(self.once_hooks[j])] = object()
        self.fired = []
        return run

    def _end_run(self, run: Any) -> None:
        fired = run.fired
        self.fired = [j for j, hook in enumerate(self.once_hooks) if id(hook) in fired]
        super()._end_run(run)

    def _bind(self, task: Any, result: Any, positions: Any, run: Any) -> Any:
        step = super()._bind(task, result, positions, run)
        append = self.done.append
        step.on_done = lambda i, code: append(i)
        return step


def _once_hooks(task: Any) -> list[Any]:
    """The task's hooks, in an order every process computes alike (the workflow's): what claims
    exactly-once runs are keyed on (``id(hook)``)."""
    return list(task.model.get_pre_hooks()) + list(task.model.get_post_hooks())


def _first_ran(result: Any, positions: list[int] | None) -> int | None:
    for i in positions if positions is not None else range(len(result.codes)):
        if result.codes[i] in (OK, CHANGED, FAILED):
            return i
    return None
