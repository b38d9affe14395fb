"""Select the hook hot path: the compiled ``_hotpath_c`` when built, else the pure ``_hotpath_py``.

``NORNFLOW_NO_EXTENSIONS=1`` forces the pure twin (it wins over the next one, so CI can keep
``NORNFLOW_REQUIRE_EXTENSIONS=1`` exported for a second, pure run); ``NORNFLOW_REQUIRE_EXTENSIONS=1``
makes a missing compiled module an ImportError so a broken build cannot pass silently. Both are read
as true/false words at import. The rest of nornflow imports the hot path only through this module.
"""

from __future__ import annotations

import importlib
from types import ModuleType

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
IMPLEMENTATION: str = _impl.IMPLEMENTATION
ExecutionTracker = _impl.ExecutionTracker
HookDispatcher = _impl.HookDispatcher
HookInstanceCache = _impl.HookInstanceCache
TaskRun = _impl.TaskRun
cache_key = _impl.cache_key
fast_path_kind = _impl.fast_path_kind

__all__ = [
    "HOOK_CACHE",
    "IMPLEMENTATION",
    "TRACKER",
    "ExecutionTracker",
    "HookDispatcher",
    "HookInstanceCache",
    "TaskRun",
    "cache_key",
    "fast_path_kind",
]

#: The process-wide flyweight cache of hook instances.
HOOK_CACHE = HookInstanceCache()
#: The process-wide tracker of once-per-task executions.
TRACKER = ExecutionTracker()
