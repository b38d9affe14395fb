"""The built-in ``assert`` task (pre- and post-checks) and how a task declares check-mode support.

``assert`` evaluates each of its ``that`` Jinja2 expressions against the host's variables and fails the
host with ``fail_msg`` (naming the first expression that does not hold) or succeeds with
``success_msg``. It changes nothing, so it is check-mode safe. A task declares that it is safe in
check mode (``--check``/``--dry-run``) by taking a ``dry_run`` argument (Nornir's convention: it honours
``task.is_dry_run()``) or by carrying ``nornflow_check_mode = True`` (:func:`check_mode_safe`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from nornir.core.task import Result, Task

from nornflow.exceptions import TaskError
from nornflow.hooks.builtins.conditions import truth
from nornflow.templating import Expression, TemplateError, compile_expression, has_template

__all__ = ["assert_task", "check_mode_safe", "declares_check_mode", "validate_assert_args"]

_F = TypeVar("_F", bound=Callable[..., Any])


def check_mode_safe(func: _F) -> _F:
    """Mark a task function as safe to run in check mode (it changes nothing, or honours dry run)."""
    func.nornflow_check_mode = True  # type: ignore[attr-defined]
    return func


def declares_check_mode(func: Callable[..., Any]) -> bool:
    """Whether ``func`` declares check-mode support: ``nornflow_check_mode`` if set, else whether it
    takes a ``dry_run`` argument (and so honours ``task.is_dry_run(dry_run)``)."""
    marked = getattr(func, "nornflow_check_mode", None)
    if marked is not None:
        return bool(marked)
    try:
        return "dry_run" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


@functools.lru_cache(maxsize=1024)
def _expression(source: str) -> Expression:
    return compile_expression(source)


def _conditions(that: Any) -> list[Any]:
    if isinstance(that, str | bool):
        return [that]
    if isinstance(that, list | tuple) and that:
        return list(that)
    raise ValueError(f"'that' must be an expression or a non-empty list of expressions, got {that!r}")


def validate_assert_args(args: Mapping[str, Any]) -> None:
    """Reject, before the run, an ``assert`` without ``that`` or with an expression that does not
    compile (a ``{{ }}`` template is checked when its args compile)."""
    if "that" not in args:
        raise ValueError("assert needs 'that': an expression or a list of expressions")
    for item in _conditions(args["that"]):
        if isinstance(item, str) and not has_template(item):
            try:
                _expression(item)
            except TemplateError as exc:
                raise ValueError(f"that: {exc.message}") from None
        elif not isinstance(item, str | bool):
            raise ValueError(f"that: each item must be an expression (a string), got {item!r}")
    for key in ("fail_msg", "success_msg"):
        if key in args and not isinstance(args[key], str):
            raise ValueError(f"{key} must be a string, got {args[key]!r}")


@check_mode_safe
def assert_task(
    task: Task,
    that: Any,
    fail_msg: str | None = None,
    success_msg: str | None = None,
    nornflow_vars: Any = None,
) -> Result:
    """Check that every ``that`` expression holds for the host; fail it with ``fail_msg`` if not."""
    context: Mapping[str, Any] = nornflow_vars.context(task.host) if nornflow_vars is not None else {}
    for item in _conditions(that):
        if isinstance(item, str) and not has_template(item):
            try:
                holds = truth(_expression(item).evaluate(context))
            except TemplateError as exc:
                raise TaskError(f"assert: {item!r}: {exc.message}") from None
        else:  # a {{ }} template, rendered with the args, or a literal
            try:
                holds = truth(item)
            except TemplateError as exc:
                raise TaskError(f"assert: {exc.message}") from None
        if not holds:
            message = fail_msg or f"assertion failed: {item}"
            return Result(host=task.host, result=message, failed=True)
    return Result(host=task.host, result=success_msg or "all assertions passed")


assert_task.nornflow_validate_args = validate_assert_args  # type: ignore[attr-defined]
