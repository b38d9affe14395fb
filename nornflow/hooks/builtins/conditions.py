"""``if`` (alias ``when``): run the task on a host only when a condition holds for it.

The condition is a Jinja2 expression over the host's variables, bare (``host.platform == 'cisco_ios'``)
or in ``{{ }}`` as NornFlow 1.0 writes it (``"{{ host.platform == 'cisco_ios' }}"``); any other
template (``"{{ a }} and {{ b }}"``) renders to text. A condition may also be a one-key mapping naming
an inventory filter with its argument (``{groups: [core]}``), or a list of conditions that must all
hold. A value that is a string counts by its words (``true``/``yes``/``on``/``1`` ... or
``false``/``no``/``off``/``0``/empty); another string fails the host rather than guess. A false
condition skips the host before its args are rendered, so args may use variables that only the other
hosts have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornflow.hooks.base import PreRunHook, Skip
from nornflow.hooks.builtins.flags import FALSE_WORDS, TRUE_WORDS
from nornflow.hooks.registry import register_hook
from nornflow.templating import Expression, TemplateError, compile_condition, compile_expression

__all__ = ["IfHook", "WhenHook", "truth"]


def truth(value: Any) -> bool:
    """Whether a condition's value holds: a string by its true/false words (``"false"`` from an
    environment variable is false), anything else by Python's truth. Another string is a
    :class:`~nornflow.templating.TemplateError` (a condition that says neither must not guess)."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise TemplateError(
            f"the condition gave the string {shown!r}, which is neither true "
            f"({', '.join(sorted(TRUE_WORDS))}) nor false ({', '.join(sorted(FALSE_WORDS - {''}))}, empty)"
        )
    return bool(value)


class _Filter:
    """A filter condition (``{groups: [core]}``): the inventory filter rules, per host."""

    __slots__ = ("filters",)

    def __init__(self, filters: Mapping[str, Any]) -> None:
        self.filters = filters

    def holds(self, host: Any, vars_mgr: Any) -> bool:
        from nornflow.inventory.filters import host_matches

        return host_matches(host, self.filters)


class _Template:
    """An expression or text template condition, evaluated over the host's variables."""

    __slots__ = ("template",)

    def __init__(self, template: Any) -> None:
        self.template = template

    def holds(self, host: Any, vars_mgr: Any) -> bool:
        return truth(self.template.evaluate(vars_mgr.context(host)))


def _compile(value: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """One condition compiled: ``(expression, None)`` or ``(None, filter mapping)``."""
    if isinstance(value, bool):
        return compile_expression("true" if value else "false"), None
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("condition must not be empty")
        return compile_condition(value), None
    if isinstance(value, Mapping):
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
        return None, value
    raise ValueError(
        "must be a Jinja2 expression, a one-key filter mapping or a list of conditions, "
        f"got {type(value).__name__}"
    )


def _compile_all(values: Any) -> tuple[_Filter | _Template, ...]:
    """A list of conditions that must all hold, each compiled."""
    if not values:
        raise ValueError("a list of conditions must have at least one condition")
    compiled: list[_Filter | _Template] = []
    for n, item in enumerate(values):
        if isinstance(item, (list, tuple)):
            raise ValueError(f"condition [{n}] is a list; a list of conditions is flat")
        try:
            expression, filters = _compile(item)
        except (TemplateError, ValueError) as exc:
            raise ValueError(f"condition [{n}]: {exc}") from None
        compiled.append(_Filter(filters) if filters is not None else _Template(expression))
    return tuple(compiled)


@register_hook
class IfHook(PreRunHook):
    """Skip hosts for which a Jinja2 condition (or an inventory filter) is false."""

    hook_name = "if"
    order = 10

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self._expression: Any = None
        self._filter: Mapping[str, Any] | None = None
        self._all: tuple[_Filter | _Template, ...] = ()
        self._error: str | None = None
        self._skip = Skip(f"{self.hook_name} condition is false")
        try:
            if isinstance(value, (list, tuple)):
                self._all = _compile_all(value)
            else:
                self._expression, self._filter = _compile(value)
        except (TemplateError, ValueError) as exc:
            self._error = str(exc)
        if isinstance(self._expression, Expression):
            # one expression: the per-host decision is the hot path's compiled condition itself (no
            # frame of this class per host); text templates, filters and lists go through _run_hook
            self._run_hook = self._expression.condition(self._skip, truth)  # type: ignore[method-assign]

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
        if self._all:
            for condition in self._all:
                if not condition.holds(host, vars_mgr):
                    return self._skip
            return True
        if self._filter is not None:
            from nornflow.inventory.filters import host_matches

            if host_matches(host, self._filter):
                return True
            return self._skip
        if truth(self._expression.evaluate(vars_mgr.context(host))):
            return True
        return self._skip


@register_hook
class WhenHook(IfHook):
    """Alias of ``if`` (Ansible's spelling)."""

    hook_name = "when"
