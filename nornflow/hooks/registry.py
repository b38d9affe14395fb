"""The hook registry: maps a hook name (the YAML key on a task) to its hook class.

Registration happens at import time through :func:`register_hook`. A name can belong to one class
only: a *different* class claiming a taken name is an error naming both, so two plugins can never
silently shadow each other. Re-registering the same class (or its re-import after a module reload)
is accepted.
"""

from __future__ import annotations

import keyword
import threading
from typing import TYPE_CHECKING, TypeVar

from nornflow.exceptions import HookRegistrationError

if TYPE_CHECKING:
    from nornflow.hooks.base import Hook

__all__ = ["HOOK_REGISTRY", "RESERVED_NAMES", "get_hook_class", "register_hook", "unregister_hook"]

#: Every registered hook, by name.
HOOK_REGISTRY: dict[str, type[Hook]] = {}

#: Keys of a task that are fields, not hooks; no hook may take these names.
RESERVED_NAMES = frozenset({"name", "args", "hooks", "description"})

_LOCK = threading.Lock()

H = TypeVar("H", bound=type)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_hook(hook_class: H) -> H:
    """Register ``hook_class`` under its ``hook_name``; use as a class decorator. Returns the class."""
    from nornflow.hooks.base import Hook, PostRunHook, PreRunHook

    if not isinstance(hook_class, type):
        raise HookRegistrationError(f"register_hook expects a class, got {hook_class!r}")
    qualname = _qualified(hook_class)
    if not issubclass(hook_class, Hook) or hook_class in (Hook, PreRunHook, PostRunHook):
        raise HookRegistrationError(f"hook class {qualname} must subclass PreRunHook or PostRunHook")
    if not (issubclass(hook_class, PreRunHook) or issubclass(hook_class, PostRunHook)):
        raise HookRegistrationError(f"hook class {qualname} must subclass PreRunHook or PostRunHook")
    name = getattr(hook_class, "hook_name", None)
    if not isinstance(name, str) or not name.strip():
        raise HookRegistrationError(
            f"Hook class {hook_class.__name__} must define a hook_name class attribute"
        )
    if name in RESERVED_NAMES:
        raise HookRegistrationError(
            f"hook class {qualname} uses the name {name!r}, which is a task field "
            f"(reserved: {', '.join(sorted(RESERVED_NAMES))})"
        )
    if not (name.isidentifier() or keyword.iskeyword(name)):
        raise HookRegistrationError(
            f"hook class {qualname} has hook_name {name!r}; a hook name must be a plain identifier"
        )
    with _LOCK:
        existing = HOOK_REGISTRY.get(name)
        if existing is not None and existing is not hook_class and _qualified(existing) != qualname:
            raise HookRegistrationError(
                f"hook name {name!r} is already registered by {_qualified(existing)}; "
                f"{qualname} cannot claim it (rename one of them)"
            )
        HOOK_REGISTRY[name] = hook_class
    return hook_class


def unregister_hook(name: str) -> type[Hook] | None:
    """Remove the hook registered under ``name`` (for tests and plugin unloading); return its class."""
    with _LOCK:
        return HOOK_REGISTRY.pop(name, None)


def get_hook_class(name: str) -> type[Hook] | None:
    """The class registered under ``name``, or ``None``."""
    return HOOK_REGISTRY.get(name)
