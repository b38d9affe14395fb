"""The hooks framework: base classes, the registry, and the built-in hooks (registered on import)."""

from nornflow.hooks.base import Hook, PostRunHook, PreRunHook
from nornflow.hooks.registry import HOOK_REGISTRY, register_hook

from nornflow.hooks import builtins  # noqa: E402,F401,I001  (registers the built-in hooks)

__all__ = ["HOOK_REGISTRY", "Hook", "PostRunHook", "PreRunHook", "register_hook"]
