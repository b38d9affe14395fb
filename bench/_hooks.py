"""Shared fixtures for the hot-path benchmarks: three realistic hooks and a tiny vars manager."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

from nornir.core.inventory import Host
from nornir.core.task import Result

from nornflow.hooks.base import PreRunHook
from nornflow.hooks.builtins.output import OutputHook
from nornflow.hooks.builtins.set_to import SetToHook
from nornflow.hooks.plan import dispatch_plan
from nornflow.vars import VarsManager

IMPLS = {}
for _name, _module in (("python", "nornflow._hotpath_py"), ("cython", "nornflow._hotpath_c")):
    with contextlib.suppress(ImportError):
        IMPLS[_name] = importlib.import_module(_module)


class PerHostCheck(PreRunHook):
    """A per-host pre-hook with a trivial body (the dispatch cost is what is measured)."""

    hook_name = "bench_check"

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        return True


def Vars() -> VarsManager:
    """The real variables manager, as the engine passes it to hooks."""
    return VarsManager({"x": 1})


def hooks_for(count: int) -> tuple[list[Any], list[Any]]:
    """0, 1 or 3 hooks: set_to (post), then output (pre, once per task) and a per-host pre-hook."""
    pre: list[Any] = []
    post: list[Any] = []
    if count >= 1:
        post.append(SetToHook("facts"))
    if count >= 3:
        pre.append(OutputHook(False))
        pre.append(PerHostCheck(True))
    return pre, post


def make_dispatcher(impl: Any, count: int) -> Any:
    """The dispatcher of ``count`` hooks on implementation ``impl`` (planned as the run plans it)."""
    pre, post = hooks_for(count)
    return impl.HookDispatcher(*dispatch_plan(pre, post), impl.ExecutionTracker())


#: Real Nornir hosts and results: their attribute access costs are part of what hooks pay.
HOSTS = [Host(f"h{i}") for i in range(1000)]
RESULT = Result(host=HOSTS[0], result={"ok": True})


def outcome(impl: Any) -> Any:
    """A host's outcome on implementation ``impl``, as post-hooks get it."""
    return impl.outcome_of(HOSTS[0], RESULT)
