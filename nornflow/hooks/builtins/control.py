"""Change-control hooks: ``tags`` (select tasks), ``throttle`` (at most N hosts in a task at once) and
``check_mode`` (run, or not, in check mode whatever the task declares).

All three are constants of the task, read once when it is prepared (``per_host = False``): ``tags``
and ``check_mode`` are read by the run's task selection and check-mode rule, and ``throttle`` puts a
gate (a semaphore of the task) around the task's execution on each host.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from nornflow.hooks.base import PreRunHook, TaskSetup, WrapperHook
from nornflow.hooks.registry import register_hook

__all__ = ["CheckModeHook", "TagsHook", "ThrottleHook", "tags_of"]

#: A tag: letters, digits, ``_``, ``-``, ``.``, ``:``; no spaces or commas (``--tags a,b`` splits on commas).
TAG_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _tag_list(value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"must be a tag or a non-empty list of tags, got {value!r}")
    for item in items:
        if not isinstance(item, str) or not TAG_RE.match(item):
            raise ValueError(
                f"a tag is letters, digits, '_', '-', '.', ':' (no spaces or commas), got {item!r}"
            )
    return tuple(items)


def tags_of(task_model: Any) -> frozenset[str]:
    """The tags of a task model (its ``tags`` hook; blocks' tags were merged in when it loaded)."""
    value = task_model.hooks.get("tags")
    return frozenset() if value is None else frozenset(_tag_list(value))


@register_hook
class TagsHook(PreRunHook):
    """Tags of the task, for --tags / --skip-tags (a task option: nothing per host)."""

    hook_name = "tags"
    per_host = False
    run_once_per_task = True
    value_schema: ClassVar[Mapping[str, Any]] = {
        "oneOf": [
            {"type": "string", "pattern": TAG_RE.pattern},
            {"type": "array", "items": {"type": "string", "pattern": TAG_RE.pattern}, "minItems": 1},
        ]
    }

    def validate_value(self) -> None:
        """``tags`` takes a tag or a non-empty list of tags."""
        _tag_list(self.value)

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        """Nothing per host: tags select tasks before the run."""
        return True


@register_hook
class CheckModeHook(PreRunHook):
    """Run the task in check mode (true) or skip it there (false), whatever the task declares."""

    hook_name = "check_mode"
    per_host = False
    run_once_per_task = True
    value_schema: ClassVar[Mapping[str, Any]] = {"type": "boolean"}

    def validate_value(self) -> None:
        """``check_mode`` takes true or false."""
        if not isinstance(self.value, bool):
            raise ValueError(f"must be true or false, got {self.value!r}")

    def configure(self, setup: TaskSetup) -> None:
        """Set the task's ``check_mode`` option (read by the run in check mode)."""
        setup.options["check_mode"] = self.value

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        """Nothing per host."""
        return True


class _Gate(WrapperHook):
    """The throttle of one task model: its execution on a host holds one of N places."""

    hook_name = "throttle"
    #: outermost: a host holds its place for all its loop items and retries
    execution_order = 5

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.places = threading.BoundedSemaphore(value)

    def execute(self, call: Any, task_model: Any, task: Any, vars_mgr: Any, extra: Any) -> Any:
        """Wait for a place, run the task through the inner wrappers, give the place back."""
        with self.places:
            return call(task, extra)


@register_hook
class ThrottleHook(WrapperHook):
    """At most N hosts run the task at once, whatever the number of workers."""

    hook_name = "throttle"
    execution_order = 5
    value_schema: ClassVar[Mapping[str, Any]] = {"type": "integer", "minimum": 1}

    def validate_value(self) -> None:
        """``throttle`` takes a whole number >= 1."""
        if isinstance(self.value, bool) or not isinstance(self.value, int) or self.value < 1:
            raise ValueError(f"must be a whole number >= 1, got {self.value!r}")

    def configure(self, setup: TaskSetup) -> None:
        """Put a gate of this task (its own semaphore, never shared with another task) around it."""
        setup.wrap(_Gate(self.value))
        setup.options["throttle"] = self.value

    def execute(self, call: Any, task_model: Any, task: Any, vars_mgr: Any, extra: Any) -> Any:
        """Called directly (not through a prepared task), it runs the task ungated."""
        return call(task, extra)
