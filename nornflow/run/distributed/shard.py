"""One shard of a run: a Dask actor that owns a contiguous range of hosts for the whole run.

It lives in a Dask worker process. ``setup`` rebuilds the project there (settings, tasks, hooks,
filters, the inventory from the same files) and a :class:`~nornflow.run.executor.LocalExecutor` for
its hosts, which keeps their runtime variables and open connections from task to task. The driver
calls ``run_task`` (on the actor's thread) and, meanwhile, ``drain`` and ``stop`` (coroutines, on the
worker's event loop, so they answer while the task runs). Everything returned is plain data.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections import deque
from typing import Any

from nornflow._hotpath import CHANGED, FAILED, NOT_RUN, OK
from nornflow.run.distributed.wire import Batch, pack_batch, plain
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
        self._result: Any = None
        self._sent = bytearray()
        self._lock = threading.Lock()
        #: per task, the runtime variables it may set (None: any); None when the run is not journaled
        self._var_names: list[list[str] | None] | None = None
        self._index = -1
        _STOPS.append(self._stop)

    def setup(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Load the project and the workflow as the driver did, and start the executor on this
        shard's hosts; returns what the driver checks (the host count, this process's pid)."""
        from nornflow.run.api import NornFlow
        from nornflow.run.executor import RunControl, RunPlan
        from nornflow.run.processors import make_processors
        from nornflow.run.selection import select_tasks
        from nornflow.settings import Settings

        settings = Settings.load(spec["settings_file"]) if spec["settings_file"] else spec["settings"]
        nf = NornFlow(settings, workers=spec["workers"], tune_gc=spec["tune_gc"])
        prepared = nf.load_workflow(spec["workflow"], vars=spec["cli_vars"])
        chosen = spec.get("selection") or {}
        prepared, _ = select_tasks(
            prepared, chosen.get("tags"), chosen.get("skip_tags"), chosen.get("start_at_task")
        )
        if len(prepared.tasks) != spec["task_count"]:  # task indexes must mean the same tasks
            raise RuntimeError(
                f"the workflow loaded here has {len(prepared.tasks)} task(s), the driver's "
                f"{spec['task_count']}: the project differs between the driver and this worker"
            )
        names = list(spec["hosts"])
        wanted = set(names)
        # Nornir annotates filter_func as a FilterObj; it takes any host -> bool callable
        inventory = nf.inventory.filter(filter_func=lambda host: host.name in wanted)  # type: ignore[arg-type]
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
        self._var_names = spec.get("var_names")
        return {"hosts": len(names), "pid": os.getpid()}

    def run_task(self, index: int, positions: list[int] | None, seed: list[int]) -> bytes:
        """Run task ``index`` on this shard's hosts at ``positions`` (None: all); ``seed`` names the
        task's run-once hooks (by place) that already ran on another shard. Returns (pickled: one
        bytes object crosses faster than Dask serializing the columns) the batches not drained yet
        and the run-once hooks that fired here."""
        from nornflow.run.results import TaskResult

        assert self._executor is not None
        task = self._prepared.tasks[index]
        result = TaskResult(task.name, index, self._names)
        self._done.clear()
        self._sent = bytearray(len(self._names))
        executor = self._executor
        executor.once_hooks = _once_hooks(task)
        executor.seed = seed
        executor.fired = []
        self._result = result
        self._index = index
        try:
            executor.run_task(index, result, positions)
            batches = [self._take(final=True)]
        finally:
            self._result = None
        if task.dispatcher.post_once:  # the once-per-task post-hooks may rewrite a drained outcome
            first = _first_ran(result, positions)
            if first is not None:
                rewrite = {**pack_batch(result, [first]), "rewrite": True}
                self._add_variables(rewrite, [first])
                batches.append(rewrite)
        out = {"batches": [b for b in batches if b is not None], "fired": executor.fired}
        return pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)

    async def drain(self) -> bytes:
        """The batch of the hosts finished since the last call (the driver's progress, fail-fast
        across shards), pickled."""
        batch = self._take()
        return pickle.dumps({"batches": [] if batch is None else [batch]}, protocol=pickle.HIGHEST_PROTOCOL)

    async def stop(self) -> None:
        """Stop scheduling hosts: the ones running finish, the others stay not run."""
        self._stop.set()

    async def variables(self, start: int = 0, stop: int | None = None) -> bytes:
        """The runtime variables of this shard's hosts ``start:stop``, in inventory order, as plain
        data (pickled here: one bytes object crosses much faster than Dask serializing a dict per
        host; asked for in slices so neither side holds a whole shard's copy at once)."""
        if self._executor is None or self._executor._vars is None:
            return pickle.dumps({})
        snapshot = self._executor._vars.runtime_snapshot(self._names[start:stop], copy=False)
        return pickle.dumps(plain(snapshot), protocol=pickle.HIGHEST_PROTOCOL)

    def restore_variables(self, data: bytes, replace: bool) -> None:
        """Set this shard's hosts' runtime variables from the driver's journal (``--resume``):
        ``data`` is the pickled ``{host: {name: value}}`` (plain data); ``replace``: each host's
        whole set."""
        assert self._executor is not None
        self._executor.restore_variables(pickle.loads(data), replace=replace)

    def close(self) -> None:
        """Close every connection this shard's hosts opened."""
        if self._executor is not None:
            self._executor.close()
        if self._stop in _STOPS:
            _STOPS.remove(self._stop)

    def _on_failed(self, host: str, task: str) -> None:
        self._stop.set()  # fail-fast: this shard stops at once; the driver stops the others

    def _take(self, final: bool = False) -> Batch | None:
        """The batch of the hosts finished since the last take. The final take (the task is over)
        adds any host settled without a completion callback, and sends whole columns when nothing
        was drained during the task (the common case for short tasks)."""
        with self._lock:
            result = self._result
            if result is None:
                return None
            done, sent = self._done, self._sent
            if final and not sent.count(1) and NOT_RUN not in result.codes:
                done.clear()
                sent[:] = b"\x01" * len(sent)
                return self._add_variables(pack_batch(result, None), None)
            indices = []
            while done:
                i = done.popleft()
                if not sent[i]:
                    sent[i] = 1
                    indices.append(i)
            if final:
                codes = result.codes
                late = [i for i in range(len(sent)) if not sent[i] and codes[i] != NOT_RUN]
                for i in late:
                    sent[i] = 1
                indices.extend(late)
            return self._add_variables(pack_batch(result, indices), indices) if indices else None

    def _add_variables(self, batch: Batch, indices: list[int] | None) -> Batch:
        """Add to ``batch`` (journaled runs only) the runtime variables the task may set of its
        hosts, one plain dict (or None) per row: what the driver's journal records with them."""
        names_by_task = self._var_names
        if names_by_task is None or self._executor is None or self._executor._vars is None:
            return batch
        names = names_by_task[self._index] if self._index < len(names_by_task) else None
        if names is not None and not names:
            return batch  # the task sets no variable
        hosts = self._names if indices is None else [self._names[i] for i in indices]
        snapshot = self._executor._vars.runtime_snapshot(hosts, copy=False)
        rows: list[dict[str, Any] | None] = []
        for host in hosts:
            values = snapshot.get(host) or {}
            if names is not None:
                values = {n: values[n] for n in names if n in values}
            rows.append(plain(values) if values else None)
        batch["vars"] = rows
        return batch


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
