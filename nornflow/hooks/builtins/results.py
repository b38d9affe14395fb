"""Hooks that redefine or excuse a result: ``failed_when``, ``changed_when``, ``ignore_errors``."""

from __future__ import annotations

from collections import ChainMap
from typing import Any

from nornflow.hooks.base import PostRunHook
from nornflow.hooks.outcome import outcome_context
from nornflow.hooks.registry import register_hook
from nornflow.templating import Expression, TemplateError, compile_expression

__all__ = ["ChangedWhenHook", "FailedWhenHook", "IgnoreErrorsHook"]


class ConditionFailed(Exception):
    """A ``failed_when`` condition declared a successful task failed."""


def _raised(result: Any) -> bool:
    """The task raised (connection refused, authentication failed, a crash): it has no result to judge.

    Such a failure is never redefined by ``failed_when``/``changed_when`` (as Ansible leaves
    unreachable hosts alone); ``ignore_errors`` is the way to excuse it.
    """
    return (
        bool(result.failed)
        and result.exception is not None
        and not isinstance(result.exception, ConditionFailed)
    )


class _ResultExpressionHook(PostRunHook):
    """Evaluates a Jinja2 expression over the host's result (``result``, ``failed``, ``changed``).

    With ``loop`` it is evaluated per item, as Ansible does: ``result`` is that item's result and
    ``item`` the item; the task failed (changed) if any item did.
    """

    order = 10

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self._expression: Expression | None = None
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

    def _evaluate(self, result: Any, vars_mgr: Any) -> bool:
        assert self._expression is not None
        return bool(self._expression.evaluate(outcome_context(result, vars_mgr)))

    def _evaluate_items(self, host: Any, items: list[dict[str, Any]], vars_mgr: Any) -> list[bool | None]:
        """With ``loop``, the expression is evaluated per item (``result``/``item`` of that item)."""
        assert self._expression is not None
        base = vars_mgr.context(host)
        outcomes: list[bool | None] = []
        for entry in items:
            if entry.get("status") == "failed" and entry.get("error"):
                outcomes.append(None)  # the item raised: nothing to judge, it stays as it is
                continue
            view = {
                "result": entry.get("result"),
                "failed": entry.get("status") == "failed",
                "changed": entry.get("status") == "changed",
                "exception": entry.get("error"),
                "item": entry.get("item"),
            }
            outcomes.append(bool(self._expression.evaluate(ChainMap(view, base))))
        return outcomes


@register_hook
class FailedWhenHook(_ResultExpressionHook):
    """Redefine failure: the host failed this task iff the expression is true."""

    hook_name = "failed_when"

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        items = result.items
        if items is not None:
            outcomes = self._evaluate_items(host, items, vars_mgr)
            for entry, item_failed in zip(items, outcomes, strict=True):
                if item_failed:
                    entry["status"] = "failed"
                elif item_failed is not None and entry["status"] == "failed":
                    entry["status"] = "ok"
            failed = any(entry["status"] == "failed" for entry in items)
        elif _raised(result):
            return
        else:
            failed = self._evaluate(result, vars_mgr)
        if failed and not result.failed:
            assert self._expression is not None  # validate_value refused the task otherwise
            result.exception = ConditionFailed(f"failed_when condition is true: {self._expression.source}")
            result.hook = self.hook_name
        result.failed = failed


@register_hook
class ChangedWhenHook(_ResultExpressionHook):
    """Redefine change: the host changed something iff the expression is true."""

    hook_name = "changed_when"

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        items = result.items
        if items is not None:
            outcomes = self._evaluate_items(host, items, vars_mgr)
            for entry, item_changed in zip(items, outcomes, strict=True):
                if entry["status"] != "failed":
                    entry["status"] = "changed" if item_changed else "ok"
            result.changed = any(o for o in outcomes if o is not None)
        elif _raised(result):
            return
        else:
            result.changed = self._evaluate(result, vars_mgr)


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
            result.ignored = True
