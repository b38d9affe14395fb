"""``run_once: true``: the task runs on one host only, the first eligible one in inventory order."""

from __future__ import annotations

from typing import Any

from nornflow.hooks.base import PreRunHook, Skip
from nornflow.hooks.registry import register_hook

__all__ = ["RunOnceHook"]


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

    def validate_value(self) -> None:
        """``run_once`` takes true or false."""
        if not isinstance(self.value, bool):
            raise ValueError(f"must be true or false, got {self.value!r}")

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool | Skip:
        if not self.value or self._is_first_execution(task_model):
            return True
        return _RAN_ELSEWHERE


_RAN_ELSEWHERE = Skip("run_once: ran on another host")
