"""``set_to`` (NornFlow 1.0: ``store_as``): store a task's result, or parts of it, in host variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornflow import _hotpath
from nornflow.hooks.base import PostRunHook
from nornflow.hooks.builtins.flags import two_spellings
from nornflow.hooks.outcome import VIEW_NAMES, outcome_view
from nornflow.hooks.paths import PathError, parse_path, resolve_path
from nornflow.hooks.registry import register_hook
from nornflow.vars import check_var_name

__all__ = ["SetToHook", "StoreAsHook"]


def _check_var(name: Any) -> None:
    problem = check_var_name(name)
    if problem:
        raise ValueError(problem)


@register_hook
class SetToHook(PostRunHook):
    """Store the task result in a host variable (`name`), or parts of it ({var: path})."""

    hook_name = "set_to"

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self._error: str | None = None
        self._targets: tuple[tuple[str, str, str, tuple], ...] = ()
        #: the variable name when the whole result payload is stored (the common, fast case)
        self._var: str | None = None
        try:
            self._targets = self._parse(value)
        except (PathError, ValueError) as exc:
            self._error = str(exc)
        if isinstance(value, str) and self._error is None:
            self._var = value
            # the common case is the hot path's own store (no frame of this class per host)
            self._run_hook = _hotpath.StoreResult(value)  # type: ignore[method-assign,assignment]

    @classmethod
    def _parse(cls, value: Any) -> tuple[tuple[str, str, str, tuple], ...]:
        if isinstance(value, str):
            _check_var(value)
            return ((value, "result", "result", ()),)
        if isinstance(value, Mapping):
            if not value:
                raise ValueError("mapping must name at least one variable")
            targets = []
            for var, path in value.items():
                _check_var(var)
                if not isinstance(path, str):
                    raise ValueError(f"path for {var!r} must be a string such as 'result.items[0]'")
                root, steps = cls._root(var, path, *parse_path(path))
                targets.append((var, path, root, steps))
            return tuple(targets)
        raise ValueError(
            f"must be a variable name or a mapping of variable -> result path, got {type(value).__name__}"
        )

    @staticmethod
    def _root(var: str, path: str, root: str, steps: tuple) -> tuple[str, tuple]:
        """Where a path starts: one of the outcome's names (``result``, ``failed``, ...)."""
        if root not in VIEW_NAMES:
            raise ValueError(f"path {path!r} for {var!r} must start with one of: {', '.join(VIEW_NAMES)}")
        return root, steps

    def validate_value(self) -> None:
        """Reject a bad variable name or a malformed path before anything runs."""
        if self._error:
            raise ValueError(self._error)

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        var = self._var
        if var is not None:
            vars_mgr.set_runtime_var(host, var, result.result)
            return
        view = outcome_view(result)
        values = {}
        for var, path, root, steps in self._targets:
            values[var] = resolve_path(view[root], steps, path)
        for var, value in values.items():
            vars_mgr.set_runtime_var(host, var, value)


@register_hook
class StoreAsHook(SetToHook):
    """NornFlow 1.0's set_to: a path not starting with result/failed/... reads the result payload.

    ``store_as: facts`` is ``set_to: facts``. In the mapping form, a path whose first step is one of
    the outcome's names (``result``, ``failed``, ``changed``, ``exception``, ``diff``, ``stdout``)
    starts there, as with ``set_to``; any other path starts inside the result payload, so
    ``{vendor: facts.vendor}`` is ``{vendor: result.facts.vendor}``.
    """

    hook_name = "store_as"

    @staticmethod
    def _root(var: str, path: str, root: str, steps: tuple) -> tuple[str, tuple]:
        if root in VIEW_NAMES:
            return root, steps
        return "result", (("key", root), *steps)

    def validate_task_compatibility(self, task_model: Any) -> tuple[bool, str]:
        """A task takes ``set_to`` or ``store_as``, not both."""
        return two_spellings(task_model, "store_as", "set_to")
