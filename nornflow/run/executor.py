"""Executors: what runs one prepared task on a range of the run's hosts and fills their outcome columns.

The driver (``nornflow.run.driver``) owns the order of tasks, the failure strategy, fail-fast and
interrupts; an :class:`Executor` owns the hosts it runs: their Nornir objects, their runtime
variables and their open connections, for the whole run. :class:`LocalExecutor` runs them in this
process on a Nornir runner plugin: nornflow's work-queue runner calls the hot-path step straight by
host index (no per-host ``Task.start``, ``MultiResult`` or ``AggregatedResult``); any other runner,
or any configured processor, goes through Nornir's own protocol (``runner.run(task, hosts)``, with
``Task.start`` per host), where the step is the task function.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nornir.core import Nornir
from nornir.core.configuration import Config
from nornir.core.inventory import Host, Inventory
from nornir.core.state import GlobalState
from nornir.core.task import Task

from nornflow import _hotpath
from nornflow._hotpath import CHANGED, FAILED, NOT_RUN, OK, Outcome
from nornflow.exceptions import NornFlowError, VariableError, hook_failure
from nornflow.hooks.base import WrapperHook
from nornflow.plain import safe_repr, safe_text
from nornflow.run.connections import register_connection_plugins
from nornflow.run.prepare import PreparedTask, PreparedWorkflow
from nornflow.run.processors import GuardedProcessors
from nornflow.run.results import ErrorInfo, TaskResult
from nornflow.run.runners import WorkQueueRunner
from nornflow.settings import runner_class
from nornflow.templating import TemplateError
from nornflow.templating import environment as _environment

__all__ = ["Executor", "LocalExecutor", "RunControl", "RunPlan"]


@dataclass
class RunControl:
    """What the driver shares with an executor while a run goes: the stop flag, what to call when a
    host fails (fail-fast) and, for reporters that want them, per-host completions."""

    stop: threading.Event = field(default_factory=threading.Event)
    #: (host, task) -> None, called when a host's failure counts (the driver applies fail-fast)
    on_failed: Callable[[str, str], None] | None = None
    #: (task model, host, status code) -> None, from worker threads
    on_host: Callable[[Any, str, int], None] | None = None
    #: operator notices (a processor that raised)
    notice: Callable[[str], None] | None = None
    #: the run's outcome observer (its journal), if any: gets the per-host step of every task
    observer: Any = None


@dataclass
class RunPlan:
    """Everything an executor needs to run a workflow: plain data plus the prepared workflow."""

    workflow: PreparedWorkflow
    #: the run's hosts, in inventory order (after filters)
    hosts: list[str]
    #: the merged static variable layers (environment < defaults < workflow vars < CLI vars)
    static_vars: dict[str, Any]
    dry_run: bool
    workers: int
    control: RunControl


class Executor(Protocol):
    """Runs a prepared workflow's tasks on its hosts; host variables and connections live with it."""

    def start(self, plan: RunPlan) -> None:
        """Get ready to run ``plan`` (hosts, variables, runner); called once, before the first task."""

    def run_task(self, index: int, result: TaskResult, positions: Sequence[int] | None) -> None:
        """Run task ``index`` of the plan on the hosts at ``positions`` (``None``: every host) and fill
        their outcome columns in ``result``; hosts left ``NOT_RUN`` were never started."""

    def variables(self) -> dict[str, dict[str, Any]]:
        """Every host's runtime variables (``set``, ``set_to``), in inventory order."""

    def close(self) -> None:
        """Release what the run held: open connections, threads."""


class _Wrapped:
    """One execution wrapper bound around the next call of the chain, for one task run. It names
    its hook when it raises, so the failing wrapper is always known."""

    __slots__ = ("hook", "inner", "model", "vars_mgr")

    def __init__(self, hook: WrapperHook, inner: Callable[..., Outcome], model: Any, vars_mgr: Any) -> None:
        self.hook, self.inner, self.model, self.vars_mgr = hook, inner, model, vars_mgr

    def __call__(self, task: Task, extra: Mapping[str, Any] | None) -> Outcome:
        try:
            return self.hook.execute(self.inner, self.model, task, self.vars_mgr, extra)
        except Exception as exc:
            raise hook_failure(self.hook, self.model, task.host, exc) from exc


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _failure_text(result: Any) -> str:
    text = result if isinstance(result, str) else safe_repr(result)
    return (text or "task reported failure")[:2000]


def error_info(outcome: Outcome) -> ErrorInfo:
    """Why a host failed, from its failed outcome: the error type, message, hook and traceback."""
    exc = outcome.exception
    hook = outcome.hook
    if isinstance(exc, NornFlowError):
        info = ErrorInfo(type(exc).__name__, exc.message, exc.hook or hook)
    elif exc is not None:
        payload = outcome.result
        if isinstance(payload, str) and "Traceback" in payload:
            tb: str | None = payload  # the task's own traceback, as Nornir records it
        elif exc.__traceback__ is not None:
            tb = _traceback(exc)
        else:
            tb = None
        info = ErrorInfo(
            type(exc).__name__, safe_text(exc) or type(exc).__name__, getattr(exc, "hook", None) or hook, tb
        )
    else:
        info = ErrorInfo("TaskFailed", _failure_text(outcome.result), hook)
    info.ignored = outcome.ignored
    return info


@contextlib.contextmanager
def _gc_paused(enabled: bool) -> Iterator[None]:
    """Pause the cyclic GC during a fan-out (the step records every outcome, so the GC has nothing to
    find among the per-host objects; full passes rescanned every live object: ~40% of a 100k run)."""
    if not enabled or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class LocalExecutor:
    """Runs every host in this process on a Nornir runner plugin (threads), with the hot-path step."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        runner: str = "work_queue",
        runner_options: Mapping[str, Any] | None = None,
        processors: Sequence[Any] = (),
        config: Config | None = None,
        pause_gc: bool = False,
    ) -> None:
        """``inventory`` holds the hosts (after filters); ``runner`` names a Nornir runner plugin and
        ``runner_options`` are its arguments; ``processors`` get Nornir's calls; ``pause_gc`` pauses the
        cyclic GC during each fan-out (the CLI asks for it; a library leaves its host process alone)."""
        self.inventory = inventory
        self.runner_name = runner
        self.runner_options = dict(runner_options or {})
        self.processors = list(processors)
        self.config = config or Config()
        self.pause_gc = pause_gc
        self._plan: RunPlan | None = None
        self._nornir: Nornir | None = None
        self._vars: _hotpath.VarsManager | None = None
        self._hosts: list[Host] = []
        self._index: dict[str, int] = {}

    # -- the run ----------------------------------------------------------------------------------

    def start(self, plan: RunPlan) -> None:
        """Build the run's Nornir object (runner, processors, dry run) and its variables."""
        self._plan = plan
        hosts = self.inventory.hosts
        self._hosts = [hosts[name] for name in plan.hosts]
        self._index = {name: i for i, name in enumerate(plan.hosts)}
        self._vars = _hotpath.VarsManager(plan.static_vars, _environment.globals)
        register_connection_plugins()
        processors = GuardedProcessors(self.processors, plan.control.notice) if self.processors else None
        self._nornir = Nornir(
            inventory=self.inventory,
            runner=self._make_runner(plan),
            data=GlobalState(dry_run=plan.dry_run),
            config=self.config,
            processors=processors,
        )

    def _make_runner(self, plan: RunPlan) -> Any:
        options = dict(self.runner_options)
        if self.runner_name == "work_queue":
            options.setdefault("num_workers", plan.workers)
            return WorkQueueRunner(stop_event=plan.control.stop, **options)
        cls = runner_class(self.runner_name)
        with contextlib.suppress(TypeError, ValueError):  # a signature Python cannot inspect
            if "num_workers" in inspect.signature(cls).parameters:
                options.setdefault("num_workers", plan.workers)
        return cls(**options)

    def variables(self) -> dict[str, dict[str, Any]]:
        """Every host's runtime variables, in inventory order (handed over: the run is over)."""
        assert self._plan is not None and self._vars is not None
        return self._vars.runtime_snapshot(self._plan.hosts, copy=False)

    def restore_variables(self, variables: Mapping[str, Mapping[str, Any]], *, replace: bool = False) -> None:
        """Set hosts' runtime variables from a journal (``--resume``): by host name, the variables a
        journaled task set (``replace``: the host's whole set of runtime variables)."""
        assert self._vars is not None
        for name, values in variables.items():
            if replace:
                self._vars.runtime_snapshot([name], copy=False).get(name, {}).clear()
            for key, value in values.items():
                self._vars.set_runtime_var(_Named(name), key, value)

    def close(self) -> None:
        """Close every connection the tasks opened (SSH sessions must not outlive the run)."""
        for host in self._hosts:
            if host.connections:
                # a device that fails to say goodbye must not fail the run
                with contextlib.suppress(Exception):
                    host.close_connections()

    # -- one task ---------------------------------------------------------------------------------

    def run_task(self, index: int, result: TaskResult, positions: Sequence[int] | None) -> None:
        """Run task ``index`` on the hosts at ``positions`` and fill their columns in ``result``."""
        assert self._plan is not None and self._nornir is not None
        task = self._plan.workflow.tasks[index]
        dispatcher = task.dispatcher
        run = None if dispatcher.empty else self._begin_run(task)
        count = len(positions) if positions is not None else len(self._hosts)
        step = self._bind(task, result, positions, run)
        observer = self._plan.control.observer
        if observer is not None:
            observer.bind_step(index, result, step)
        started = time.perf_counter()
        try:
            if count and task.needs_prime:
                self._prime(step, count)
            if count:
                self._fan_out(task, step, count)
            if step.keep is not None:
                self._post_once(step, count)
            nr_failed = self._nornir.data.failed_hosts
            nr_failed.update(result.hosts[i] for i, code in enumerate(result.codes) if code == FAILED)
        finally:
            if run is not None:
                self._end_run(run)
            result.duration = time.perf_counter() - started

    def _begin_run(self, task: PreparedTask) -> Any:
        """Open the task run its exactly-once claims are made on (a shard seeds it with the claims
        other shards won)."""
        return _hotpath.TRACKER.begin_run(task.model)

    def _end_run(self, run: Any) -> None:
        """Close the task run (its claims are forgotten)."""
        _hotpath.TRACKER.end_run(run)

    def _bind(self, task: PreparedTask, result: TaskResult, positions: Sequence[int] | None, run: Any) -> Any:
        """The task run's step, every field bound once: nothing below is computed per host."""
        plan = self._plan
        assert plan is not None and self._vars is not None and self._nornir is not None
        model, info, vm = task.model, task.info, self._vars
        dispatcher = task.dispatcher
        step = _hotpath.TaskStep()
        step.model = model
        step.name = model.name
        step.hosts = self._hosts
        step.index = self._index
        step.positions = list(positions) if positions is not None else None
        step.dispatcher = dispatcher
        step.has_pre = bool(dispatcher.pre_hooks)
        step.has_post = bool(dispatcher.post_hooks)
        step.run = run
        step.vars_mgr = vm
        step.context = vm.context
        step.render = task.args.render
        step.templated = task.args.templated
        step.fixed = task.args.fixed
        step.defaults = {"print_output": task.print_output} if info.accepts_print_output else None
        injected = {**task.injected, **({"nornflow_vars": vm} if info.accepts_vars else {})}
        step.injected = injected or None
        step.func = info.func
        prototype = Task(info.func, self._nornir, plan.dry_run, self._nornir.processors, model.name)
        step.task_attrs = {k: v for k, v in vars(prototype).items() if k != "results"}
        call: Any = step.invoke
        for wrapper in reversed(task.wrappers):
            call = _Wrapped(wrapper, call, model, vm)
        step.call = call if task.wrappers else None
        step.codes = result.codes
        step.payloads = result.payloads
        step.durations = result.durations
        step.diffs = result.diffs
        step.extras = result.extras
        step.skip_reasons = result.skip_reasons
        step.keep = [None] * len(self._hosts) if dispatcher.post_once else None
        step.on_exception = self._task_failed(model.name)
        step.on_failure = self._recorder(result, model.name, plan.control.on_failed)
        on_host = plan.control.on_host
        step.on_done = (lambda i, code: on_host(model, result.hosts[i], code)) if on_host else None
        step.stop = plan.control.stop
        return step

    @staticmethod
    def _task_failed(task_name: str) -> Callable[[Task, BaseException], Outcome]:
        """What a task (or its args' templates) raising becomes: the host's failed outcome."""

        def failed(task: Task, exc: BaseException) -> Outcome:
            host = task.host
            if isinstance(exc, TemplateError):
                message = (
                    f"undefined variable {exc.undefined!r} ({exc.message})" if exc.undefined else exc.message
                )
                err = VariableError(message, task=task_name, host=host.name, key=getattr(exc, "path", None))
                return _hotpath.Outcome(host, err.message, False, True, err)
            return _hotpath.Outcome(host, _traceback(exc), False, True, exc)

        return failed

    @staticmethod
    def _recorder(
        result: TaskResult, task_name: str, on_failed: Callable[[str, str], None] | None
    ) -> Callable[[int, Outcome], None]:
        """Record why host ``i`` failed (from its outcome) and tell the driver when it counts."""
        errors = result.errors
        names = result.hosts

        def record(i: int, outcome: Outcome) -> None:
            errors[i] = error_info(outcome)
            if on_failed is not None and not outcome.ignored:
                on_failed(names[i], task_name)

        return record

    def _prime(self, step: Any, count: int) -> None:
        """Run the pre-hooks of hosts in inventory order until one passes, before the fan-out, so that
        "the first eligible host" of a run-once decision is the first in inventory order."""
        primed: dict[int, Any] = {}
        positions = step.positions
        for k in range(count):
            i = positions[k] if positions is not None else k
            try:
                decision = step.dispatcher.run_pre(step.model, self._hosts[i], step.vars_mgr, step.run)
            except Exception as exc:
                primed[i] = exc
                continue
            primed[i] = decision
            if decision is True:
                break
        step.primed = primed

    def _fan_out(self, task: PreparedTask, step: Any, count: int) -> None:
        """Run the step on every host: the work-queue runner's fast path, or Nornir's protocol."""
        nr = self._nornir
        assert nr is not None
        runner = nr.runner
        if isinstance(runner, WorkQueueRunner) and not nr.processors:
            with _gc_paused(self.pause_gc):
                errors = runner.run_each(step, count)
            self._runner_errors(step, errors)
            return
        hosts = [self._hosts[i] for i in (step.positions if step.positions is not None else range(count))]
        nr_task = Task(step.run_task, nr, nr.data.dry_run, nr.processors, task.name)
        nr.processors.task_started(nr_task)
        try:
            with _gc_paused(self.pause_gc):
                aggregated = runner.run(nr_task, hosts)
        except Exception as exc:  # the runner itself broke: its hosts that did not finish failed
            self._runner_broke(step, hosts, exc)
            return
        nr.processors.task_completed(nr_task, aggregated)

    def _runner_errors(self, step: Any, errors: dict[int, BaseException]) -> None:
        """What the step raised outside any task (a nornflow or reporter bug): the host still failed,
        and the run says so rather than lose it. KeyboardInterrupt/SystemExit end the run."""
        for k in sorted(errors):
            if not isinstance(errors[k], Exception):
                raise errors[k]
        for k, exc in errors.items():
            i = step.positions[k] if step.positions is not None else k
            step.codes[i] = FAILED
            step.on_failure(i, _hotpath.Outcome(self._hosts[i], None, False, True, exc))

    def _runner_broke(self, step: Any, hosts: list[Host], exc: Exception) -> None:
        for host in hosts:
            i = self._index[host.name]
            if step.codes[i] == NOT_RUN:
                step.codes[i] = FAILED
                error = RuntimeError(f"runner {self.runner_name!r} raised {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                step.on_failure(i, _hotpath.Outcome(host, None, False, True, error))

    def _post_once(self, step: Any, count: int) -> None:
        """Run the once-per-task post-hooks on the first host (inventory order) that ran the task."""
        positions = step.positions
        for k in range(count):
            i = positions[k] if positions is not None else k
            outcome = step.keep[i]
            if outcome is not None and step.codes[i] in (OK, CHANGED, FAILED):
                host = self._hosts[i]
                try:
                    step.dispatcher.run_post_once(step.model, host, outcome, step.vars_mgr, step.run)
                except Exception as exc:
                    outcome = _hotpath.Outcome(host, None, False, True, exc)
                    step.codes[i] = FAILED
                    step.on_failure(i, outcome)
                    return
                step.record(i, outcome)
                return


class _Named:
    """A host known by its name only (what the variables manager keys on)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name
