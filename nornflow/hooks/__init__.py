"""The hooks framework: base classes, the registry, and the built-in hooks (registered on import).

``_HOOK_INSTANCE_CACHE`` (the flyweight cache's weak mapping ``(class, type(value), value) -> instance``)
and ``_HOOK_CACHE_LOCK`` (taken on a miss) are the names the hooks guide documents, also importable
from :mod:`nornflow.models.runnable`.
"""

from nornflow import _hotpath
from nornflow.hooks import builtins  # noqa: F401  (registers the built-in hooks)
from nornflow.hooks.base import Hook, PostRunHook, PreRunHook
from nornflow.hooks.registry import HOOK_REGISTRY, register_hook

_HOOK_INSTANCE_CACHE = _hotpath.HOOK_CACHE.data
_HOOK_CACHE_LOCK = _hotpath.HOOK_CACHE.lock

__all__ = ["HOOK_REGISTRY", "Hook", "PostRunHook", "PreRunHook", "register_hook"]
