"""What hook expressions and paths see of a host's outcome: ``result``, ``failed``, ``changed``, ...

``set_to: {var: result.items[0]}`` paths and ``failed_when``/``until`` expressions read these names;
expressions see them over the host's variables (``host``, runtime variables, ``--vars``, ...).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from nornflow._hotpath import Outcome
    from nornflow.vars import VarsManager

__all__ = ["VIEW_NAMES", "outcome_context", "outcome_view"]

#: The names an outcome view has (the roots a ``set_to`` path may start with).
VIEW_NAMES = ("result", "failed", "changed", "exception", "diff", "stdout")


def outcome_view(outcome: Outcome) -> dict[str, Any]:
    """The outcome as plain names: ``exception`` is ``"Type: message"``, ``stdout`` the task's own
    ``stdout`` when its Nornir result has one, else the payload."""
    exc = outcome.exception
    raw = outcome.raw
    stdout = getattr(raw, "stdout", None) if raw is not None else None
    return {
        "result": outcome.result,
        "failed": outcome.failed,
        "changed": outcome.changed,
        "exception": None if exc is None else f"{type(exc).__name__}: {exc}",
        "diff": outcome.diff or "",
        "stdout": outcome.result if stdout is None else stdout,
    }


def outcome_context(outcome: Outcome, vars_mgr: VarsManager) -> ChainMap[str, Any]:
    """The variables of an expression over ``outcome``: its view over the host's variables."""
    # ChainMap writes only to its first map; the host's view is read-only and never written through
    return ChainMap(outcome_view(outcome), cast("MutableMapping[str, Any]", vars_mgr.context(outcome.host)))
