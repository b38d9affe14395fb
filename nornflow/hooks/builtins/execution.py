"""Hooks that shape how the task itself runs on a host: ``loop``, ``retries``, ``timeout``.

Each is a pre-hook that hands the engine an *execution wrapper* for the host
(``vars_mgr.add_execution_wrapper``). The engine nests the wrappers by ``execution_order`` — loop
outermost, then retries, then timeout innermost — so ``loop`` + ``retries`` retries each item and
``timeout`` bounds each attempt. A wrapper's ``execute(call, extra, task_model, host, vars_mgr)`` calls
``call(extra)`` (render the args with ``extra`` variables and run the task) as often as it needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from nornir.core.task import Result

from nornflow.hooks.base import PreRunHook
from nornflow.hooks.registry import register_hook
from nornflow.templating import TemplateError, compile_expression, has_template

__all__ = ["LoopHook", "RetriesHook", "TimeoutHook"]

Call = Callable[[Mapping[str, Any] | None], Result]

#: Largest sensible values; bigger ones are almost certainly typos.
MAX_RETRIES = 1000
MAX_SECONDS = 7 * 24 * 3600


def _merge_extra(extra: Mapping[str, Any] | None, more: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(extra) if extra else {}
    merged.update(more)
    return merged


class _WrapperHook(PreRunHook):
    """A pre-hook that registers itself as this host's execution wrapper."""

    execution_order = 100

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        vars_mgr.add_execution_wrapper(host, self)
        return True

    def execute(
        self, call: Call, extra: Mapping[str, Any] | None, task_model: Any, host: Any, vars_mgr: Any
    ) -> Result:
        """Run the task for ``host`` through ``call``; return the result to record."""
        raise NotImplementedError


@register_hook
class LoopHook(_WrapperHook):
    """Run the task once per item (``item`` in its args); the results are kept per item."""

    hook_name = "loop"
    execution_order = 10

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self._expression = None
        self._error: str | None = None
        if isinstance(value, str):
            try:
                self._expression = compile_expression(value)
            except TemplateError as exc:
                self._error = str(exc)
        elif not isinstance(value, (list, tuple)):
            self._error = f"must be a list or a Jinja2 expression giving a list, got {type(value).__name__}"

    def validate_value(self) -> None:
        """A malformed expression or a non-list value is reported before the run."""
        if self._error:
            raise ValueError(self._error)

    def _items(self, host: Any, vars_mgr: Any) -> list[Any]:
        from nornflow.freeze import thaw

        if self._expression is None:
            items = thaw(self.value)
            if any(isinstance(i, str) and has_template(i) for i in items):
                ctx = vars_mgr.context(host)
                items = [
                    compile_expression(i).evaluate(ctx) if isinstance(i, str) and has_template(i) else i
                    for i in items
                ]
            return items
        items = self._expression.evaluate(vars_mgr.context(host))
        if isinstance(items, Mapping):
            return [{"key": k, "value": v} for k, v in items.items()]
        if isinstance(items, (list, tuple, range, set, frozenset)):
            return list(items)
        raise ValueError(
            f"loop expression {self._expression.source!r} gave {type(items).__name__}, not a list"
        )

    def execute(
        self, call: Call, extra: Mapping[str, Any] | None, task_model: Any, host: Any, vars_mgr: Any
    ) -> Result:
        items = self._items(host, vars_mgr)
        results = [call(_merge_extra(extra, {"item": item})) for item in items]
        detail = []
        for item, r in zip(items, results, strict=True):
            entry: dict[str, Any] = {
                "item": item,
                "status": "failed" if r.failed else ("changed" if r.changed else "ok"),
                "result": r.result,
            }
            if r.exception is not None:
                entry["error"] = f"{type(r.exception).__name__}: {r.exception}"
            detail.append(entry)
        failed = [r for r in results if r.failed]
        combined = Result(
            host=host,
            result=[r.result for r in results],
            changed=any(r.changed for r in results),
            failed=bool(failed),
            exception=failed[0].exception if failed else None,
        )
        combined.nornflow_extra = {"items": detail}  # type: ignore[attr-defined]
        return combined


@register_hook
class RetriesHook(_WrapperHook):
    """Re-run a failed (or not-yet-``until``) task: ``retries: N`` or ``{count, delay, until}``."""

    hook_name = "retries"
    execution_order = 20

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self.count = 0
        self.delay = 0.0
        self._until = None
        self._error: str | None = None
        try:
            self._parse(value)
        except (ValueError, TemplateError) as exc:
            self._error = str(exc)

    def _parse(self, value: Any) -> None:
        if isinstance(value, Mapping):
            unknown = set(value) - {"count", "delay", "until"}
            if unknown:
                raise ValueError(
                    f"unknown key(s) {', '.join(sorted(map(str, unknown)))} (valid: count, delay, until)"
                )
            count = value.get("count", 1)
            delay = value.get("delay", 0)
            until = value.get("until")
        else:
            count, delay, until = value, 0, None
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_RETRIES:
            raise ValueError(f"count must be an integer from 0 to {MAX_RETRIES}, got {count!r}")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_SECONDS:
            raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
        if until is not None:
            if not isinstance(until, str) or not until.strip():
                raise ValueError(
                    f"until must be a Jinja2 expression over result/failed/changed, got {until!r}"
                )
            self._until = compile_expression(until)
        self.count, self.delay = count, float(delay)

    def validate_value(self) -> None:
        """Bad counts, delays, keys or ``until`` expressions are reported before the run."""
        if self._error:
            raise ValueError(self._error)

    def _done(self, r: Result, host: Any, vars_mgr: Any) -> bool:
        if r.failed:
            return False
        if self._until is None:
            return True
        return bool(self._until.evaluate(vars_mgr.result_context(host, r)))

    def execute(
        self, call: Call, extra: Mapping[str, Any] | None, task_model: Any, host: Any, vars_mgr: Any
    ) -> Result:
        attempts = 0
        while True:
            attempts += 1
            r = call(extra)
            done = self._done(r, host, vars_mgr)
            if done or attempts > self.count:
                break
            if self.delay:
                time.sleep(self.delay)
        if not done and not r.failed:
            r.failed = True
            r.exception = RuntimeError(
                f"'until' condition still false after {attempts} attempt(s): {self._until.source}"  # type: ignore[union-attr]
            )
        extra_info = dict(getattr(r, "nornflow_extra", None) or {})
        extra_info["attempts"] = attempts
        r.nornflow_extra = extra_info  # type: ignore[attr-defined]
        return r


class TaskTimeoutError(TimeoutError):
    """A host's task ran longer than its ``timeout``."""


@register_hook
class TimeoutHook(_WrapperHook):
    """Fail a host whose task runs longer than S seconds (each attempt of each item); others go on.

    Python cannot kill a thread: the timed-out call is abandoned on a daemon thread and its eventual
    result is discarded, so tasks with side effects should also use their own protocol timeouts.
    """

    hook_name = "timeout"
    execution_order = 30

    def validate_value(self) -> None:
        """``timeout`` takes a positive number of seconds."""
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= MAX_SECONDS:
            raise ValueError(f"must be a number of seconds > 0, got {v!r}")

    def execute(
        self, call: Call, extra: Mapping[str, Any] | None, task_model: Any, host: Any, vars_mgr: Any
    ) -> Result:
        box: list[Result] = []

        def target() -> None:
            box.append(call(extra))

        worker = threading.Thread(target=target, name=f"nornflow-timeout-{host.name}", daemon=True)
        worker.start()
        worker.join(float(self.value))
        if box:
            return box[0]
        exc = TaskTimeoutError(
            f"task {getattr(task_model, 'name', '?')!r} exceeded its timeout of {self.value}s"
        )
        return Result(host=host, result=str(exc), exception=exc, failed=True)
