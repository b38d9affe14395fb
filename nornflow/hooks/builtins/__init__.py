"""The built-in hooks; importing this package registers them."""

from nornflow.hooks.builtins.output import OutputHook
from nornflow.hooks.builtins.set_to import SetToHook

__all__ = ["OutputHook", "SetToHook"]
