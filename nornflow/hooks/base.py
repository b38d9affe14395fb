"""Base classes of the hooks framework: :class:`Hook`, :class:`PreRunHook`, :class:`PostRunHook`.

A hook instance holds only its (frozen) configuration value and is shared by every task and host that
uses the same value (flyweight), so hooks must keep per-run state in the variables manager or the
execution tracker, never on ``self``.

Execution goes ``run()`` -> ``_execute_hook()`` -> ``_run_hook()``. ``_execute_hook`` applies the
execution mode: per host (default), or once per task run (``run_once_per_task = True``), decided by the
thread-safe tracker. The compiled dispatcher calls ``_run_hook`` straight away when a hook class keeps
the base ``run``/``_execute_hook``/``_is_first_execution``; overriding any of them keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from nornflow import _hotpath

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import Result

__all__ = ["Hook", "PostRunHook", "PreRunHook"]


class Hook:
    """A per-task extension, configured by a key on the task in YAML (its ``hook_name``)."""

    #: The task key that activates this hook in YAML (``set_to``, ``output``, ...). Required.
    hook_name: ClassVar[str] = ""
    #: False (default): run for every host. True: run once per task run, on the first eligible host.
    run_once_per_task: ClassVar[bool] = False
    #: "pre" or "post"; set by the two concrete bases.
    phase: ClassVar[str] = ""
    #: Hooks of a phase run by ascending ``order``, then in the order written (conditions first,
    #: result redefinitions before ``set_to``). 100 for most hooks.
    order: ClassVar[int] = 100
    #: True for a pre-hook that must see hosts in inventory order (the engine then evaluates the
    #: pre-hooks of the first hosts before the fan-out), e.g. ``run_once``.
    needs_inventory_order: ClassVar[bool] = False

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"

    @classmethod
    def describe(cls) -> str:
        """The first line of the class docstring: what ``nornflow show hooks`` prints."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0].strip() if doc else ""

    def run(self, task_model: Any, *args: Any, **kwargs: Any) -> Any:
        """Entry point called by the dispatcher; the concrete bases fix the signature."""
        raise NotImplementedError

    def _execute_hook(self, task_model: Any, default_result: Any, *args: Any, **kwargs: Any) -> Any:
        """Apply the execution mode: run ``_run_hook`` for every host, or once per task run."""
        if self.run_once_per_task:
            if self._is_first_execution(task_model):
                return self._run_hook(task_model, *args, **kwargs)
            return default_result
        return self._run_hook(task_model, *args, **kwargs)

    def _is_first_execution(self, task_model: Any) -> bool:
        """True exactly once per task run for this hook, whatever the number of threads."""
        return _hotpath.TRACKER.is_first_execution(self, task_model)

    def _run_hook(self, task_model: Any, *args: Any, **kwargs: Any) -> Any:
        """The hook's behaviour. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _run_hook()")

    def validate_value(self) -> None:
        """Check ``self.value`` once, before any task runs; raise ``ValueError``/``TypeError`` if bad.

        The error message is shown with the task and hook named. The default accepts anything.
        """

    def validate_task_compatibility(self, task_model: Any) -> tuple[bool, str]:
        """Whether this hook can be used on ``task_model``: ``(True, "")`` or ``(False, reason)``."""
        return (True, "")


class PreRunHook(Hook):
    """A hook that runs before the task on each host; returning False skips that host for the task."""

    phase: ClassVar[str] = "pre"

    def run(self, task_model: Any, host: Host, vars_mgr: Any) -> bool:
        """Run for ``host`` before the task; False means this host does not run this task."""
        return self._execute_hook(task_model, True, host, vars_mgr)

    def _run_hook(self, task_model: Any, host: Host, vars_mgr: Any) -> bool:
        """The hook's behaviour before the task on ``host``. Return False to skip the host."""
        raise NotImplementedError(f"{type(self).__name__} must implement _run_hook()")


class PostRunHook(Hook):
    """A hook that runs after the task on each host and sees that host's result, failed or not."""

    phase: ClassVar[str] = "post"

    def run(self, task_model: Any, host: Host, result: Result, vars_mgr: Any) -> None:
        """Run for ``host`` after the task with its ``result``."""
        self._execute_hook(task_model, None, host, result, vars_mgr)

    def _run_hook(self, task_model: Any, host: Host, result: Result, vars_mgr: Any) -> None:
        """The hook's behaviour after the task on ``host``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _run_hook()")
