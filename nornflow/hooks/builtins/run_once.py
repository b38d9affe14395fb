"""``run_once: true`` (NornFlow 1.0: ``single``): the task runs on one host only, the first eligible
one in inventory order, whatever the number of worker threads."""

from __future__ import annotations

from typing import Any

from nornflow.hooks.base import PreRunHook, Skip
from nornflow.hooks.builtins.flags import flag, two_spellings
from nornflow.hooks.registry import register_hook

__all__ = ["RunOnceHook", "SingleHook"]


@register_hook
class RunOnceHook(PreRunHook):
    """Run the task on one host only (the first eligible in inventory order); others are skipped.

    The run evaluates the first hosts' pre-hooks in inventory order before the fan-out
    (``needs_inventory_order``), and the tracker grants exactly one claim per task run, whatever the
    number of worker threads.
    """

    hook_name = "run_once"
    order = 20
    needs_inventory_order = True
    renders_at_load = True  # run_once: "{{ serial }}" is decided from the static variables

    def validate_value(self) -> None:
        """``run_once`` takes true or false."""
        if not isinstance(self.value, bool):
            raise ValueError(f"must be true or false, got {self.value!r}")

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool | Skip:
        if not self.value or self._is_first_execution(task_model):
            return True
        return _RAN_ELSEWHERE


_RAN_ELSEWHERE = Skip("run_once: ran on another host")


@register_hook
class SingleHook(RunOnceHook):
    """NornFlow 1.0's spelling of run_once: the task runs on the first eligible host only.

    Unlike NornFlow 1.0 (the first host to reach the task), the host is always the first eligible one
    in inventory order; ``single`` may be combined with ``if``/``when`` (conditions apply first).
    """

    hook_name = "single"

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        try:
            self._on = flag(value)
        except ValueError:
            self._on = False  # validate_value reports it before the run

    def validate_value(self) -> None:
        """``single`` takes true or false, or a true/false word (``yes``, ``off``, ...)."""
        flag(self.value)

    def validate_task_compatibility(self, task_model: Any) -> tuple[bool, str]:
        """A task takes ``run_once`` or ``single``, not both."""
        return two_spellings(task_model, "single", "run_once")

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool | Skip:
        if not self._on or self._is_first_execution(task_model):
            return True
        return _SINGLE_ELSEWHERE


_SINGLE_ELSEWHERE = Skip("single: ran on another host")
