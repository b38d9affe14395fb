"""``WorkflowModel``: a named, ordered list of tasks with variables, filters and a failure strategy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from nornflow.exceptions import WorkflowError
from nornflow.models.blocks import Node, flatten
from nornflow.models.runnable import _validation_error
from nornflow.models.serial import parse_serial
from nornflow.models.task import TaskModel
from nornflow.settings import FailureStrategy, ProcessorSpec, without_other_nornflow_processors

__all__ = ["FailureStrategy", "WorkflowModel"]


class WorkflowModel(BaseModel):
    """A workflow as written in YAML under the top-level ``workflow:`` key."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(min_length=1)
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    inventory_filters: dict[str, Any] = Field(default_factory=dict)
    failure_strategy: FailureStrategy | None = None
    dry_run: bool | None = None
    #: Nornir processors of this workflow's runs; ``None`` uses the project's (settings), ``[]`` none.
    processors: list[ProcessorSpec] | None = None
    tasks: list[TaskModel] = Field(min_length=1)
    #: rolling batches: a number of hosts, a percentage ("10%") or a list of them (nornflow.models.serial)
    serial: int | str | list[int | str] | None = None
    #: abort the remaining batches when more than this percentage of a batch's hosts failed
    max_fail_percentage: float | None = Field(default=None, ge=0, le=100)

    #: the block tree over ``tasks`` positions (nornflow.models.blocks); None: a flat workflow
    _tree: list[Node] | None = PrivateAttr(default=None)

    @field_validator("serial")
    @classmethod
    def _serial(cls, value: Any) -> Any:
        """Sizes are numbers of hosts >= 1 or percentages in (0%, 100%]."""
        parse_serial(value)
        return value

    @property
    def tree(self) -> list[Node] | None:
        """The blocks of the workflow over task positions, or None when it has none."""
        return self._tree

    @field_validator("processors")
    @classmethod
    def _own_processors(cls, value: list[ProcessorSpec] | None) -> list[ProcessorSpec] | None:
        """NornFlow 1.0's own processors are left out (``processors: [DefaultNornFlowProcessor]``
        keeps nornflow's console, as it kept 1.0's)."""
        return None if value is None else without_other_nornflow_processors(value)

    @classmethod
    def create(
        cls,
        data: Mapping[str, Any],
        *,
        file: str | None = None,
        task_lines: list[int | None] | None = None,
        line: int | None = None,
        task_files: list[str | None] | None = None,
        task_origins: list[str | None] | None = None,
        tree: list[Node] | None = None,
    ) -> Self:
        """Build a workflow from the mapping under ``workflow:``, creating each task with its hooks.

        ``task_lines``/``task_files``/``task_origins`` say where each task was written (a task from a
        blueprint: the blueprint's file, and how it was included), for error messages."""
        if not isinstance(data, Mapping):
            raise WorkflowError(
                f"'workflow' must be a mapping, got {type(data).__name__}",
                file=file,
                line=line,
                key="workflow",
            )
        fields = set(cls.model_fields)
        unknown = [k for k in data if k not in fields]
        if unknown:
            raise WorkflowError(
                f"unknown key {unknown[0]!r} in workflow (valid keys: {', '.join(sorted(fields))})",
                file=file,
                line=line,
                key=str(unknown[0]),
            )
        raw_tasks = data.get("tasks")
        if not isinstance(raw_tasks, list) or not raw_tasks:
            raise WorkflowError(
                "'tasks' must be a non-empty list of tasks", file=file, line=line, key="tasks"
            )
        if tree is None and any(isinstance(raw, Mapping) and "block" in raw for raw in raw_tasks):
            n = len(raw_tasks)
            flat, tree = flatten(
                [
                    (
                        raw,
                        task_files[i] if task_files and i < len(task_files) else file,
                        task_lines[i] if task_lines and i < len(task_lines) else line,
                        task_origins[i] if task_origins and i < len(task_origins) else None,
                    )
                    for i, raw in enumerate(raw_tasks[:n])
                ]
            )
            raw_tasks = [t[0] for t in flat]
            task_files, task_lines, task_origins = (
                [t[1] for t in flat],
                [t[2] for t in flat],
                [t[3] for t in flat],
            )
        tasks = []
        for index, raw in enumerate(raw_tasks):
            task_line = task_lines[index] if task_lines and index < len(task_lines) else line
            task_file = task_files[index] if task_files and index < len(task_files) else file
            origin = task_origins[index] if task_origins and index < len(task_origins) else None
            if isinstance(raw, str):
                raw = {"name": raw}
            try:
                task = TaskModel.create(raw, file=task_file, line=task_line)
            except WorkflowError as exc:
                # A task without a usable name is named by its position, so a workflow given as a
                # mapping (no file, no line) still says which task is wrong.
                if exc.task is None and origin is None:
                    exc.key = f"tasks[{index}]" + (f".{exc.key}" if exc.key else "")
                exc.origin = exc.origin or origin
                raise
            task._origin = origin
            tasks.append(task)
        payload = {k: v for k, v in data.items() if k != "tasks"}
        for key in ("vars", "inventory_filters"):
            if payload.get(key) is None and key in payload:
                payload[key] = {}
        try:
            model = cls(**payload, tasks=tasks)
        except ValidationError as exc:
            raise _validation_error(exc, file=file, line=line) from None
        model._tree = tree
        return model

    def validate_hooks(self) -> None:
        """Validate every hook of every task (once per task model), before anything runs."""
        problems = []
        for task in self.tasks:
            try:
                task._validate_all_hooks()
            except WorkflowError:
                raise
            except Exception as exc:  # HookValidationError: collect across tasks
                problems.append(exc)
        if problems:
            if len(problems) == 1:
                raise problems[0]
            from nornflow.exceptions import HookValidationError

            error = HookValidationError("\n".join(str(p) for p in problems))
            error.problems = problems  # type: ignore[attr-defined]
            raise error
