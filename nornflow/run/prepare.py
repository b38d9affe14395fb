"""Preparing a workflow: every task and hook validated, everything per task computed once.

A :class:`PreparedWorkflow` is what runs: each :class:`PreparedTask` holds its task function, its
compiled args, its hook dispatcher, its execution wrappers in nesting order and its options (read
once from hooks such as ``output``). Validation covers every task before the first one runs, and
collects all problems into one error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nornflow.exceptions import NornFlowError, WorkflowError
from nornflow.fileio import OutputPolicy
from nornflow.hooks.base import WrapperHook
from nornflow.hooks.plan import needs_inventory_order
from nornflow.inventory import filters as filters_mod
from nornflow.models.task import TaskModel
from nornflow.models.workflow import WorkflowModel
from nornflow.run.processors import load_processor_class
from nornflow.templating import CompiledArgs, TemplateError, has_template
from nornflow.workflow.catalog import TaskCatalog, TaskInfo
from nornflow.workflow.checks import declares_check_mode

__all__ = ["PreparedTask", "PreparedWorkflow", "prepare"]


@dataclass
class PreparedTask:
    """A validated task: its model, function, compiled args, dispatcher, wrappers and options."""

    model: TaskModel
    info: TaskInfo
    args: CompiledArgs
    dispatcher: Any
    wrappers: tuple[WrapperHook, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    #: the first hosts' pre-hooks run in inventory order before the fan-out (run-once decisions)
    needs_prime: bool = False
    #: keyword arguments the task function always gets from nornflow (``nornflow_files``)
    injected: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The task's name (its catalog name or dotted path)."""
        return self.model.name

    @property
    def check_safe(self) -> bool:
        """Whether the task runs in check mode: its ``check_mode`` hook, else what its function
        declares (a ``dry_run`` argument or ``nornflow_check_mode``; nornflow.workflow.checks)."""
        forced = self.options.get("check_mode")
        return bool(forced) if forced is not None else declares_check_mode(self.info.func)

    @property
    def controls(self) -> dict[str, Any] | None:
        """The change controls of the task (throttle, tags, check_mode) for the results; None: none."""
        found = {k: self.options[k] for k in ("throttle", "check_mode") if k in self.options}
        tags = self.model.hooks.get("tags")
        if tags is not None:
            found["tags"] = [tags] if isinstance(tags, str) else list(tags)
        return found or None

    @property
    def print_output(self) -> bool:
        """Whether the task's output is shown (the ``output`` hook's option; default true)."""
        return bool(self.options.get("print_output", True))


@dataclass
class PreparedWorkflow:
    """A workflow whose every task and hook passed validation; ready to run (any number of times,
    one run at a time)."""

    model: WorkflowModel
    tasks: list[PreparedTask]
    file: str | None = None
    #: the workflow's own processors: ``(class, args, label)``; None uses the project's
    processors: list[tuple[type, dict[str, Any], str]] | None = None
    #: the block tree over ``tasks`` positions (nornflow.models.blocks); None: flat
    tree: list[Any] | None = None
    #: what it was loaded from (a file path or a mapping), so another process can load it again
    source: Any = None


def _injected(task: TaskModel, info: TaskInfo, outputs: OutputPolicy | None) -> dict[str, Any]:
    """What nornflow passes the task function itself: the output policy, with the task's literal
    string args (those without a template: paths the workflow names itself)."""
    if not info.accepts_files:
        return {}
    base = outputs or OutputPolicy.for_project(Path.cwd())
    literals = {k: v for k, v in task.args.items() if isinstance(v, str) and not has_template(v)}
    return {"nornflow_files": replace(base, literals=literals)}


def _prepare_task(task: TaskModel, catalog: TaskCatalog, outputs: OutputPolicy | None) -> PreparedTask:
    tfile, tline = task.source
    origin = task.origin
    try:
        info = catalog.get(task.name)
    except NornFlowError as exc:
        exc.file, exc.line, exc.task = exc.file or tfile, exc.line or tline, task.name
        exc.origin = exc.origin or origin
        raise
    try:
        args = CompiledArgs(task.args)
    except TemplateError as exc:
        raise WorkflowError(
            str(exc), file=tfile, line=tline, task=task.name, key="args", origin=origin
        ) from None
    except RecursionError:
        # Jinja2 and the arg compiler recurse: a template nested thousands of levels deep, or args
        # from Python that contain themselves, must be a located error, not a crash.
        raise WorkflowError(
            "args are nested too deeply (or contain themselves) to compile",
            file=tfile,
            line=tline,
            task=task.name,
            key="args",
            origin=origin,
        ) from None
    check_args = getattr(info.func, "nornflow_validate_args", None)  # e.g. assert's expressions
    if check_args is not None:
        try:
            check_args(task.args)
        except (ValueError, TypeError) as exc:
            raise WorkflowError(
                str(exc), file=tfile, line=tline, task=task.name, key="args", origin=origin
            ) from None
    dispatcher = task.dispatcher  # validates every hook first
    setup = task.setup
    return PreparedTask(
        model=task,
        info=info,
        args=args,
        dispatcher=dispatcher,
        wrappers=tuple(setup.wrappers),
        options=dict(setup.options),
        needs_prime=needs_inventory_order(task.get_pre_hooks()),
        injected=_injected(task, info, outputs),
    )


def prepare(
    model: WorkflowModel, catalog: TaskCatalog, file: str | None = None, outputs: OutputPolicy | None = None
) -> PreparedWorkflow:
    """Validate every task (known function, template syntax) and every hook, collecting problems;
    ``outputs`` is where tasks may write (the project's :class:`~nornflow.fileio.OutputPolicy`;
    default: the current directory)."""
    problems: list[NornFlowError] = []
    prepared: list[PreparedTask] = []
    for task in model.tasks:
        try:
            prepared.append(_prepare_task(task, catalog, outputs))
        except NornFlowError as exc:
            problems.extend(getattr(exc, "problems", None) or [exc])
    if model.inventory_filters:
        try:
            filters_mod.validate_filters(model.inventory_filters)
        except NornFlowError as exc:
            exc.file = exc.file or file
            problems.append(exc)
    processors = None
    if model.processors is not None:
        processors = []
        for n, spec in enumerate(model.processors):
            try:
                cls = load_processor_class(spec, file=file, key=f"processors[{n}].class")
            except NornFlowError as exc:
                problems.append(exc)
                continue
            processors.append((cls, dict(spec.args), spec.class_))
    if problems:
        if len(problems) == 1:
            raise problems[0]
        first = problems[0]
        error = type(first)("\n  ".join(["found several problems:"] + [str(p) for p in problems]))
        error.problems = problems  # type: ignore[attr-defined]
        raise error
    return PreparedWorkflow(model, prepared, file, processors, model.tree)
