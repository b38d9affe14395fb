"""Jinja2 rendering of task args and hook expressions, compiled once and evaluated per host.

Args are compiled when the workflow is built: values without ``{{``/``{%`` are passed through untouched
(no per-host cost), a string that is exactly one ``{{ expression }}`` keeps its native type (a list stays
a list), and any other template renders to a string, every character around the expressions kept
(``"{{ host.name }}\\n"`` ends with its newline). Undefined variables are errors (StrictUndefined)
naming the variable.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2
import jinja2.nodes
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import FilterArgumentError
from jinja2.utils import concat

from nornflow import _hotpath
from nornflow.exceptions import VariableError
from nornflow.jinja_filters import BUILTIN_FILTERS

__all__ = [
    "CompiledArgs",
    "Expression",
    "TemplateError",
    "compile_args",
    "compile_condition",
    "compile_expression",
    "environment",
    "has_template",
]


class TemplateError(VariableError):
    """A template failed to compile or to render; ``undefined`` names the missing variable if any."""

    def __init__(self, message: str, undefined: str | None = None) -> None:
        super().__init__(message)
        self.undefined = undefined


def _make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
    )
    env.filters.update(BUILTIN_FILTERS)
    # Jinja2's own attribute lookup, as an instance attribute the compiled templates find first (no
    # Python frame per ``host.name`` in the compiled twin)
    env.getattr = _hotpath.JinjaGetattr(env.undefined)  # type: ignore[method-assign]
    return env


#: The one Jinja2 environment nornflow renders with (StrictUndefined, the filters of
#: :mod:`nornflow.jinja_filters`, and the project's own, added by ``load_j2_filter_dirs``).
environment = _make_environment()

_MARKERS = ("{{", "{%", "{#")
_WHOLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.DOTALL)
#: An arg that is exactly one ``{{ expression }}``, nothing around it: it keeps the value's type. Any
#: text around it, even a space or a trailing newline (``"{{ host.name }}\n"``), is kept: a string.
_EXACT_EXPR = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\Z", re.DOTALL)


def has_template(value: str) -> bool:
    """Whether ``value`` contains Jinja2 markup."""
    return any(marker in value for marker in _MARKERS)


def _undefined_name(exc: UndefinedError) -> str | None:
    match = re.search(r"'([^']+)' is undefined", str(exc))
    if match:
        return match.group(1)
    match = re.search(r"has no attribute '([^']+)'", str(exc))
    return match.group(1) if match else None


def _render_into(root: Callable[[Any], Iterator[str]], ctx: Any) -> str:
    """Run a template's compiled root function in ``ctx``; every failure becomes a :class:`TemplateError`."""
    try:
        return concat(root(ctx))
    except Exception as exc:
        raise _as_template_error(exc) from None


def _as_template_error(exc: Exception) -> TemplateError:
    """What a failure while rendering becomes: a :class:`TemplateError` naming any undefined name."""
    if isinstance(exc, TemplateError):
        return exc
    if isinstance(exc, UndefinedError):
        return TemplateError(str(exc), _undefined_name(exc))
    if isinstance(exc, FilterArgumentError):  # a filter's own message names the filter and the problem
        return TemplateError(str(exc))
    return TemplateError(f"{type(exc).__name__}: {exc}")


class Expression:
    """A Jinja2 expression compiled once; :meth:`evaluate` returns its native value for a context."""

    __slots__ = ("_root", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        text = "{% set __nf_value = (" + source + ") %}"
        try:
            body = environment.parse(text).body
            if len(body) != 1 or not isinstance(body[0], jinja2.nodes.Assign):
                # "x) %}{% for ..." would smuggle statements in: an expression is one expression
                raise TemplateError(f"invalid expression {source!r}: not a single expression")
            template = environment.from_string(text)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"invalid expression {source!r}: {exc.message}") from None
        self._root = template.root_render_func

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against ``context`` (any mapping; it is not copied)."""
        try:
            value = _hotpath.expression_value(self._root, context, _EXPRESSION_CONTEXT)
        except Exception as exc:
            raise _as_template_error(exc) from None
        if isinstance(value, jinja2.Undefined):
            try:
                str(value)
            except UndefinedError as exc:
                raise TemplateError(str(exc), _undefined_name(exc)) from None
        return value

    def condition(self, skip: Any, truth: Callable[[Any], bool] = bool) -> Any:
        """This expression as a pre-hook's per-host decision: ``True`` when ``truth`` of its value holds
        for the host's variables, else ``skip`` (a hot-path :class:`~nornflow._hotpath.Condition`)."""
        return _hotpath.Condition(self._root, _EXPRESSION_CONTEXT, skip, _condition_error, truth)


def _condition_error(exc: Exception) -> TemplateError:
    """What a condition raising becomes: a :class:`TemplateError` naming any undefined variable."""
    if isinstance(exc, UndefinedError):
        return TemplateError(str(exc), _undefined_name(exc))
    return _as_template_error(exc)


#: What ``Template.new_context(context, shared=True)`` sets up for an expression, minus its per-call
#: copy of the globals' keys and its new EvalContext (4x the cost of a simple condition): one
#: expression holds no statement, so it can neither export variables nor change the evaluation
#: context. The hot path adds the parent, fresh ``vars`` and ``exported_vars``.
_EXPRESSION_CONTEXT: dict[str, Any] = {
    "__class__": environment.context_class,
    "attributes": {
        "environment": environment,
        "eval_ctx": jinja2.nodes.EvalContext(environment),
        "name": None,
        "globals_keys": frozenset(),
        "blocks": {},
    },
}


class _Text:
    """A template that renders to a string."""

    __slots__ = ("_template", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._template = environment.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"invalid template {source!r}: {exc.message}") from None

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Render against ``context`` (any mapping; it is not copied)."""
        ctx = self._template.new_context(context, shared=True)  # type: ignore[arg-type]
        return _render_into(self._template.root_render_func, ctx)


def compile_expression(source: str) -> Expression:
    """Compile a bare Jinja2 expression (``if:`` conditions, ``loop:`` lists)."""
    text = source.strip()
    match = _WHOLE_EXPR.match(text)
    if match:
        text = match.group("expr").strip()
    return Expression(text)


def compile_condition(source: str) -> Expression | _Text:
    """Compile a condition: a bare expression (``host.platform == 'ios'``), one whole
    ``{{ expression }}`` (both give the expression's value), or any other template
    (``{{ a }} and {{ b }}``, ``{% if x %}yes{% endif %}``), which renders to text."""
    match = _WHOLE_EXPR.match(source)
    if has_template(source) and not (match and "{{" not in match.group("expr")):
        return _Text(source)
    return compile_expression(source)


def _compile_value(value: Any) -> Any:
    if isinstance(value, str):
        if not has_template(value):
            return value
        match = _EXACT_EXPR.match(value)
        if match and "{{" not in match.group("expr"):
            return Expression(match.group("expr").strip())
        return _Text(value)
    if isinstance(value, Mapping):
        return {k: _compile_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_compile_value(v) for v in value]
    return value


def _contains_template(value: Any) -> bool:
    if isinstance(value, (Expression, _Text)):
        return True
    if isinstance(value, dict):
        return any(_contains_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_template(v) for v in value)
    return False


def _has_containers(args: Mapping[str, Any]) -> bool:
    return any(isinstance(v, (dict, list, set)) for v in args.values())


def _render(value: Any, context: Mapping[str, Any], path: str) -> Any:
    if isinstance(value, (Expression, _Text)):
        try:
            return value.evaluate(context)
        except TemplateError as exc:
            exc.message = f"{path}: {exc.message}"
            exc.args = (exc.message,)
            exc.path = path  # type: ignore[attr-defined]
            raise
    if isinstance(value, dict):
        return {k: _render(v, context, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, context, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


class CompiledArgs:
    """A task's args compiled once; :meth:`render` returns the kwargs for one host."""

    __slots__ = ("_compiled", "_copy_static", "static", "templated")

    def __init__(self, args: Mapping[str, Any]) -> None:
        self._compiled = {k: _compile_value(v) for k, v in args.items()}
        self.templated = _contains_template(self._compiled)
        self.static = dict(args) if not self.templated else None
        self._copy_static = not self.templated and _has_containers(args)

    @property
    def fixed(self) -> dict[str, Any] | None:
        """The kwargs when they are the same for every host and a shallow copy per host keeps hosts
        apart (no template, no container to share); else None (use :meth:`render`)."""
        return self.static if not self.templated and not self._copy_static else None

    def render(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """Kwargs for one host: static args are copied (so tasks cannot leak changes across hosts)."""
        if not self.templated:
            static = self.static
            assert static is not None
            return copy.deepcopy(static) if self._copy_static else dict(static)
        assert context is not None
        return {k: _render(v, context, k) for k, v in self._compiled.items()}


def compile_args(args: Mapping[str, Any]) -> CompiledArgs:
    """Compile a task's args; raises :class:`TemplateError` for a syntax error."""
    return CompiledArgs(args)
