"""Base classes of the hooks framework and the contract between a hook and the run.

A hook instance holds only its (frozen) configuration value and is shared by every task and host that
uses the same value (flyweight), so per-run state lives in the run (the tracker, the variables
manager, the host's outcome), never on ``self``.

The contract, in public names:

* :meth:`Hook.configure` runs once, when a task is prepared: a hook sets task options
  (``setup.options["print_output"]``) or registers itself as an execution wrapper. Hooks that do
  nothing per host say so with ``per_host = False`` and cost nothing per host.
* A pre-run hook decides per host: ``True`` runs the task, ``False`` or a :class:`Skip` (with the
  reason the recap shows) skips the host.
* A post-run hook reads and edits the host's :class:`~nornflow._hotpath.Outcome` (``result``,
  ``changed``, ``failed``, ``exception``, ``ignored``, ...); the run records what it leaves.
* A :class:`WrapperHook` runs the task itself for a host (``loop``, ``retries``, ``timeout``):
  wrappers are ordered when the task is prepared and each gets the next one as ``call``.
* An exception from any hook fails that host for that task, naming the hook; other hosts go on.

Execution of a per-host hook goes ``run()`` -> ``_execute_hook()`` -> ``_run_hook()``;
``_execute_hook`` applies the execution mode: per host (default), or once per task run
(``run_once_per_task = True``), decided by the thread-safe tracker. The dispatcher calls
``_run_hook`` straight away when a hook class keeps the base ``run``/``_execute_hook``/
``_is_first_execution``; overriding any of them keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from nornflow import _hotpath

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import Task

    from nornflow._hotpath import Outcome
    from nornflow.vars import VarsManager

__all__ = [
    "Hook",
    "PostRunHook",
    "PreRunHook",
    "Skip",
    "TaskCall",
    "TaskModelLike",
    "TaskSetup",
    "WrapperHook",
]


class TaskModelLike(Protocol):
    """What hooks see of a task model (``nornflow.models.task.TaskModel`` is the one they get)."""

    name: str
    args: dict[str, Any]
    hooks: dict[str, Any]


class Skip:
    """A pre-run hook's decision not to run the task on a host, with the reason the recap shows.

    It is falsy, so code that tests a decision with ``if not decision`` treats it like ``False``.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Skip({self.reason!r})"


class TaskSetup:
    """What a task's hooks configure once, when the task is prepared (:meth:`Hook.configure`).

    ``options`` are task-level constants the run reads (``print_output``); ``wrappers`` are the
    hooks that run the task themselves, in the order they nest (outermost first, by
    ``execution_order``, then as written).
    """

    __slots__ = ("options", "task_model", "wrappers")

    def __init__(self, task_model: TaskModelLike) -> None:
        self.task_model = task_model
        self.options: dict[str, Any] = {}
        self.wrappers: list[WrapperHook] = []

    def wrap(self, hook: WrapperHook) -> None:
        """Have ``hook`` run the task for each host (it nests by its ``execution_order``)."""
        self.wrappers.append(hook)
        self.wrappers.sort(key=lambda w: w.execution_order)  # stable: written order within a rank


class Hook:
    """A per-task extension, configured by a key on the task in YAML (its ``hook_name``)."""

    #: The task key that activates this hook in YAML (``set_to``, ``output``, ...). Required.
    hook_name: ClassVar[str] = ""
    #: False (default): run for every host. True: run once per task run, on the first eligible host.
    run_once_per_task: ClassVar[bool] = False
    #: Whether the run calls this hook for each host. Hooks that only configure the task when it is
    #: prepared (``output``) or that run the task themselves (wrappers) set it False.
    per_host: ClassVar[bool] = True
    #: "pre" or "post"; set by the two concrete bases.
    phase: ClassVar[str] = ""
    #: Hooks of a phase run by ascending ``order``, then in the order written (conditions first,
    #: result redefinitions before ``set_to``). 100 for most hooks.
    order: ClassVar[int] = 100
    #: True for a pre-hook that must see hosts in inventory order (the run then evaluates the
    #: pre-hooks of the first hosts before the fan-out), e.g. ``run_once``.
    needs_inventory_order: ClassVar[bool] = False
    #: True for a hook whose value is decided once for the whole task (``output``, ``run_once``): a
    #: template value (``"{{ quiet }}"``) is rendered when the workflow loads, from the static
    #: variables (workflow vars, ``--vars``, domain and project defaults, environment).
    renders_at_load: ClassVar[bool] = False

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"

    @classmethod
    def describe(cls) -> str:
        """The first line of the class docstring: what ``nornflow show hooks`` prints."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0].strip() if doc else ""

    def configure(self, setup: TaskSetup) -> None:
        """Configure the task once, when it is prepared (after validation). The default does nothing."""

    def run(self, task_model: TaskModelLike, *args: Any, **kwargs: Any) -> Any:
        """Entry point called by the dispatcher; the concrete bases fix the signature."""
        raise NotImplementedError

    def _execute_hook(self, task_model: TaskModelLike, default_result: Any, *args: Any, **kwargs: Any) -> Any:
        """Apply the execution mode: run ``_run_hook`` for every host, or once per task run."""
        if self.run_once_per_task:
            if self._is_first_execution(task_model):
                return self._run_hook(task_model, *args, **kwargs)
            return default_result
        return self._run_hook(task_model, *args, **kwargs)

    def _is_first_execution(self, task_model: TaskModelLike) -> bool:
        """True exactly once per task run for this hook, whatever the number of threads."""
        return _hotpath.TRACKER.is_first_execution(self, task_model)

    def _run_hook(self, task_model: TaskModelLike, *args: Any, **kwargs: Any) -> Any:
        """The hook's behaviour. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _run_hook()")

    def validate_value(self) -> None:
        """Check ``self.value`` once, before any task runs; raise ``ValueError``/``TypeError`` if bad.

        The error message is shown with the task and hook named. The default accepts anything.
        """

    def validate_task_compatibility(self, task_model: TaskModelLike) -> tuple[bool, str]:
        """Whether this hook can be used on ``task_model``: ``(True, "")`` or ``(False, reason)``."""
        return (True, "")


class PreRunHook(Hook):
    """A hook that runs before the task on each host; False (or a :class:`Skip`) skips that host."""

    phase: ClassVar[str] = "pre"

    def run(self, task_model: TaskModelLike, host: Host, vars_mgr: VarsManager) -> bool | Skip:
        """Run for ``host`` before the task; False or a Skip means this host does not run this task."""
        return self._execute_hook(task_model, True, host, vars_mgr)

    def _run_hook(self, task_model: TaskModelLike, host: Host, vars_mgr: VarsManager) -> bool | Skip:
        """The hook's behaviour before the task on ``host``. Return False or a Skip to skip the host."""
        raise NotImplementedError(f"{type(self).__name__} must implement _run_hook()")


class PostRunHook(Hook):
    """A hook that runs after the task on each host and sees that host's outcome, failed or not."""

    phase: ClassVar[str] = "post"

    def run(self, task_model: TaskModelLike, host: Host, result: Outcome, vars_mgr: VarsManager) -> None:
        """Run for ``host`` after the task with its outcome (``result``)."""
        self._execute_hook(task_model, None, host, result, vars_mgr)

    def _run_hook(
        self, task_model: TaskModelLike, host: Host, result: Outcome, vars_mgr: VarsManager
    ) -> None:
        """The hook's behaviour after the task on ``host``: read or edit its outcome ``result``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _run_hook()")


#: How a wrapper runs what it wraps for one host: ``call(task, extra)`` renders the task's args with
#: the ``extra`` variables (``item`` for a loop) and runs it once through the inner wrappers.
TaskCall = Callable[["Task", "Mapping[str, Any] | None"], "Outcome"]


class WrapperHook(PreRunHook):
    """A hook that runs the task itself for each host: ``loop``, ``retries``, ``timeout``, your own.

    Wrappers nest by ``execution_order`` (lowest outermost), so ``loop`` + ``retries`` retries each
    item and ``timeout`` bounds each attempt. They are ordered once, when the task is prepared.
    """

    per_host: ClassVar[bool] = False
    #: Lower runs further out: loop 10, retries 20, timeout 30; 100 by default.
    execution_order: ClassVar[int] = 100

    def configure(self, setup: TaskSetup) -> None:
        """Register as an execution wrapper of the task."""
        setup.wrap(self)

    def _run_hook(self, task_model: TaskModelLike, host: Host, vars_mgr: VarsManager) -> bool | Skip:
        """A wrapper decides nothing before the task (called directly, it lets the host run)."""
        return True

    def execute(
        self,
        call: TaskCall,
        task_model: TaskModelLike,
        task: Task,
        vars_mgr: VarsManager,
        extra: Mapping[str, Any] | None,
    ) -> Outcome:
        """Run the task for ``task.host`` through ``call`` as often as needed; return its outcome."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")
