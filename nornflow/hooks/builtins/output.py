"""``output``: show or hide a task's output (status is always shown); once per task run."""

from __future__ import annotations

from typing import Any

from nornflow.hooks.base import PreRunHook
from nornflow.hooks.registry import register_hook

__all__ = ["OutputHook"]


@register_hook
class OutputHook(PreRunHook):
    """Show (true) or hide (false) the task's output; passes print_output to tasks that take it."""

    hook_name = "output"
    run_once_per_task = True

    def validate_value(self) -> None:
        """``output`` takes true or false."""
        if not isinstance(self.value, bool):
            raise ValueError(f"must be true or false, got {self.value!r}")

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        if vars_mgr is not None:
            vars_mgr.set_task_option(task_model, "print_output", self.value)
        return True
