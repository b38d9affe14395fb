"""``if`` (alias ``when``): run the task on a host only when a condition holds for it.

The condition is a Jinja2 expression over the host's variables (``host.platform == 'cisco_ios'``,
``facts.version is defined``), or a one-key mapping naming an inventory filter with its argument
(``{groups: [core]}``, ``{platform: cisco_ios}``). A false condition skips the host for this task
before its args are rendered, so args may use variables that only the other hosts have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornflow.hooks.base import PreRunHook, Skip
from nornflow.hooks.registry import register_hook
from nornflow.templating import TemplateError, compile_expression

__all__ = ["IfHook", "WhenHook"]


@register_hook
class IfHook(PreRunHook):
    """Skip hosts for which a Jinja2 condition (or an inventory filter) is false."""

    hook_name = "if"
    order = 10

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self._expression = None
        self._filter: Mapping[str, Any] | None = None
        self._error: str | None = None
        self._skip = Skip(f"{self.hook_name} condition is false")
        try:
            self._compile(value)
        except (TemplateError, ValueError) as exc:
            self._error = str(exc)
        if self._expression is not None:
            # the per-host decision is the compiled condition itself (no frame of this class per host)
            self._run_hook = self._expression.condition(self._skip)  # type: ignore[method-assign]

    def _compile(self, value: Any) -> None:
        if isinstance(value, bool):
            self._expression = compile_expression("true" if value else "false")
        elif isinstance(value, str):
            if not value.strip():
                raise ValueError("condition must not be empty")
            self._expression = compile_expression(value)
        elif isinstance(value, Mapping):
            from nornflow.inventory.filters import FILTERS, validate_filters

            if len(value) != 1:
                raise ValueError(
                    f"a filter condition is a one-key mapping naming a filter ({', '.join(FILTERS)}) "
                    "or a host attribute/data key"
                )
            try:
                validate_filters(value)
            except Exception as exc:
                raise ValueError(getattr(exc, "message", str(exc))) from None
            self._filter = value
        else:
            raise ValueError(
                f"must be a Jinja2 expression or a one-key filter mapping, got {type(value).__name__}"
            )

    def validate_value(self) -> None:
        """Syntax errors and bad filter shapes are reported before the run."""
        if self._error:
            raise ValueError(self._error)

    def validate_task_compatibility(self, task_model: Any) -> tuple[bool, str]:
        """``if`` and ``when`` are the same hook: one task cannot have both."""
        hooks = getattr(task_model, "hooks", {}) or {}
        if "if" in hooks and "when" in hooks:
            return (False, "use either 'if' or 'when' (they are aliases), not both")
        return (True, "")

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool | Skip:
        """A filter condition (an expression's is the compiled condition set in ``__init__``)."""
        from nornflow.inventory.filters import host_matches

        if self._filter is not None and host_matches(host, self._filter):
            return True
        return self._skip


@register_hook
class WhenHook(IfHook):
    """Alias of ``if`` (Ansible's spelling)."""

    hook_name = "when"
