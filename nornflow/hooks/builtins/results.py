"""Hooks that redefine or excuse a result: ``failed_when``, ``changed_when``, ``ignore_errors``."""

from __future__ import annotations

from typing import Any

from nornflow.hooks.base import PostRunHook
from nornflow.hooks.registry import register_hook
from nornflow.templating import TemplateError, compile_expression

__all__ = ["ChangedWhenHook", "FailedWhenHook", "IgnoreErrorsHook"]

#: The attribute the engine reads on a result to report a failure that does not count.
IGNORED_ATTR = "nornflow_ignored"


class ConditionFailed(Exception):
    """A ``failed_when`` condition declared a successful task failed."""


class _ResultExpressionHook(PostRunHook):
    """Evaluates a Jinja2 expression over the host's result (``result``, ``failed``, ``changed``)."""

    order = 10

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self._expression = None
        self._error: str | None = None
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str) or not value.strip():
            self._error = f"must be a Jinja2 expression over result/failed/changed, got {self.value!r}"
            return
        try:
            self._expression = compile_expression(value)
        except TemplateError as exc:
            self._error = str(exc)

    def validate_value(self) -> None:
        """A malformed expression is reported before the run."""
        if self._error:
            raise ValueError(self._error)

    def _evaluate(self, host: Any, result: Any, vars_mgr: Any) -> bool:
        assert self._expression is not None
        return bool(self._expression.evaluate(vars_mgr.result_context(host, result)))


@register_hook
class FailedWhenHook(_ResultExpressionHook):
    """Redefine failure: the host failed this task iff the expression is true."""

    hook_name = "failed_when"

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        failed = self._evaluate(host, result, vars_mgr)
        if failed and not result.failed:
            result.exception = ConditionFailed(f"failed_when condition is true: {self._expression.source}")
        result.failed = failed


@register_hook
class ChangedWhenHook(_ResultExpressionHook):
    """Redefine change: the host changed something iff the expression is true."""

    hook_name = "changed_when"

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        result.changed = self._evaluate(host, result, vars_mgr)


@register_hook
class IgnoreErrorsHook(PostRunHook):
    """Report a failure without counting it: the host stays in later tasks, the exit code ignores it."""

    hook_name = "ignore_errors"
    order = 20

    def validate_value(self) -> None:
        """``ignore_errors`` takes true or false."""
        if not isinstance(self.value, bool):
            raise ValueError(f"must be true or false, got {self.value!r}")

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        if self.value and result.failed:
            setattr(result, IGNORED_ATTR, True)
