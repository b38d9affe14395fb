"""What a task's hooks need from the run, computed once per task model (pluggy's lesson: precompute
everything dispatch needs, so the per-host loop is trivial).

:func:`build_setup` lets every hook configure the task (options, execution wrappers);
:func:`build_dispatcher` decides, per hook, what the hot-path dispatcher calls for each host: the
bound ``_run_hook`` when the hook class keeps the framework's ``run``/``_execute_hook``/
``_is_first_execution`` (with the exactly-once claim done by the dispatcher for run-once hooks), or
the hook's own ``run`` when it overrides any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nornflow import _hotpath
from nornflow.hooks.base import Hook, PostRunHook, PreRunHook, Skip, TaskModelLike, TaskSetup

__all__ = ["build_dispatcher", "build_setup", "calls_run_hook", "dispatch_plan", "needs_inventory_order"]

_MODE_METHODS = ("run", "_execute_hook", "_is_first_execution")


def calls_run_hook(hook: Hook, base: type[Hook]) -> bool:
    """Whether the dispatcher may call ``hook._run_hook`` directly: its class keeps ``base``'s
    ``run``, ``_execute_hook`` and ``_is_first_execution`` (overriding any of them keeps working)."""
    cls = type(hook)
    return isinstance(hook, base) and all(
        getattr(cls, m, None) is getattr(base, m, None) for m in _MODE_METHODS
    )


def _pre_entry(hook: PreRunHook) -> tuple[Any, Any, int | None, Skip]:
    direct = calls_run_hook(hook, PreRunHook)
    claim = id(hook) if direct and hook.run_once_per_task else None
    skip = Skip(f"skipped by hook {hook.hook_name!r}")
    return (hook, hook._run_hook if direct else hook.run, claim, skip)


def _post_entry(hook: PostRunHook) -> tuple[Any, Any, int | None]:
    direct = calls_run_hook(hook, PostRunHook)
    claim = id(hook) if direct and hook.run_once_per_task else None
    return (hook, hook._run_hook if direct else hook.run, claim)


def dispatch_plan(
    pre_hooks: Sequence[PreRunHook], post_hooks: Sequence[PostRunHook]
) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The dispatcher's entries for a task's hooks, in their order: per-host pre, per-host post, and
    once-per-task post (the run calls those after the fan-out, on the first host in inventory order
    that ran the task, so the choice is deterministic)."""
    pre = tuple(_pre_entry(h) for h in pre_hooks if h.per_host)
    post = tuple(_post_entry(h) for h in post_hooks if h.per_host and not h.run_once_per_task)
    post_once = tuple(_post_entry(h) for h in post_hooks if h.per_host and h.run_once_per_task)
    return pre, post, post_once


def build_dispatcher(
    pre_hooks: Sequence[PreRunHook],
    post_hooks: Sequence[PostRunHook],
    tracker: _hotpath.ExecutionTracker | None = None,
) -> _hotpath.HookDispatcher:
    """The hot-path dispatcher of one task model's per-host hooks (:func:`dispatch_plan`)."""
    pre, post, post_once = dispatch_plan(pre_hooks, post_hooks)
    return _hotpath.HookDispatcher(pre, post, post_once, tracker if tracker is not None else _hotpath.TRACKER)


def build_setup(task_model: TaskModelLike, hooks: Sequence[Hook]) -> TaskSetup:
    """Let every hook of ``task_model`` configure it once (:meth:`Hook.configure`)."""
    setup = TaskSetup(task_model)
    for hook in hooks:
        hook.configure(setup)
    return setup


def needs_inventory_order(pre_hooks: Sequence[PreRunHook]) -> bool:
    """Whether the first hosts' pre-hooks must run in inventory order before the fan-out (a run-once
    decision must fall on the first eligible host, whatever the threads do)."""
    return any(h.per_host and (h.run_once_per_task or h.needs_inventory_order) for h in pre_hooks)
