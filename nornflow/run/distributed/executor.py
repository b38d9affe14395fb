"""``DaskExecutor``: a run's hosts split into contiguous shards, each a Dask actor in its own worker.

The driver (``nornflow.run.driver``) stays in this process and keeps every semantic of a local run;
this executor only moves the per-host work. Each shard is a long-lived :class:`Shard` actor pinned to
one worker, so its hosts' variables and connections stay put across tasks; a task run is one actor
call per shard, and while it runs the executor drains finished hosts' rows (progress, fail-fast) and
watches the scheduler for a shard's worker that died. Only plain data crosses (see ``wire``).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nornflow._hotpath import FAILED, NOT_RUN
from nornflow.exceptions import SettingsError
from nornflow.run.distributed.cluster import Cluster
from nornflow.run.distributed.wire import batch_positions, merge_batch
from nornflow.run.executor import RunPlan
from nornflow.run.prepare import PreparedWorkflow
from nornflow.run.results import ErrorInfo, TaskResult
from nornflow.settings import ExecutorSettings, Settings

__all__ = ["DaskExecutor", "ShardLost"]

log = logging.getLogger(__name__)

#: seconds between drains of a running task's finished hosts (progress, fail-fast across shards)
DRAIN_INTERVAL = 0.2
#: seconds between checks that every shard's worker is still known to the scheduler
LIVENESS_INTERVAL = 0.5
#: hosts per call when the variables are collected at the end of the run
VARIABLES_SLICE = 5000
#: strings at least this long are shared between a host's results and its variables
_SHARED_LENGTH = 64
#: hosts per journal record when a shard's batch is journaled (a whole shard's batch can be large)
JOURNAL_CHUNK = 4096
#: seconds a shard may take to load its project and inventory
SETUP_TIMEOUT = 900.0


class ShardLost(RuntimeError):
    """A shard's worker process died or stopped answering: its unfinished hosts failed."""


class _ShardRef:
    """The driver's handle on one shard: its actor, worker, host range and whether it is lost."""

    def __init__(self, number: int, start: int, stop: int, worker: str) -> None:
        self.number, self.start, self.stop, self.worker = number, start, stop, worker
        self.future: Any = None
        self.actor: Any = None
        self.lost: str | None = None

    @property
    def label(self) -> str:
        """How errors name the shard: its number, host range and worker."""
        return f"shard {self.number} (hosts {self.start + 1}-{self.stop}, worker {self.worker})"


class DaskExecutor:
    """Runs a workflow's hosts in shards on Dask workers (a local cluster, or ``scheduler``)."""

    #: the driver journals each batch of outcomes (and the variables they set) the shards return
    feeds_journal = True

    def __init__(
        self,
        spec: ExecutorSettings,
        *,
        settings: Settings,
        workflow: PreparedWorkflow,
        cli_vars: dict[str, Any],
        fail_fast: bool,
        inventory_in_code: bool = False,
        tune_gc: bool = False,
        selection: dict[str, Any] | None = None,
    ) -> None:
        """``spec`` says where (shards, scheduler, TLS); the rest is what each shard needs to load the
        same project and workflow: ``settings``, the prepared ``workflow`` (its ``source``), the
        CLI's ``cli_vars``, whether the run fails fast, and the task ``selection`` (--tags, ...) the
        shards apply as the driver did, so a task index means the same task everywhere."""
        self.spec = spec
        self.settings = settings
        self.workflow = workflow
        self.cli_vars = cli_vars
        self.fail_fast = fail_fast
        self.inventory_in_code = inventory_in_code
        self.tune_gc = tune_gc
        self.selection = selection
        self.shards: list[_ShardRef] = []
        self._cluster: Cluster | None = None
        self._plan: RunPlan | None = None
        self._aborted = False
        self._results: list[TaskResult] = []
        self._observer: Any = None
        #: per shard: merged positions (and their hosts' variables) the journal has not got yet
        self._unjournaled: dict[int, tuple[list[int], dict[str, Any]]] = {}

    # -- the run ----------------------------------------------------------------------------------

    def start(self, plan: RunPlan) -> None:
        """Connect (or start a local cluster), split the hosts, and start one shard per range."""
        if self.inventory_in_code:
            raise SettingsError(
                "the dask executor loads the inventory from the project's files in each shard; an "
                "inventory given in code (NornFlow(inventory=...)) cannot be sharded",
                key="executor",
            )
        if self.workflow.source is None:
            raise SettingsError(
                "the dask executor runs workflows loaded from a file, a name or a mapping, not a "
                "WorkflowModel built in code",
                key="executor",
            )
        throttled = [t for t in self.workflow.tasks if "throttle" in t.options]
        if throttled and self.spec.shards != 1:
            # each shard's gate counts only its own hosts: N shards would let N x throttle hosts in
            raise SettingsError(
                f"task {throttled[0].model.name!r} has throttle: {throttled[0].options['throttle']}, a "
                "limit for the whole run that shards cannot share; run it with --executor local or "
                "--shards 1",
                file=self.workflow.file,
                task=throttled[0].model.name,
                key="throttle",
            )
        self._plan = plan
        self._observer = plan.control.observer
        cluster = Cluster(self.spec)
        self._cluster = cluster
        try:
            workers = cluster.connect()
            self._start_shards(plan, workers)
        except BaseException:
            self.close()
            raise

    def _start_shards(self, plan: RunPlan, workers: list[str]) -> None:
        from nornflow.run.distributed.shard import Shard

        n = min(self.spec.shards or len(workers), len(plan.hosts))
        if n > len(workers):
            raise SettingsError(
                f"{n} shards need {n} Dask workers; the scheduler has {len(workers)} ({self.spec.scheduler})",
                key="executor.shards",
            )
        total = len(plan.hosts)
        token = uuid.uuid4().hex[:12]
        client = self._client
        for k in range(n):
            ref = _ShardRef(k, k * total // n, (k + 1) * total // n, workers[k])
            # the key names the shard only: no host, variable or secret reaches Dask's logs or dashboard
            ref.future = client.submit(
                Shard,
                k,
                actor=True,
                workers=[ref.worker],
                allow_other_workers=False,
                key=f"nornflow-shard-{k}-{token}",
                pure=False,
            )
            self.shards.append(ref)
        source_file = self.settings.source
        base = {
            "settings_file": str(Path(source_file).resolve()) if source_file else None,
            "settings": None
            if source_file
            else self.settings.model_copy(update={"base_dir": Path(self.settings.base_dir).resolve()}),
            "workflow": self.workflow.source,
            "cli_vars": self.cli_vars,
            "static_vars": plan.static_vars,
            "dry_run": plan.dry_run,
            "workers": plan.workers,
            "fail_fast": self.fail_fast,
            "tune_gc": self.tune_gc,
            "selection": self.selection,
            "task_count": len(self.workflow.tasks),
            "var_names": _var_names(plan) if self._observer is not None else None,
        }
        calls = []
        for ref in self.shards:
            with client.as_current():  # the actor proxy binds to this client, not a global default
                ref.actor = self._wait(ref, ref.future.result, SETUP_TIMEOUT, "start")
            # the spec (it may hold secrets) goes straight to the shard's worker, not via the scheduler
            calls.append(ref.actor.setup({**base, "hosts": plan.hosts[ref.start : ref.stop]}))
        for ref, call in zip(self.shards, calls, strict=True):
            self._wait(ref, call.result, SETUP_TIMEOUT, "start")

    def _wait(self, ref: _ShardRef, result: Any, timeout: float, what: str) -> Any:
        """``result(timeout)`` of a shard's start-up call; a failure is a clear error (exit 3)."""
        try:
            return result(timeout=timeout)
        except Exception as exc:
            raise SettingsError(
                f"{ref.label} could not {what}: {type(exc).__name__}: {exc}", key="executor"
            ) from None

    @property
    def _client(self) -> Any:
        assert self._cluster is not None and self._cluster.client is not None
        return self._cluster.client

    def run_task(self, index: int, result: TaskResult, positions: Sequence[int] | None) -> None:
        """Run task ``index`` on every shard holding hosts at ``positions``, merging their rows."""
        assert self._plan is not None
        started = time.perf_counter()
        task = self._plan.workflow.tasks[index]
        self._results.append(result)
        self._unjournaled.clear()
        mine = {ref.number: _local(ref, positions) for ref in self.shards}
        work = [ref for ref in self.shards if mine[ref.number] is None or mine[ref.number]]
        for ref in work:
            if ref.lost is not None:
                self._fail_lost(ref, result, mine[ref.number])
        work = [ref for ref in work if ref.lost is None]
        # run-once decisions go by inventory order across shards: one shard at a time until one of
        # the task's run-once hooks fired, then the others at once, told which fired
        ordered = bool(task.needs_prime or task.dispatcher.post_once)
        seed: list[int] = []
        try:
            while work and not self._plan.control.stop.is_set():
                batch = work[:1] if ordered and not seed else work
                work = work[len(batch) :]
                for fired in self._run_batch(index, result, batch, mine, seed):
                    seed = sorted(set(seed) | set(fired))
        except KeyboardInterrupt:
            self._aborted = True
            self._stop_all()
            raise
        finally:
            result.duration = time.perf_counter() - started

    def _run_batch(
        self, index: int, result: TaskResult, batch: list[_ShardRef], mine: dict[int, Any], seed: list[int]
    ) -> list[list[int]]:
        """Run the task on ``batch``'s shards at once until each returned or was lost."""
        assert self._plan is not None
        control = self._plan.control
        on_row = self._on_row(result)
        pending = {ref.number: (ref, ref.actor.run_task(index, mine[ref.number], seed)) for ref in batch}
        fired: list[list[int]] = []
        stopped = False
        last_drain = last_check = time.monotonic()
        unreachable = 0.0
        tick = 0.002
        while pending:
            if control.stop.is_set() and not stopped:
                stopped = True
                self._stop_all()
            _ref, call = next(iter(pending.values()))
            with contextlib.suppress(Exception):  # a timeout (still running) or its error, read below
                call.result(timeout=tick)
            tick = min(tick * 2, DRAIN_INTERVAL / 2)
            for number, (ref, call) in list(pending.items()):
                if call.done():
                    del pending[number]
                    try:
                        out = pickle.loads(call.result())
                    except Exception as exc:
                        self._lose(ref, result, mine[number], exc)
                        continue
                    self._merge(result, ref, out["batches"], on_row, final=True)
                    fired.append(out["fired"])
            now = time.monotonic()
            if pending and now - last_check >= LIVENESS_INTERVAL:
                last_check = now
                alive, unreachable = self._alive(unreachable)
                for number, (ref, _call) in list(pending.items()):
                    if unreachable > self.spec.connect_timeout:
                        del pending[number]
                        self._lose(
                            ref, result, mine[number], ShardLost("the Dask scheduler stopped answering")
                        )
                    elif alive is not None and ref.worker not in alive:
                        del pending[number]
                        self._lose(ref, result, mine[number], ShardLost("its worker left the cluster"))
            if pending and now - last_drain >= DRAIN_INTERVAL:
                last_drain = now
                self._drain(result, pending, mine, on_row)
        return fired

    def _alive(self, unreachable: float) -> tuple[set[str] | None, float]:
        """The workers the scheduler knows now, and for how long (seconds) it has not answered: a
        scheduler gone for longer than ``connect_timeout`` loses the shards still running."""
        if self._cluster is None:
            return None, 0.0
        try:
            return self._cluster.workers(), 0.0
        except Exception as exc:
            log.warning("the Dask scheduler did not answer: %s", exc)
            return None, unreachable + LIVENESS_INTERVAL

    def _drain(self, result: TaskResult, pending: dict[int, Any], mine: dict[int, Any], on_row: Any) -> None:
        calls = [(number, ref, ref.actor.drain()) for number, (ref, _call) in pending.items()]
        for number, ref, call in calls:
            try:
                out = pickle.loads(call.result(timeout=60))
            except TimeoutError:
                continue  # busy (a task holding the GIL): the liveness check decides
            except Exception as exc:
                del pending[number]
                self._lose(ref, result, mine[number], exc)
                continue
            self._merge(result, ref, out["batches"], on_row, final=False)

    def _merge(
        self, result: TaskResult, ref: _ShardRef, batches: list[Any], on_row: Any, *, final: bool
    ) -> None:
        """Merge a shard's batches into ``result`` and journal them (with the variables they carry).
        A task with once-per-task post-hooks is journaled when the shard's call returns: they may
        rewrite the outcome of a host drained before."""
        for batch in batches:
            merge_batch(result, ref.start, batch, on_row)
        if self._observer is None:
            return
        positions, variables = self._unjournaled.setdefault(ref.number, ([], {}))
        names = result.hosts
        for batch in batches:
            at = batch_positions(batch, ref.start)
            positions.extend(at)
            rows = batch.get("vars")
            if rows is not None:
                for j, values in zip(at, rows, strict=True):
                    if values is None:
                        variables.pop(names[j], None)
                    else:
                        variables[names[j]] = values
        assert self._plan is not None
        if final or not self._plan.workflow.tasks[result.task_index].dispatcher.post_once:
            self._journal(result, ref)

    def _journal(self, result: TaskResult, ref: _ShardRef) -> None:
        """Hand the journal the positions of ``ref`` merged since its last call."""
        pending = self._unjournaled.pop(ref.number, None)
        if pending is None or self._observer is None:
            return
        positions, variables = pending
        ordered = sorted(set(positions))
        for start in range(0, len(ordered), JOURNAL_CHUNK):
            self._observer.hosts_done(
                result.task_index, result, ordered[start : start + JOURNAL_CHUNK], variables or None
            )

    def _on_row(self, result: TaskResult) -> Any:
        """Per merged host: the reporter's per-host event and fail-fast, as a local run has them."""
        assert self._plan is not None
        control = self._plan.control
        model = self._plan.workflow.tasks[result.task_index].model
        names = result.hosts
        on_host, on_failed = control.on_host, control.on_failed
        if on_host is None and on_failed is None:
            return None

        def row(j: int, code: int) -> None:
            if on_failed is not None and code == FAILED:
                on_failed(names[j], result.name)
            if on_host is not None:
                on_host(model, names[j], code)

        return row

    def _stop_all(self) -> None:
        for ref in self.shards:
            if ref.lost is None and ref.actor is not None:
                with contextlib.suppress(Exception):
                    ref.actor.stop()

    def _lose(
        self, ref: _ShardRef, result: TaskResult, positions: list[int] | None, exc: BaseException
    ) -> None:
        """``ref``'s worker died (or broke): its unfinished hosts fail, now and in later tasks."""
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ref.lost = f"{ref.label} was lost: {cause}"
        log.error("%s", ref.lost)
        if self._plan is not None and self._plan.control.notice is not None:
            self._plan.control.notice(f"error: {ref.lost}; its unfinished hosts failed")
        self._journal(result, ref)  # what it returned before it was lost
        self._fail_lost(ref, result, positions)

    def _fail_lost(self, ref: _ShardRef, result: TaskResult, positions: list[int] | None) -> None:
        on_row = self._on_row(result)
        local = positions if positions is not None else range(ref.stop - ref.start)
        for i in local:
            j = ref.start + i
            if result.codes[j] == NOT_RUN:
                result.errors[j] = ErrorInfo("ShardLost", ref.lost or "shard lost")
                result.codes[j] = FAILED
                if on_row is not None:
                    on_row(j, FAILED)

    def restore_variables(self, variables: Mapping[str, Mapping[str, Any]], *, replace: bool = False) -> None:
        """Set hosts' runtime variables from the journal (``--resume``): each shard gets its own
        hosts' (plain data, as journaled); ``replace``: each host's whole set."""
        assert self._plan is not None
        where = {name: i for i, name in enumerate(self._plan.hosts)}
        calls = []
        for ref in self.shards:
            if ref.lost is not None or ref.actor is None:
                continue
            part = {
                name: dict(values)
                for name, values in variables.items()
                if ref.start <= where.get(name, -1) < ref.stop
            }
            if part:
                data = pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)
                calls.append((ref, ref.actor.restore_variables(data, replace)))
        for ref, call in calls:
            try:
                call.result(timeout=300)
            except Exception as exc:
                cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                ref.lost = f"{ref.label} was lost: its journaled variables could not be restored: {cause}"
                log.error("%s", ref.lost)
                if self._plan.control.notice is not None:
                    self._plan.control.notice(f"error: {ref.lost}; its hosts fail from the next task")

    # -- after the run ------------------------------------------------------------------------------

    def variables(self) -> dict[str, dict[str, Any]]:
        """Every host's runtime variables, merged from the shards in inventory order (a lost shard's
        hosts have none). A long string equal to one of the host's results (``set_to`` of a rendered
        config) shares that result's object instead of being held twice."""
        merged: dict[str, dict[str, Any]] = {}
        timeout = 10 if self._aborted else 300
        for ref in self.shards:
            if ref.lost is not None or ref.actor is None:
                continue
            for start in range(0, ref.stop - ref.start, VARIABLES_SLICE):
                try:
                    part = pickle.loads(
                        ref.actor.variables(start, start + VARIABLES_SLICE).result(timeout=timeout)
                    )
                except Exception as exc:
                    log.error("%s: its variables are lost: %s", ref.label, exc)
                    break
                self._share(part)
                merged.update(part)
        self._results.clear()
        return merged

    def _share(self, part: dict[str, dict[str, Any]]) -> None:
        results = self._results
        if not results:
            return
        index = results[0].index
        for host, values in part.items():
            j = index.get(host)
            if j is None:
                continue
            same = [p for tr in results if type(p := tr.payloads[j]) is str and len(p) >= _SHARED_LENGTH]
            if not same:
                continue
            for key, value in values.items():
                if type(value) is str and len(value) >= _SHARED_LENGTH:
                    for p in same:
                        if p == value:
                            values[key] = p
                            break

    def close(self) -> None:
        """Close the shards' connections, release the actors and stop the cluster the run started."""
        if not self._aborted:
            calls = [ref.actor.close() for ref in self.shards if ref.lost is None and ref.actor]
            for call in calls:
                with contextlib.suppress(Exception):
                    call.result(timeout=60)
        if self._cluster is not None:
            futures = [ref.future for ref in self.shards if ref.future is not None]
            self._cluster.close(futures)
            self._cluster = None


def _var_names(plan: RunPlan) -> list[list[str] | None]:
    """Per task, the runtime variables it may set (None: any), as plain lists: what the shards send
    back with each batch for the driver's journal."""
    from nornflow.run.resume import task_var_names

    return [None if names is None else list(names) for names in task_var_names(plan.workflow)]


def _local(ref: _ShardRef, positions: Sequence[int] | None) -> list[int] | None:
    """The positions (in ``ref``'s own numbering) of the run's ``positions`` it holds."""
    if positions is None:
        return None
    return [p - ref.start for p in positions if ref.start <= p < ref.stop]
