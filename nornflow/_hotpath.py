"""Select the hook hot path: the compiled ``_hotpath_c`` when built, else the pure ``_hotpath_py``.

``NORNFLOW_NO_EXTENSIONS=1`` forces the pure twin (it wins over the next one, so CI can keep
``NORNFLOW_REQUIRE_EXTENSIONS=1`` exported for a second, pure run); ``NORNFLOW_REQUIRE_EXTENSIONS=1``
makes a missing compiled module an ImportError so a broken build cannot pass silently. Both are read
as true/false words at import. The rest of nornflow imports the hot path only through this module.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from nornflow._envflags import env_flag

try:
    _FORCE_PURE = env_flag("NORNFLOW_NO_EXTENSIONS")
    _REQUIRE = env_flag("NORNFLOW_REQUIRE_EXTENSIONS")
except ValueError as _exc:
    raise ImportError(str(_exc)) from None


def _select() -> ModuleType:
    """The implementation module: forced pure, else compiled, else (unless required) pure."""
    if _FORCE_PURE:
        return importlib.import_module("nornflow._hotpath_py")
    try:
        return importlib.import_module("nornflow._hotpath_c")
    except ImportError as exc:
        if _REQUIRE:
            raise ImportError(
                "NORNFLOW_REQUIRE_EXTENSIONS is set but the compiled hot path nornflow._hotpath_c "
                f"cannot be imported ({exc}); build it with `pip install .` (needs Cython and a C compiler)"
            ) from exc
        return importlib.import_module("nornflow._hotpath_py")


_impl = _select()

if TYPE_CHECKING:  # type checkers see the pure twin: both twins have the same API (tests diff them)
    from nornflow._hotpath_py import (
        CHANGED,
        FAILED,
        IMPLEMENTATION,
        NOT_RUN,
        OK,
        SKIPPED,
        Condition,
        ExecutionTracker,
        HookDispatcher,
        HookInstanceCache,
        HostVars,
        JinjaGetattr,
        Outcome,
        StoreResult,
        TaskRun,
        TaskStep,
        VarsManager,
        expression_value,
        host_name,
        outcome_of,
    )
else:
    IMPLEMENTATION: str = _impl.IMPLEMENTATION
    NOT_RUN, OK, CHANGED, FAILED, SKIPPED = (
        _impl.NOT_RUN,
        _impl.OK,
        _impl.CHANGED,
        _impl.FAILED,
        _impl.SKIPPED,
    )
    Condition = _impl.Condition
    ExecutionTracker = _impl.ExecutionTracker
    HookDispatcher = _impl.HookDispatcher
    HookInstanceCache = _impl.HookInstanceCache
    HostVars = _impl.HostVars
    JinjaGetattr = _impl.JinjaGetattr
    Outcome = _impl.Outcome
    StoreResult = _impl.StoreResult
    TaskRun = _impl.TaskRun
    TaskStep = _impl.TaskStep
    VarsManager = _impl.VarsManager
    expression_value = _impl.expression_value
    host_name = _impl.host_name
    outcome_of = _impl.outcome_of

__all__ = [
    "CHANGED",
    "FAILED",
    "HOOK_CACHE",
    "IMPLEMENTATION",
    "NOT_RUN",
    "OK",
    "SKIPPED",
    "TRACKER",
    "Condition",
    "ExecutionTracker",
    "HookDispatcher",
    "HookInstanceCache",
    "HostVars",
    "JinjaGetattr",
    "Outcome",
    "StoreResult",
    "TaskRun",
    "TaskStep",
    "VarsManager",
    "expression_value",
    "host_name",
    "outcome_of",
]

#: The process-wide flyweight cache of hook instances.
HOOK_CACHE = HookInstanceCache()
#: The process-wide tracker of once-per-task executions (each task run is its own TaskRun in it).
TRACKER = ExecutionTracker()
