"""The workflow engine: settings -> inventory -> workflow -> run, with hooks on every host.

``NornFlow(...)`` is the Python API: build it from a settings path (``nornflow.yaml``) or from objects,
then ``run(workflow)`` returns a :class:`~nornflow.run.results.WorkflowResult`. Every task and hook is
validated before the first task runs; each task then runs over the active hosts on the work-queue
runner's threads, with its hooks dispatched per host through the compiled hot path. Each host's task
function gets its own Nornir ``Task`` (subtasks, connections and ``task.nornir`` work as usual), and its
outcome is recorded column-wise in the ``TaskResult``: no ``MultiResult``/``AggregatedResult`` is built
and no per-host object outlives the host's step unless a once-per-task post-hook needs its result.

Per-host failures never abort the run: a task, hook or template that fails on a host fails that host
for that task, and the failure strategy decides what happens next.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
import traceback
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornir.core import Nornir
from nornir.core.configuration import Config
from nornir.core.inventory import Host, Inventory
from nornir.core.state import GlobalState
from nornir.core.task import Result, Task

from nornflow.exceptions import (
    HookExecutionError,
    InventoryError,
    NornFlowError,
    SettingsError,
    TaskNotFoundError,
    VariableError,
    WorkflowError,
)
from nornflow.hooks.builtins.results import IGNORED_ATTR
from nornflow.hooks.loader import load_hook_dirs
from nornflow.inventory import filters as filters_mod
from nornflow.models.task import TaskModel
from nornflow.models.workflow import WorkflowModel
from nornflow.run.results import (
    CHANGED,
    FAILED,
    NOT_RUN,
    OK,
    SKIPPED,
    ErrorInfo,
    TaskResult,
    WorkflowResult,
)
from nornflow.run.runners import WorkQueueRunner
from nornflow.settings import FailureStrategy, Settings
from nornflow.templating import CompiledArgs, TemplateError
from nornflow.vars import VarsManager, env_vars
from nornflow.workflow.catalog import TaskCatalog, TaskInfo
from nornflow.workflow.loader import safe_workflow_lookup

__all__ = ["IGNORED_ATTR", "NornFlow", "PreparedTask", "PreparedWorkflow", "Reporter"]


class Reporter:
    """Receives run events (the CLI's console output implements it). Every method is optional.

    ``host_completed`` is called from worker threads and only when ``per_host`` is true, so a
    reporter that only needs task-level events costs nothing per host. A progress display does not
    need it either: ``task_running`` hands over the task's live result to poll.
    """

    per_host: bool = False

    def workflow_started(self, workflow: WorkflowModel, hosts: Sequence[str]) -> None:
        """The run begins on ``hosts`` (after validation and filtering)."""

    def task_started(self, task: TaskModel, index: int, hosts: int) -> None:
        """Task number ``index`` starts on ``hosts`` active hosts."""

    def task_running(self, task: TaskModel, result: TaskResult) -> None:
        """The task's hosts start; ``result`` fills in as they finish (``result.pending()`` counts
        down), so a display can poll it at its own pace instead of taking an event per host."""

    def host_completed(self, task: TaskModel, host: str, code: int) -> None:
        """One host finished a task (``code`` is a ``nornflow.run.results`` status code)."""

    def task_completed(self, task: TaskModel, result: TaskResult) -> None:
        """A task finished on every host."""

    def notice(self, message: str) -> None:
        """Something the operator should know (fail-fast stop, interrupt)."""

    def workflow_completed(self, result: WorkflowResult) -> None:
        """The run is over (also after an interrupt)."""


@dataclass
class PreparedTask:
    """A validated task: its model, function, compiled args and hook dispatcher."""

    model: TaskModel
    info: TaskInfo
    args: CompiledArgs
    dispatcher: Any


@dataclass
class PreparedWorkflow:
    """A workflow whose every task and hook passed validation; ready to run."""

    model: WorkflowModel
    tasks: list[PreparedTask]
    file: str | None = None


@dataclass
class _RunState:
    stop: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False
    stopped: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_fast(self, host: str, task: str) -> None:
        with self.lock:
            if self.stopped is None:
                self.stopped = f"fail-fast: host {host!r} failed task {task!r}; no new host was scheduled"
        self.stop.set()


def _parse_cli_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def parse_assignments(items: Sequence[str], what: str = "--vars") -> dict[str, Any]:
    """Parse ``key=value`` pairs (values read as YAML scalars/lists, so ``n=3`` is an int)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkflowError(f"{what} takes key=value, got {item!r}", key=what)
        out[key] = _parse_cli_value(value)
    return out


class NornFlow:
    """Run YAML workflows with hooks on a Nornir inventory."""

    def __init__(
        self,
        settings: Settings | str | Path | None = None,
        *,
        nornir: Nornir | None = None,
        inventory: Inventory | None = None,
        workers: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if settings is None:
            self.settings = Settings(base_dir=Path.cwd())
        elif isinstance(settings, Settings):
            self.settings = settings
        else:
            self.settings = Settings.load(settings)
        self.workers = workers if workers is not None else self.settings.workers
        if self.workers < 1:
            raise SettingsError(f"workers must be >= 1, got {self.workers}", key="workers")
        self._environ = environ
        self._nornir = nornir
        self._inventory = inventory if inventory is not None else (nornir.inventory if nornir else None)
        load_hook_dirs(self.settings.resolve(d) for d in self.settings.hook_dirs)
        self.catalog = TaskCatalog(self.settings.resolve(d) for d in self.settings.task_dirs)

    # -- inventory ---------------------------------------------------------------------------------

    @property
    def inventory(self) -> Inventory:
        """The inventory (loaded once, on first use; the GC is frozen afterwards for big fleets)."""
        if self._inventory is None:
            self._inventory = self._load_inventory()
            if len(self._inventory.hosts) >= 1000:
                gc.collect()
                gc.freeze()
        return self._inventory

    def _load_inventory(self) -> Inventory:
        s = self.settings
        if s.nornir_config_file:
            from nornir import InitNornir

            path = s.resolve(s.nornir_config_file)
            if not path.is_file():
                raise SettingsError("Nornir config file not found", file=str(path), key="nornir_config_file")
            try:
                nr = InitNornir(config_file=str(path))
            except NornFlowError:
                raise
            except Exception as exc:
                raise InventoryError(
                    f"cannot load inventory: {type(exc).__name__}: {exc}", file=str(path)
                ) from exc
            self._config = nr.config
            return nr.inventory
        from nornflow.inventory import inventory_from_data, load_inventory

        inv = s.inventory
        if inv is None:
            default = s.resolve("inventory/hosts.yaml")
            if default.is_file():
                return load_inventory(
                    default, s.resolve("inventory/groups.yaml"), s.resolve("inventory/defaults.yaml")
                )
            raise SettingsError(
                "no inventory: set 'inventory' (host_file or inline hosts) or 'nornir_config_file'",
                file=s.source,
                key="inventory",
            )
        if inv.hosts is not None:
            return inventory_from_data(inv.hosts, inv.groups or {}, inv.defaults or {}, source=s.source)
        assert inv.host_file is not None
        return load_inventory(
            s.resolve(inv.host_file),
            s.resolve(inv.group_file) if inv.group_file else None,
            s.resolve(inv.defaults_file) if inv.defaults_file else None,
        )

    # -- workflows ---------------------------------------------------------------------------------

    @safe_workflow_lookup
    def find_workflow(self, name: str) -> Path | None:
        """Resolve a workflow reference: a path, or a name in the workflow dirs (with/without .yaml)."""
        direct = Path(name).expanduser()
        if direct.suffix in (".yaml", ".yml") and direct.is_file():
            return direct
        if (self.settings.base_dir / name).is_file() and direct.suffix in (".yaml", ".yml"):
            return self.settings.base_dir / name
        for directory in self.settings.workflow_dirs:
            base = self.settings.resolve(directory)
            for candidate in (base / name, base / f"{name}.yaml", base / f"{name}.yml"):
                if candidate.is_file():
                    return candidate
        return None

    def workflows(self) -> dict[str, Path]:
        """Every workflow file in the workflow dirs, by name."""
        found: dict[str, Path] = {}
        for directory in self.settings.workflow_dirs:
            base = self.settings.resolve(directory)
            if base.is_dir():
                for path in sorted([*base.rglob("*.yaml"), *base.rglob("*.yml")]):
                    found.setdefault(path.stem, path)
        return found

    def load_workflow(self, ref: str | Path | Mapping[str, Any] | WorkflowModel) -> PreparedWorkflow:
        """Load and fully validate a workflow: a model, a mapping, a file, a workflow name or a task."""
        from nornflow.workflow.loader import load_workflow_file, workflow_from_mapping

        file = None
        if isinstance(ref, WorkflowModel):
            model = ref
        elif isinstance(ref, Mapping):
            model = workflow_from_mapping(ref)
        else:
            path = self.find_workflow(str(ref))
            if path is not None:
                file = str(path)
                model = load_workflow_file(path)
            elif isinstance(ref, str) and not ref.endswith((".yaml", ".yml")):
                try:
                    self.catalog.get(ref)
                except TaskNotFoundError as exc:
                    raise WorkflowError(
                        f"{ref!r} is neither a workflow (in {', '.join(self.settings.workflow_dirs)}) "
                        f"nor a task ({exc.message})"
                    ) from None
                model = WorkflowModel.create({"name": ref, "tasks": [{"name": ref}]})
            else:
                raise WorkflowError(f"workflow file not found: {ref}", file=str(ref))
        return self.prepare(model, file=file)

    def prepare(self, model: WorkflowModel, file: str | None = None) -> PreparedWorkflow:
        """Validate every task (known function, template syntax) and every hook, collecting problems."""
        problems: list[NornFlowError] = []
        prepared: list[PreparedTask] = []
        for task in model.tasks:
            tfile, tline = task.source
            try:
                info = self.catalog.get(task.name)
            except NornFlowError as exc:
                exc.file, exc.line, exc.task = exc.file or tfile, exc.line or tline, task.name
                problems.append(exc)
                continue
            try:
                args = CompiledArgs(task.args)
            except TemplateError as exc:
                problems.append(WorkflowError(str(exc), file=tfile, line=tline, task=task.name, key="args"))
                continue
            except RecursionError:
                # Jinja2 and the arg compiler recurse: a template nested thousands of levels deep, or
                # args from Python that contain themselves, must be a located error, not a crash.
                problems.append(
                    WorkflowError(
                        "args are nested too deeply (or contain themselves) to compile",
                        file=tfile,
                        line=tline,
                        task=task.name,
                        key="args",
                    )
                )
                continue
            try:
                dispatcher = task.dispatcher
            except NornFlowError as exc:
                problems.extend(getattr(exc, "problems", None) or [exc])
                continue
            prepared.append(PreparedTask(task, info, args, dispatcher))
        if model.inventory_filters:
            try:
                filters_mod.validate_filters(model.inventory_filters)
            except NornFlowError as exc:
                exc.file = exc.file or file
                problems.append(exc)
        if problems:
            if len(problems) == 1:
                raise problems[0]
            first = problems[0]
            error = type(first)("\n  ".join(["found several problems:"] + [str(p) for p in problems]))
            error.problems = problems  # type: ignore[attr-defined]
            raise error
        return PreparedWorkflow(model, prepared, file)

    def validate(self, ref: str | Path | Mapping[str, Any] | WorkflowModel) -> PreparedWorkflow:
        """Every check a run makes before touching a device, including inventory and filters."""
        prepared = self.load_workflow(ref)
        inventory = self.inventory
        if prepared.model.inventory_filters:
            filters_mod.apply_filters(inventory, prepared.model.inventory_filters)
        return prepared

    # -- running -----------------------------------------------------------------------------------

    def _defaults_vars(self) -> dict[str, Any]:
        from nornflow.yamlio import load_yaml_file

        path = self.settings.resolve(self.settings.vars_dir) / "defaults.yaml"
        if not path.is_file():
            return {}
        data = load_yaml_file(path)
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise SettingsError("defaults.yaml must be a mapping of variable names to values", file=str(path))
        return dict(data)

    def run(
        self,
        workflow: str | Path | Mapping[str, Any] | WorkflowModel | PreparedWorkflow,
        *,
        vars: Mapping[str, Any] | None = None,
        filters: Mapping[str, Any] | None = None,
        failure_strategy: FailureStrategy | str | None = None,
        dry_run: bool | None = None,
        workers: int | None = None,
        reporter: Reporter | None = None,
        handle_sigint: bool = True,
    ) -> WorkflowResult:
        """Run ``workflow`` and return its structured result (never raises for per-host failures)."""
        prepared = workflow if isinstance(workflow, PreparedWorkflow) else self.load_workflow(workflow)
        wf = prepared.model
        reporter = reporter or Reporter()
        strategy = FailureStrategy(failure_strategy or wf.failure_strategy or self.settings.failure_strategy)
        dry = (
            dry_run
            if dry_run is not None
            else (wf.dry_run if wf.dry_run is not None else self.settings.dry_run)
        )
        n_workers = workers if workers is not None else self.workers
        if n_workers < 1:
            raise SettingsError(f"workers must be >= 1, got {n_workers}", key="workers")

        inventory = self.inventory
        if wf.inventory_filters:
            inventory = filters_mod.apply_filters(inventory, wf.inventory_filters)
        if filters:
            inventory = filters_mod.apply_filters(inventory, filters)
        vm = VarsManager(
            workflow_vars=wf.vars,
            cli_vars=vars,
            defaults=self._defaults_vars(),
            environment=env_vars(self._environ),
        )
        hosts = list(inventory.hosts.values())
        names = [h.name for h in hosts]
        host_index = {name: i for i, name in enumerate(names)}
        state = _RunState()
        mode = self.settings.runner
        runner = WorkQueueRunner(
            num_workers=1 if mode == "serial" else n_workers,
            stop_event=state.stop,
            adaptive=mode == "work_queue",
        )
        _register_nornir_plugins()
        config = getattr(self, "_config", None) or Config()
        nr = Nornir(inventory=inventory, runner=runner, data=GlobalState(dry_run=dry), config=config)

        result = WorkflowResult(workflow=wf.name, hosts=names, dry_run=dry, failure_strategy=strategy.value)
        reporter.workflow_started(wf, names)
        started = time.perf_counter()
        with _sigint_stops(state, reporter, enabled=handle_sigint):
            for index, task in enumerate(prepared.tasks):
                tr = TaskResult(task.model.name, index, names, host_index)
                result.tasks.append(tr)
                if state.stop.is_set():
                    reason = "run interrupted" if state.interrupted else "run stopped (fail-fast)"
                    for i in range(len(names)):
                        tr.skip_reasons[i] = reason
                    continue
                self._run_task(task, nr, hosts, tr, vm, state, strategy, reporter)
        _close_connections(nr)
        result.duration = time.perf_counter() - started
        result.interrupted = state.interrupted
        result.stopped = state.stopped
        result.variables = vm.runtime_snapshot(copy=False)  # the run is over: hand the dicts over
        reporter.workflow_completed(result)
        return result

    def _run_task(
        self,
        task: PreparedTask,
        nr: Nornir,
        hosts: list[Host],
        tr: TaskResult,
        vm: VarsManager,
        state: _RunState,
        strategy: FailureStrategy,
        reporter: Reporter,
    ) -> None:
        model = task.model
        dispatcher = task.dispatcher
        names = tr.hosts
        codes = tr.codes
        failed_before = nr.data.failed_hosts
        positions: list[int] | None = None
        if strategy is FailureStrategy.RUN_ALL or not failed_before:
            active = hosts
        else:
            active, positions = [], []
            for i, host in enumerate(hosts):
                if names[i] in failed_before:
                    codes[i] = SKIPPED
                    tr.skip_reasons[i] = "failed in an earlier task"
                else:
                    active.append(host)
                    positions.append(i)
        reporter.task_started(model, tr.task_index, len(active))
        reporter.task_running(model, tr)
        run = None if dispatcher.empty else dispatcher.begin_run(model)
        started = time.perf_counter()
        try:
            if run is not None and dispatcher.needs_prime and active:
                dispatcher.prime(model, active, vm)
            # Results are recorded column-wise by the step; a host's Result object is kept only when a
            # once-per-task post-hook needs it after the fan-out.
            keep: list[Result | None] | None = None
            if run is not None and dispatcher.post_once:
                keep = [None] * len(names)
            step = self._make_step(task, nr, active, positions, tr, vm, state, strategy, reporter, run, keep)
            errors: dict[int, BaseException] = {}
            if active:
                # The step records every outcome itself, so the cyclic GC has nothing to find among the
                # per-host objects of the fan-out: pausing it there saved ~40% of a 100k-host run (full
                # passes rescanned every live object). Cycles are collected right after.
                gc_was_enabled = gc.isenabled()
                gc.disable()
                try:
                    errors = nr.runner.run_each(step, len(active))
                finally:
                    if gc_was_enabled:
                        gc.enable()
            for k in sorted(errors):
                if not isinstance(errors[k], Exception):
                    raise errors[k]  # KeyboardInterrupt / SystemExit outside any task: end the run
            for k, exc in errors.items():
                # The step catches everything a task or hook raises, so this is a nornflow bug (or a
                # reporter's): the host still failed, and the run must say so rather than lose it.
                i = positions[k] if positions is not None else k
                codes[i] = FAILED
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                tr.errors[i] = ErrorInfo(type(exc).__name__, str(exc) or type(exc).__name__, None, tb)
            if keep is not None:
                self._post_once(task, tr, active, positions, keep, vm)
            if NOT_RUN in codes:
                reason = "run interrupted" if state.interrupted else "run stopped before this host"
                for i, code in enumerate(codes):
                    if code == NOT_RUN:
                        tr.skip_reasons.setdefault(i, reason)
            if FAILED in codes:
                failed_before.update(names[i] for i, code in enumerate(codes) if code == FAILED)
            tr.print_output = bool(vm.get_task_option(model, "print_output", True))
        finally:
            if run is not None:
                dispatcher.end_run()
            vm.end_task_run(model)
            tr.duration = time.perf_counter() - started
        reporter.task_completed(model, tr)

    def _post_once(
        self,
        task: PreparedTask,
        tr: TaskResult,
        active: list[Host],
        positions: list[int] | None,
        keep: list[Result | None],
        vm: VarsManager,
    ) -> None:
        """Run once-per-task post-hooks on the first host (inventory order) that ran the task."""
        for k, host in enumerate(active):
            i = positions[k] if positions is not None else k
            result = keep[i]
            if result is not None and tr.codes[i] in (OK, CHANGED, FAILED):
                try:
                    task.dispatcher.run_post_once(task.model, host, result, vm)
                except HookExecutionError as exc:
                    tr.codes[i] = FAILED
                    tr.errors[i] = ErrorInfo(type(exc).__name__, exc.message, exc.hook)
                return

    def _make_step(
        self,
        task: PreparedTask,
        nr: Nornir,
        active: list[Host],
        positions: list[int] | None,
        tr: TaskResult,
        vm: VarsManager,
        state: _RunState,
        strategy: FailureStrategy,
        reporter: Reporter,
        run: Any,
        keep: list[Result | None] | None,
    ) -> Callable[[int], None]:
        """Build ``step(k)``, run by the workers for host ``active[k]``: pre-hooks, args, task,
        post-hooks, and the outcome recorded in ``tr``. Everything is bound here, once per task run."""
        model = task.model
        func = task.info.func
        dispatcher = task.dispatcher
        has_pre = bool(dispatcher.pre_hooks)
        has_post = bool(dispatcher.post_hooks)
        run_pre = dispatcher.run_pre
        run_post = dispatcher.run_post
        primed = run.primed if run is not None else None
        args = task.args
        templated = args.templated
        render = args.render
        context = vm.context
        accepts_print = task.info.accepts_print_output
        accepts_vars = task.info.accepts_vars
        names = tr.hosts
        codes = tr.codes
        payloads = tr.payloads
        durations = tr.durations
        errors = tr.errors
        fail_fast = strategy is FailureStrategy.FAIL_FAST
        per_host = reporter.per_host
        host_completed = reporter.host_completed
        perf = time.perf_counter
        task_name = model.name
        processors = nr.processors
        dry_run = nr.data.dry_run

        wraps = any(hasattr(h, "execute") for h in dispatcher.pre_hooks)
        skip_reasons = tr.skip_reasons
        extras = tr.extras

        def fail(i: int, host: Host, exc: BaseException, hook: str | None = None) -> Result:
            message = exc.message if isinstance(exc, NornFlowError) else str(exc)
            tb = None
            if not isinstance(exc, NornFlowError):
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            errors[i] = ErrorInfo(type(exc).__name__, message or type(exc).__name__, hook, tb)
            codes[i] = FAILED
            return Result(host=host, result=tb or message, exception=exc, failed=True)

        def new_task(host: Host) -> Task:
            """The Nornir ``Task`` the function receives (what ``Task.copy()`` + ``start`` would set up:
            processors are never registered on nornflow's ``Nornir``, so there is nothing to notify)."""
            nr_task = Task(func, nr, dry_run, processors, task_name)
            nr_task.host = host
            return nr_task

        def invoke(nr_task: Task, host: Host, extra: Mapping[str, Any] | None = None) -> Result:
            """Render the args for ``host`` (with ``extra`` variables) and run the task once."""
            try:
                if templated:
                    ctx = context(host)
                    kwargs = render(ChainMap(extra, ctx) if extra else ctx)
                else:
                    kwargs = render(None)
                if accepts_print:
                    kwargs.setdefault("print_output", vm.get_task_option(model, "print_output", True))
                if accepts_vars:
                    kwargs["nornflow_vars"] = vm
                r = func(nr_task, **kwargs)
            except TemplateError as exc:
                err = VariableError(
                    f"undefined variable {exc.undefined!r} ({exc.message})" if exc.undefined else exc.message,
                    task=task_name,
                    host=host.name,
                    key=getattr(exc, "path", None),
                )
                return Result(host=host, result=err.message, exception=err, failed=True)
            except (Exception, SystemExit) as exc:  # a task calling sys.exit() fails its host, not the run
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                return Result(host=host, result=tb, exception=exc, failed=True)
            return r if isinstance(r, Result) else Result(host=host, result=r)

        def wrapped(nr_task: Task, host: Host, wrappers: list[Any]) -> Result:
            def call(extra: Mapping[str, Any] | None) -> Result:
                return invoke(nr_task, host, extra)

            for wrapper in reversed(wrappers):
                call = _nest(wrapper, call, model, host, vm)
            try:
                return call(None)
            except NornFlowError as exc:
                raise HookExecutionError(
                    exc.message, task=task_name, host=host.name, hook=_hook_of(wrappers, exc)
                ) from exc
            except Exception as exc:
                raise HookExecutionError(
                    f"{type(exc).__name__}: {exc}",
                    task=task_name,
                    host=host.name,
                    hook=_hook_of(wrappers, exc),
                ) from exc

        def step(k: int) -> None:
            host = active[k]
            i = positions[k] if positions is not None else k
            t0 = perf()
            try:
                if has_pre:
                    ok = primed.pop(names[i], None) if primed else None
                    if ok is None:
                        ok = run_pre(model, host, vm)
                    elif isinstance(ok, BaseException):
                        raise ok
                    if not ok:
                        codes[i] = SKIPPED
                        reason = vm.pop_skip_reason(host)
                        if reason:
                            skip_reasons[i] = reason
                        if wraps:
                            vm.pop_execution_wrappers(host)
                        durations[i] = perf() - t0
                        if per_host:
                            host_completed(model, names[i], SKIPPED)
                        return
                wrappers = vm.pop_execution_wrappers(host) if wraps else None
                nr_task = new_task(host)
                r = wrapped(nr_task, host, wrappers) if wrappers else invoke(nr_task, host)
                r.name = task_name
                if has_post:
                    run_post(model, host, r, vm)
                r = record(i, host, r)
            except HookExecutionError as exc:
                r = fail(i, host, exc, exc.hook)
            except Exception as exc:  # a hook or wrapper bug: still only this host fails
                r = fail(i, host, exc)
            if keep is not None:
                keep[i] = r
            code = codes[i]
            durations[i] = perf() - t0
            if code == FAILED and fail_fast:
                state.fail_fast(names[i], task_name)
            if per_host:
                host_completed(model, names[i], code)

        def record(i: int, host: Host, r: Result) -> Result:
            """Settle the host's status from its (possibly hook-redefined) result."""
            payloads[i] = r.result
            extra = getattr(r, "nornflow_extra", None)
            if extra:
                extras[i] = extra
            if r.failed:
                exc = r.exception
                if isinstance(exc, NornFlowError):
                    error = ErrorInfo(type(exc).__name__, exc.message, exc.hook)
                elif exc is not None:
                    tb = r.result if isinstance(r.result, str) and "Traceback" in r.result else None
                    error = ErrorInfo(
                        type(exc).__name__, str(exc) or type(exc).__name__, getattr(exc, "hook", None), tb
                    )
                else:
                    error = ErrorInfo("TaskFailed", _failure_text(r))
                errors[i] = error
                if getattr(r, IGNORED_ATTR, False):
                    error.ignored = True
                    codes[i] = OK
                    return Result(host=host, result=r.result, changed=r.changed)
                codes[i] = FAILED
                return r
            codes[i] = CHANGED if r.changed else OK
            if r.diff:
                tr.diffs[i] = r.diff
            return r

        return step


def _nest(
    wrapper: Any, inner: Callable[..., Result], model: Any, host: Host, vm: Any
) -> Callable[..., Result]:
    def call(extra: Mapping[str, Any] | None) -> Result:
        return wrapper.execute(inner, extra, model, host, vm)

    call.wrapper = wrapper  # type: ignore[attr-defined]
    return call


def _hook_of(wrappers: list[Any], exc: BaseException) -> str | None:
    """The hook whose wrapper raised ``exc`` (the innermost frame that belongs to one)."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and any(owner is w for w in wrappers):
            found = owner.hook_name
        tb = tb.tb_next
    return found or (wrappers[0].hook_name if wrappers else None)


def _register_nornir_plugins() -> None:
    """Register Nornir's connection plugins (netmiko, napalm, ...) as ``InitNornir`` would.

    nornflow builds its ``Nornir`` object itself, so without this a project whose inventory is not
    loaded through a Nornir config file could not open any connection (``PluginNotRegistered``).
    Scanning the entry points costs milliseconds, so it is done once per process, unless a plugin
    went missing since (tests reset the register).
    """
    from nornir.core.plugins.connections import ConnectionPluginRegister

    if not _PLUGINS_REGISTERED or not ConnectionPluginRegister.available:
        ConnectionPluginRegister.auto_register()
        _PLUGINS_REGISTERED.append(True)


_PLUGINS_REGISTERED: list[bool] = []


def _close_connections(nr: Nornir) -> None:
    """Close every connection tasks opened (SSH sessions must not outlive the run)."""
    for host in nr.inventory.hosts.values():
        if host.connections:
            # a device that fails to say goodbye must not fail the run
            with contextlib.suppress(Exception):
                host.close_connections()


def _failure_text(r: Result) -> str:
    text = r.result if isinstance(r.result, str) else repr(r.result)
    return (text or "task reported failure")[:2000]


@contextlib.contextmanager
def _sigint_stops(state: _RunState, reporter: Reporter, enabled: bool = True) -> Iterator[None]:
    """During a run, the first Ctrl-C stops scheduling (in-flight hosts finish); a second one aborts."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if state.interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        state.interrupted = True
        state.stop.set()
        reporter.notice(
            "interrupted: no new host will start; waiting for running hosts (Ctrl-C again to abort)"
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
