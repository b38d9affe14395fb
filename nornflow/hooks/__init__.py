"""The hooks framework: base classes, the registry, and the built-in hooks (registered on import)."""

from nornflow.hooks import builtins  # noqa: F401  (registers the built-in hooks)
from nornflow.hooks.base import Hook, PostRunHook, PreRunHook
from nornflow.hooks.registry import HOOK_REGISTRY, register_hook

__all__ = ["HOOK_REGISTRY", "Hook", "PostRunHook", "PreRunHook", "register_hook"]
