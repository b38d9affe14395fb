"""The built-in hooks; importing this package registers them."""

from nornflow.hooks.builtins.conditions import IfHook, WhenHook
from nornflow.hooks.builtins.execution import LoopHook, RetriesHook, TimeoutHook
from nornflow.hooks.builtins.output import OutputHook
from nornflow.hooks.builtins.results import ChangedWhenHook, FailedWhenHook, IgnoreErrorsHook
from nornflow.hooks.builtins.run_once import RunOnceHook
from nornflow.hooks.builtins.set_to import SetToHook

__all__ = [
    "ChangedWhenHook",
    "FailedWhenHook",
    "IfHook",
    "IgnoreErrorsHook",
    "LoopHook",
    "OutputHook",
    "RetriesHook",
    "RunOnceHook",
    "SetToHook",
    "TimeoutHook",
    "WhenHook",
]
