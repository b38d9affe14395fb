"""The driver of a run: tasks in order, the failure strategy, fail-fast, interrupts, the results.

It owns what is global to a run and leaves the hosts to an executor: for each task it picks the
active hosts (``skip-failed`` leaves out the hosts that failed earlier), asks the executor to run
them, and settles what the executor did not start (``not run``: the run was stopped). Per-host
failures never abort the run; the strategy decides what happens next.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornflow._hotpath import FAILED, NOT_RUN, SKIPPED
from nornflow.exceptions import RunInProgressError
from nornflow.run.executor import Executor, RunControl, RunPlan
from nornflow.run.flow import check_skipped, run_flow
from nornflow.run.observer import OutcomeObserver
from nornflow.run.prepare import PreparedTask, PreparedWorkflow
from nornflow.run.reporter import Reporter
from nornflow.run.results import TaskResult, WorkflowResult
from nornflow.run.resume import ResumeState
from nornflow.settings import FailureStrategy

__all__ = ["STOP_SIGNALS", "RunAborted", "RunState", "run_workflow"]


@dataclass
class RunState:
    """What every part of one run shares: the stop flag and why the run stopped."""

    stop: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False
    signal: str | None = None
    stopped: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_fast(self, host: str, task: str) -> None:
        """The first counted failure under ``fail-fast``: no new host is scheduled."""
        with self.lock:
            if self.stopped is None:
                self.stopped = f"fail-fast: host {host!r} failed task {task!r}; no new host was scheduled"
        self.stop.set()


def run_workflow(
    prepared: PreparedWorkflow,
    executor: Executor,
    *,
    hosts: Sequence[str],
    static_vars: dict[str, Any],
    strategy: FailureStrategy,
    dry_run: bool,
    workers: int,
    reporter: Reporter,
    handle_sigint: bool = True,
    serial: Sequence[int | float] | None = None,
    max_fail_percentage: float | None = None,
    observer: OutcomeObserver | None = None,
    resume: ResumeState | None = None,
    selection: dict[str, Any] | None = None,
) -> WorkflowResult:
    """Run ``prepared`` on ``hosts`` through ``executor`` and return its structured result; with
    blocks or ``serial`` batches the walk is :func:`nornflow.run.flow.run_flow`'s.

    ``observer`` (the run's journal) gets every host-task outcome; ``resume`` holds what a journal of
    this run already knows: those host-tasks are not run again, their variables come back (flat
    workflows only: the API refuses to resume one with blocks or batches)."""
    wf = prepared.model
    names = list(hosts)
    index = {name: i for i, name in enumerate(names)}
    state = RunState()
    control = RunControl(
        stop=state.stop,
        on_failed=state.fail_fast if strategy is FailureStrategy.FAIL_FAST else None,
        on_host=reporter.host_completed if reporter.per_host else None,
        notice=reporter.notice,
        observer=observer,
    )
    result = WorkflowResult(workflow=wf.name, hosts=names, dry_run=dry_run, failure_strategy=strategy.value)
    result.selection = selection  # what --tags and friends chose (nornflow.run.selection)
    failed_before: set[str] = set()
    with _exclusive(prepared):
        executor.start(RunPlan(prepared, names, static_vars, dry_run, workers, control))
        reporter.workflow_started(wf, names)
        if dry_run:
            reporter.notice("DRY RUN (check mode): nothing is changed; tasks not check-mode safe are skipped")
        started = time.perf_counter()
        try:
            with _signals_stop(state, reporter, enabled=handle_sigint):
                if prepared.tree is None and not serial and max_fail_percentage is None:
                    for task_index, task in enumerate(prepared.tasks):
                        tr = TaskResult(task.name, task_index, names, index)
                        tr.print_output = task.print_output
                        tr.controls = task.controls
                        result.tasks.append(tr)
                        if resume is not None:
                            resume.fill(task_index, tr)
                            if strategy is FailureStrategy.FAIL_FAST and FAILED in tr.codes:
                                state.fail_fast(names[tr.codes.index(FAILED)], task.name)  # as it was
                        _run_task(
                            task_index,
                            task,
                            tr,
                            executor,
                            state,
                            strategy,
                            reporter,
                            failed_before,
                            dry_run,
                            observer=observer,
                            resume=resume,
                        )
                else:
                    result.walked = True
                    _run_flow(
                        prepared,
                        result,
                        executor,
                        state,
                        strategy,
                        reporter,
                        dry_run,
                        serial,
                        max_fail_percentage,
                        control,
                        observer,
                        resume,
                    )
        except KeyboardInterrupt:
            # aborted: keep what is known (hosts in flight are abandoned, as the operator asked)
            result.incomplete = True
            _settle(result, state, started)
            if observer is not None:
                observer.run_completed(result)
            raise RunAborted(result) from None
        finally:
            result.variables = executor.variables()
            executor.close()
    try:
        _settle(result, state, started)
        if observer is not None:
            observer.run_completed(result)  # the journal's last write and fsync
    except KeyboardInterrupt:  # the second signal came as the run was ending: abort as in the run
        result.incomplete = True
        raise RunAborted(result) from None
    reporter.workflow_completed(result)
    return result


class RunAborted(KeyboardInterrupt):
    """A second stop signal aborted the run: ``result`` holds what was known then (``incomplete``).

    A ``KeyboardInterrupt``, so a caller that only knows Ctrl-C still stops."""

    def __init__(self, result: WorkflowResult) -> None:
        super().__init__("run aborted")
        self.result = result


def _settle(result: WorkflowResult, state: RunState, started: float) -> None:
    result.duration = time.perf_counter() - started
    result.interrupted = state.interrupted
    result.signal = state.signal
    result.stopped = state.stopped
    for task in result.tasks if result.incomplete else ():
        for i, code in enumerate(task.codes):
            if code == NOT_RUN:
                task.skip_reasons.setdefault(i, "run aborted" if result.incomplete else "run interrupted")


def _run_flow(
    prepared: PreparedWorkflow,
    result: WorkflowResult,
    executor: Executor,
    state: RunState,
    strategy: FailureStrategy,
    reporter: Reporter,
    dry_run: bool,
    serial: Sequence[int | float] | None,
    max_fail_percentage: float | None,
    control: RunControl,
    observer: OutcomeObserver | None = None,
    resume: ResumeState | None = None,
) -> None:
    """Blocks and batches: every task's result up front, then the flow's walk (nornflow.run.flow).
    Under fail-fast a failure inside a block that has a rescue stops the run only if the rescue fails.
    Resumed, every task's journaled outcomes are filled in first: the walk takes the turns it took
    (failures reach their rescue), and only the host-tasks not journaled run."""
    names = result.hosts
    index = {name: i for i, name in enumerate(names)}
    for task_index, task in enumerate(prepared.tasks):
        tr = TaskResult(task.name, task_index, names, index)
        tr.print_output = task.print_output
        tr.controls = task.controls
        result.tasks.append(tr)
        if resume is not None:
            resume.fill(task_index, tr)

    def run_on(task_index: int, positions: list[int] | None) -> None:
        task, tr = prepared.tasks[task_index], result.tasks[task_index]
        before = tr.duration  # a task runs once per batch: its duration is the sum
        _run_task(
            task_index,
            task,
            tr,
            executor,
            state,
            strategy,
            reporter,
            set(),
            dry_run,
            positions,
            observer,
            resume,
        )
        tr.duration += before

    fail_fast = control.on_failed
    holds = [0]

    def hold(on: bool) -> None:
        holds[0] += 1 if on else -1
        control.on_failed = None if holds[0] else fail_fast

    run_flow(
        prepared.tree,
        len(prepared.tasks),
        result,
        run_on,
        strategy=strategy,
        stopped=state.stop.is_set,
        notice=reporter.notice,
        serial=serial,
        max_fail_percentage=max_fail_percentage,
        hold=hold if fail_fast is not None else None,
    )
    state.stopped = state.stopped or result.stopped


def _run_task(
    task_index: int,
    task: PreparedTask,
    tr: TaskResult,
    executor: Executor,
    state: RunState,
    strategy: FailureStrategy,
    reporter: Reporter,
    failed_before: set[str],
    dry_run: bool = False,
    given: list[int] | None = None,
    observer: OutcomeObserver | None = None,
    resume: ResumeState | None = None,
) -> None:
    """One task: its active hosts by the strategy (or ``given`` by the flow), the executor's fan-out,
    what was never started."""
    names = tr.hosts
    if state.stop.is_set():
        reason = "run interrupted" if state.interrupted else "run stopped (fail-fast)"
        for i in range(len(names)) if given is None else given:
            tr.skip_reasons[i] = reason
        return
    positions = _active(tr, failed_before, strategy) if given is None else given
    if resume is not None:
        positions = resume.remaining(task_index, tr, positions)
    reporter.task_started(task.model, task_index, len(names) if positions is None else len(positions))
    if check_skipped(task, dry_run, tr, positions):
        reporter.task_completed(task.model, tr)
        return
    if observer is not None:
        observer.task_started(task_index, tr, positions)
    reporter.task_running(task.model, tr)
    executor.run_task(task_index, tr, positions)
    if resume is not None:
        resume.restore(task_index, executor)
    if NOT_RUN in tr.codes:
        reason = "run interrupted" if state.interrupted else "run stopped before this host"
        codes = tr.codes
        for i in range(len(codes)) if positions is None else positions:
            if codes[i] == NOT_RUN:
                tr.skip_reasons.setdefault(i, reason)
    if FAILED in tr.codes:
        failed_before.update(names[i] for i, code in enumerate(tr.codes) if code == FAILED)
    if observer is not None:
        observer.task_completed(task_index, tr)
    reporter.task_completed(task.model, tr)


#: Guards the "in a run" marks of task models (the marks themselves live on the models).
_CLAIMS = threading.Lock()


@contextlib.contextmanager
def _exclusive(prepared: PreparedWorkflow) -> Iterator[None]:
    """Mark the workflow's task models as running for the run's length; a second, overlapping run
    of the same models is refused (their task runs, and so their run-once claims, are keyed on
    them), never run with claims it would share."""
    models = [task.model for task in prepared.tasks]
    with _CLAIMS:
        if any(m._in_run for m in models):
            raise RunInProgressError(
                f"workflow {prepared.model.name!r} is already running; prepare it again "
                "(NornFlow.load_workflow) for a second, independent run",
                file=prepared.file,
            )
        for m in models:
            m._in_run = True
    try:
        yield
    finally:
        with _CLAIMS:
            for m in models:
                m._in_run = False


def _active(tr: TaskResult, failed_before: set[str], strategy: FailureStrategy) -> list[int] | None:
    """The positions of the hosts that run this task (``None``: all); the others are marked skipped."""
    if strategy is FailureStrategy.RUN_ALL or not failed_before:
        return None
    positions = []
    for i, name in enumerate(tr.hosts):
        if name in failed_before:
            tr.codes[i] = SKIPPED
            tr.skip_reasons[i] = "failed in an earlier task"
        else:
            positions.append(i)
    return positions


#: The signals that stop a run: Ctrl-C, ``kill``/a service manager, a closed terminal (POSIX only).
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def _signals_stop(state: RunState, reporter: Reporter, enabled: bool = True) -> Iterator[None]:
    """During a run, the first SIGINT, SIGTERM or SIGHUP stops scheduling (in-flight hosts finish and
    are reported); a second one aborts (``KeyboardInterrupt``: the run's result is marked incomplete).
    Signal handlers belong to the main thread: elsewhere (a library's worker thread) nothing changes."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if state.interrupted:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
            raise KeyboardInterrupt
        state.interrupted = True
        state.signal = signal.Signals(signum).name
        state.stop.set()
        reporter.notice(
            f"interrupted ({state.signal}): no new host will start; waiting for running hosts "
            "(again to abort)"
        )

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
