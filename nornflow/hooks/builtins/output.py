"""``output`` (NornFlow 1.0: ``shush``, inverted): show or hide a task's output; a task option, read once.

The status line of every host is always shown; ``output: false`` (``shush: true``) hides the results.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nornflow.hooks.base import PreRunHook, TaskSetup
from nornflow.hooks.builtins.flags import flag, two_spellings
from nornflow.hooks.registry import register_hook

__all__ = ["OutputHook", "ShushHook"]


@register_hook
class OutputHook(PreRunHook):
    """Show (true) or hide (false) the task's output; passes print_output to tasks that take it."""

    hook_name = "output"
    run_once_per_task = True
    per_host = False  # a constant of the task: read once, when the task is prepared
    renders_at_load = True  # output: "{{ verbose }}" is decided from the static variables
    #: the value's JSON Schema (``nornflow schema``)
    value_schema: ClassVar[dict[str, Any]] = {"type": "boolean"}

    def validate_value(self) -> None:
        """``output`` takes true or false."""
        if not isinstance(self.value, bool):
            raise ValueError(f"must be true or false, got {self.value!r}")

    def configure(self, setup: TaskSetup) -> None:
        """Set the task's ``print_output`` option (the console hides the output; tasks that take a
        ``print_output`` argument get it)."""
        setup.options["print_output"] = self.value

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        """Nothing per host (:meth:`configure` sets the option); called directly, it lets the host run."""
        return True


@register_hook
class ShushHook(OutputHook):
    """NornFlow 1.0's spelling of output: false: true hides the task's output, false shows it."""

    hook_name = "shush"
    value_schema: ClassVar[dict[str, Any]] = {"type": ["boolean", "string"]}

    def validate_value(self) -> None:
        """``shush`` takes true or false, or a true/false word (``yes``, ``off``, ...)."""
        flag(self.value)

    def configure(self, setup: TaskSetup) -> None:
        """``shush: true`` is ``output: false``."""
        setup.options["print_output"] = not flag(self.value)

    def validate_task_compatibility(self, task_model: Any) -> tuple[bool, str]:
        """A task takes ``output`` or ``shush``, not both."""
        return two_spellings(task_model, "shush", "output")
