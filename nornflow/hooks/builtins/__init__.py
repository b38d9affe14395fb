"""The built-in hooks; importing this package registers them."""

from nornflow.hooks.builtins.conditions import IfHook, WhenHook
from nornflow.hooks.builtins.control import CheckModeHook, TagsHook, ThrottleHook
from nornflow.hooks.builtins.execution import LoopHook, RetriesHook, TimeoutHook
from nornflow.hooks.builtins.output import OutputHook, ShushHook
from nornflow.hooks.builtins.results import ChangedWhenHook, FailedWhenHook, IgnoreErrorsHook
from nornflow.hooks.builtins.run_once import RunOnceHook, SingleHook
from nornflow.hooks.builtins.set_to import SetToHook, StoreAsHook

__all__ = [
    "ChangedWhenHook",
    "CheckModeHook",
    "FailedWhenHook",
    "IfHook",
    "IgnoreErrorsHook",
    "LoopHook",
    "OutputHook",
    "RetriesHook",
    "RunOnceHook",
    "SetToHook",
    "ShushHook",
    "SingleHook",
    "StoreAsHook",
    "TagsHook",
    "ThrottleHook",
    "TimeoutHook",
    "WhenHook",
]
