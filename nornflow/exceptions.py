"""Every error a nornflow user can hit, as one readable hierarchy.

All of them derive from :class:`NornFlowError`, so ``except NornFlowError`` catches anything the library
raises on purpose. Each carries the place it concerns (file, task, hook, key, host) so the CLI can print
one clear line without a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FilterError",
    "FilterImportError",
    "HookError",
    "HookExecutionError",
    "HookImportError",
    "HookRegistrationError",
    "HookValidationError",
    "InventoryError",
    "NoHostsMatchedError",
    "NornFlowError",
    "RunInProgressError",
    "RunInterrupted",
    "SettingsError",
    "TaskError",
    "TaskImportError",
    "TaskNotFoundError",
    "UsageError",
    "VariableError",
    "WorkflowError",
    "YAMLLoadError",
    "hook_failure",
]


class NornFlowError(Exception):
    """Base of every error nornflow raises on purpose.

    ``exit_code`` is what the CLI exits with when this error ends a command (see DESIGN.md).
    The optional context fields say where the problem is; ``str()`` renders them as a prefix.
    """

    exit_code: int = 3

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        task: str | None = None,
        hook: str | None = None,
        key: str | None = None,
        host: str | None = None,
        origin: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.task = task
        self.hook = hook
        self.key = key
        self.host = host
        #: how ``file`` came into the workflow, for a task from a blueprint: ``in blueprint
        #: 'checks.yaml' included from workflows/deploy.yaml:7``
        self.origin = origin

    def location(self) -> str:
        """Where the problem is, e.g. ``flows/site.yaml:12:5, task 'backup', hook 'set_to'``."""
        parts: list[str] = []
        if self.file:
            place = str(self.file)
            if self.line is not None:
                place += f":{self.line}"
                if self.column is not None:
                    place += f":{self.column}"
            parts.append(place)
        if self.origin:
            parts.append(self.origin)
        if self.task:
            parts.append(f"task {self.task!r}")
        if self.hook:
            parts.append(f"hook {self.hook!r}")
        if self.key and self.key != self.hook:
            parts.append(f"key {self.key!r}")
        if self.host:
            parts.append(f"host {self.host!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view used by ``--json`` output."""
        data: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        for name in ("file", "line", "column", "task", "hook", "key", "host", "origin"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


class SettingsError(NornFlowError):
    """``nornflow.yaml`` is missing, unreadable, or has an unknown key or a wrong type."""


class InventoryError(NornFlowError):
    """The inventory cannot be loaded (missing file, bad YAML, wrong shape, unknown plugin)."""


class YAMLLoadError(NornFlowError):
    """A YAML file is unreadable, has a syntax error, or is refused (alias bomb, unsafe tag)."""


class WorkflowError(NornFlowError):
    """A workflow is invalid: wrong shape, unknown key, bad task definition."""


class TaskNotFoundError(WorkflowError):
    """A workflow names a task that is neither in the catalog nor an importable dotted path."""


class TaskImportError(WorkflowError):
    """A task module in the project's task dirs fails to import."""


class TaskError(NornFlowError):
    """A task failed on a host (raised inside a run; recorded per host, never aborting the run)."""

    exit_code = 1


class HookError(NornFlowError):
    """Base of the hook errors."""


class HookRegistrationError(HookError):
    """A hook class cannot be registered: no ``hook_name``, or the name is taken by another class."""


class HookValidationError(HookError):
    """A hook value is invalid for its task (wrong type, bad expression, incompatible task)."""


class HookExecutionError(HookError):
    """A hook raised while running for a host; fails that host for that task only."""

    exit_code = 1


def hook_failure(hook: Any, task_model: Any, host: Any, exc: BaseException) -> HookExecutionError:
    """The error that fails a host when ``hook`` raised ``exc``: it names the hook, task and host.

    An inner wrapper's failure that already names its hook is passed on as it is.
    """
    if isinstance(exc, HookExecutionError) and exc.hook:
        return exc
    if isinstance(exc, NornFlowError):
        message = exc.message
    else:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return HookExecutionError(
        message,
        task=getattr(task_model, "name", None),
        hook=getattr(hook, "hook_name", None) or type(hook).__name__,
        host=getattr(host, "name", None),
    )


class HookImportError(HookError):
    """A module in the project's hook dirs fails to import."""


class VariableError(NornFlowError):
    """A template references an undefined variable, or fails to render, for a host."""

    exit_code = 1


class UsageError(NornFlowError):
    """A command-line option is malformed (``--filter site`` without ``=value``)."""

    exit_code = 2


class FilterError(NornFlowError):
    """An inventory filter is unknown (no such filter, and no host has such an attribute), its
    argument has the wrong shape, or a project filter function failed."""


class NoHostsMatchedError(FilterError):
    """The run's inventory filters select no host (and empty runs were not allowed).

    A usage error (exit 2) rather than a success with nothing done: ``--filter site=xyz`` with a typo
    must not look like a run that went well. ``filters`` holds the filters, by where they came from.
    """

    exit_code = 2

    def __init__(self, message: str, filters: dict[str, Any] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.filters = filters or {}


class FilterImportError(NornFlowError):
    """A module in the project's filter dirs (Jinja2 or inventory filters) fails to import, or two of
    its modules define a filter of the same name."""


class RunInProgressError(NornFlowError):
    """A run was asked of a workflow that is already running (the same prepared task models): prepare
    it again (``NornFlow.load_workflow``) for a second, independent run."""

    exit_code = 2


class RunInterrupted(NornFlowError):
    """The run was interrupted (Ctrl-C); partial results are kept."""

    exit_code = 130
