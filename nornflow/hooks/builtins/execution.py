"""Hooks that run the task themselves for each host: ``loop``, ``retries``, ``timeout``.

They are :class:`~nornflow.hooks.base.WrapperHook` s: ordered once when the task is prepared by
``execution_order`` (loop outermost, then retries, then timeout innermost), so ``loop`` + ``retries``
retries each item and ``timeout`` bounds each attempt. Each one's ``execute`` gets the next one as
``call(task, extra)``: render the args with the ``extra`` variables and run the task through the
inner wrappers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from nornflow import _hotpath
from nornflow.freeze import thaw
from nornflow.hooks.base import TaskCall, WrapperHook
from nornflow.hooks.outcome import outcome_context
from nornflow.hooks.registry import register_hook
from nornflow.templating import Expression, TemplateError, compile_expression, has_template

__all__ = [
    "ABANDONED",
    "AbandonedThreads",
    "AbandonedThreadsError",
    "LoopHook",
    "RetriesHook",
    "TaskTimeoutError",
    "TimeoutHook",
]

logger = logging.getLogger(__name__)

#: Largest sensible values; bigger ones are almost certainly typos.
MAX_RETRIES = 1000
MAX_SECONDS = 7 * 24 * 3600


def _merge_extra(extra: Mapping[str, Any] | None, more: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(extra) if extra else {}
    merged.update(more)
    return merged


@register_hook
class LoopHook(WrapperHook):
    """Run the task once per item (``item`` in its args); the results are kept per item."""

    hook_name = "loop"
    execution_order = 10

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self._expression: Expression | None = None
        #: a literal list: its items, with templated strings compiled once (None: an expression)
        self._items: list[Any] | None = None
        self._templated = False
        self._error: str | None = None
        try:
            if isinstance(value, str):
                self._expression = compile_expression(value)
            elif isinstance(value, (list, tuple)):
                self._items = [
                    compile_expression(i) if isinstance(i, str) and has_template(i) else i
                    for i in thaw(value)
                ]
                self._templated = any(isinstance(i, Expression) for i in self._items)
            else:
                self._error = (
                    f"must be a list or a Jinja2 expression giving a list, got {type(value).__name__}"
                )
        except TemplateError as exc:
            self._error = str(exc)

    def validate_value(self) -> None:
        """A malformed expression or a non-list value is reported before the run."""
        if self._error:
            raise ValueError(self._error)

    def items_for(self, host: Any, vars_mgr: Any) -> list[Any]:
        """The items of this host's loop (templated items and expressions evaluated for ``host``)."""
        if self._items is not None:
            if not self._templated:
                return list(self._items)
            ctx = vars_mgr.context(host)
            return [i.evaluate(ctx) if isinstance(i, Expression) else i for i in self._items]
        assert self._expression is not None
        items = self._expression.evaluate(vars_mgr.context(host))
        if isinstance(items, Mapping):
            return [{"key": k, "value": v} for k, v in items.items()]
        if isinstance(items, (list, tuple, range, set, frozenset)):
            return list(items)
        raise ValueError(
            f"loop expression {self._expression.source!r} gave {type(items).__name__}, not a list"
        )

    def execute(
        self, call: TaskCall, task_model: Any, task: Any, vars_mgr: Any, extra: Mapping[str, Any] | None
    ) -> Any:
        """Run the task once per item; the host failed (changed) if any item did."""
        host = task.host
        items = self.items_for(host, vars_mgr)
        outcomes = [call(task, _merge_extra(extra, {"item": item})) for item in items]
        detail = []
        for item, o in zip(items, outcomes, strict=True):
            entry: dict[str, Any] = {"item": item, "status": o.status, "result": o.result}
            if o.exception is not None:
                entry["error"] = f"{type(o.exception).__name__}: {o.exception}"
            detail.append(entry)
        failed = [o for o in outcomes if o.failed]
        combined = _hotpath.Outcome(
            host,
            [o.result for o in outcomes],
            any(o.changed for o in outcomes),
            bool(failed),
            failed[0].exception if failed else None,
        )
        if failed:
            combined.hook = failed[0].hook
        combined.items = detail
        return combined


@register_hook
class RetriesHook(WrapperHook):
    """Re-run a failed (or not-yet-``until``) task: ``retries: N`` or ``{count, delay, until}``."""

    hook_name = "retries"
    execution_order = 20

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self.count = 0
        self.delay = 0.0
        self._until: Expression | None = None
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

    def _done(self, outcome: Any, vars_mgr: Any) -> bool:
        if outcome.failed:
            return False
        if self._until is None:
            return True
        return bool(self._until.evaluate(outcome_context(outcome, vars_mgr)))

    def execute(
        self, call: TaskCall, task_model: Any, task: Any, vars_mgr: Any, extra: Mapping[str, Any] | None
    ) -> Any:
        """Run the task until it succeeds (and ``until`` holds) or the attempts are used up."""
        attempts = 0
        while True:
            attempts += 1
            r = call(task, extra)
            done = self._done(r, vars_mgr)
            if done or attempts > self.count:
                break
            if self.delay:
                time.sleep(self.delay)
        if not done and not r.failed:
            assert self._until is not None  # without `until`, a result that did not fail is done
            r.failed = True
            r.exception = RuntimeError(
                f"'until' condition still false after {attempts} attempt(s): {self._until.source}"
            )
            r.hook = self.hook_name
        r.attempts = attempts
        return r


class TaskTimeoutError(TimeoutError):
    """A host's task ran longer than its ``timeout``."""


class AbandonedThreadsError(RuntimeError):
    """A timed attempt not started: too many timed-out attempts are still running in their threads."""


#: Default bound on the helper threads of timed-out attempts still running (settings
#: ``max_abandoned_threads``).
MAX_ABANDONED_THREADS = 100


class AbandonedThreads:
    """The helper threads of timed-out attempts that are still running, counted process-wide.

    Python cannot kill a thread: an attempt that times out is abandoned, and its thread lives on until
    the call returns (closing the host's connections usually makes it return). Past ``limit`` such
    threads, new timed attempts fail at once instead of adding threads until the process runs out.
    """

    def __init__(self, limit: int = MAX_ABANDONED_THREADS) -> None:
        self.limit = limit
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def add(self, thread: threading.Thread) -> None:
        """Count ``thread`` as abandoned (until it ends)."""
        with self._lock:
            if thread.is_alive():
                self._threads.add(thread)

    def discard(self, thread: threading.Thread) -> None:
        """``thread`` has ended: it no longer counts."""
        with self._lock:
            self._threads.discard(thread)

    def count(self) -> int:
        """How many abandoned threads are still running."""
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            return len(self._threads)


#: The process's abandoned threads; a run sets ``ABANDONED.limit`` from its settings.
ABANDONED = AbandonedThreads()


def _close_connections(host: Any) -> None:
    """Close the host's open connections (a stuck read on one then usually fails and its thread
    ends); a connection that fails to close is logged, never raised."""
    try:
        host.close_connections()
    except Exception as exc:
        logger.warning("timeout: closing the connections of %s failed: %s", getattr(host, "name", host), exc)


@register_hook
class TimeoutHook(WrapperHook):
    """Fail a host whose task runs longer than S seconds (each attempt of each item); others go on.

    Python cannot kill a thread: the timed-out call is abandoned on a daemon thread (the host's
    connections are closed, which usually ends it) and its eventual result is discarded. Past
    ``max_abandoned_threads`` abandoned threads still running, new attempts fail at once.
    """

    hook_name = "timeout"
    execution_order = 30

    def validate_value(self) -> None:
        """``timeout`` takes a positive number of seconds."""
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= MAX_SECONDS:
            raise ValueError(f"must be a number of seconds > 0, got {v!r}")

    def execute(
        self, call: TaskCall, task_model: Any, task: Any, vars_mgr: Any, extra: Mapping[str, Any] | None
    ) -> Any:
        """Run the task on a helper thread and give up waiting after ``value`` seconds."""
        host = task.host
        abandoned = ABANDONED.count()
        if abandoned >= ABANDONED.limit:
            return self._failed(
                host,
                AbandonedThreadsError(
                    f"task {getattr(task_model, 'name', '?')!r} not started: {abandoned} timed-out "
                    f"attempt(s) are still running in abandoned threads (max_abandoned_threads: "
                    f"{ABANDONED.limit}); their calls are stuck and Python cannot stop them"
                ),
            )
        box: list[Any] = []

        def target() -> None:
            try:
                box.append(call(task, extra))
            except BaseException as exc:  # handed back to the waiting thread, which raises it
                box.append(exc)
            finally:
                ABANDONED.discard(threading.current_thread())

        worker = threading.Thread(target=target, name=f"nornflow-timeout-{host.name}", daemon=True)
        worker.start()
        worker.join(float(self.value))
        if box:
            if isinstance(box[0], BaseException):
                raise box[0]
            return box[0]
        ABANDONED.add(worker)
        _close_connections(host)
        exc = TaskTimeoutError(
            f"task {getattr(task_model, 'name', '?')!r} exceeded its timeout of {self.value}s"
        )
        return self._failed(host, exc)

    def _failed(self, host: Any, exc: BaseException) -> Any:
        outcome = _hotpath.Outcome(host, str(exc), False, True, exc)
        outcome.hook = self.hook_name
        return outcome
