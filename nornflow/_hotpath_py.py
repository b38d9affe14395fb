"""Pure-Python twin of the per-host hot path (``csrc/_hotpath_c.pyx`` is the compiled one).

Both twins hold the same classes, with the same fields in the same order and the same algorithms, so
a reader can diff them:

* :class:`HookInstanceCache`, the flyweight cache: one shared hook instance per ``(class, value)``.
* :class:`TaskRun` and :class:`ExecutionTracker`: "is this the first execution of hook H in this
  task run?", answered exactly once per run under any number of threads; runs are held weakly.
* :class:`HookDispatcher`: calls one task model's hooks for a host, from a plan computed once per
  task model (``nornflow.hooks.plan``); it knows which hook it called when one raises.
* :class:`Outcome` and :class:`TaskStep`: one host's outcome of one task, and the per-host step that
  runs pre-hooks, the task (through its wrappers), post-hooks, and records the outcome column-wise.

Exactly-once claims are one ``dict.setdefault`` with a fresh marker: a single dict operation, atomic
under the GIL and on free-threaded builds (where every dict has its own lock).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from array import array
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nornir.core.task import MultiResult, Result, Task

from nornflow.exceptions import hook_failure

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.inventory import Host

__all__ = [
    "CHANGED",
    "FAILED",
    "IMPLEMENTATION",
    "NOT_RUN",
    "OK",
    "SKIPPED",
    "ExecutionTracker",
    "HookDispatcher",
    "HookInstanceCache",
    "Outcome",
    "TaskRun",
    "TaskStep",
    "outcome_of",
]

IMPLEMENTATION = "python"

#: Status codes of a host's outcome, one byte per host in a task's results.
NOT_RUN, OK, CHANGED, FAILED, SKIPPED = 0, 1, 2, 3, 4


class HookInstanceCache:
    """Flyweight cache of hook instances keyed by ``(hook_class, type(value), value)``.

    Hits are lock-free (one dict lookup); a miss takes the lock, checks again, then constructs, so that
    any number of racing threads construct a given instance once. The lock is re-entrant so a hook whose
    constructor builds another hook through the cache does not deadlock.
    """

    __slots__ = ("data", "lock")

    def __init__(self) -> None:
        self.data: dict[tuple[type, type, Any], Any] = {}
        self.lock = threading.RLock()

    def get_or_create(self, hook_class: type, value: Any) -> Any:
        """Return the shared instance for ``(hook_class, value)``, constructing it on first use."""
        key = (hook_class, type(value), value)
        instance = self.data.get(key)
        if instance is not None:
            return instance
        with self.lock:
            instance = self.data.get(key)
            if instance is None:
                instance = hook_class(value)
                self.data[key] = instance
            return instance

    def get(self, hook_class: type, value: Any) -> Any:
        """Return the cached instance for ``(hook_class, value)`` or ``None``, never constructing one."""
        return self.data.get((hook_class, type(value), value))

    def instances(self) -> list[Any]:
        """A snapshot of every cached instance (for diagnostics and tests)."""
        with self.lock:
            return list(self.data.values())

    def clear(self) -> None:
        """Drop every cached instance (tests, and long-lived processes that reload hooks)."""
        with self.lock:
            self.data.clear()

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: object) -> bool:
        return key in self.data


class TaskRun:
    """The identity of one run of one task model: what exactly-once claims are made on.

    ``fired`` maps claim keys (a hook's ``id``) to the marker of the caller that won the claim.
    """

    __slots__ = ("__weakref__", "fired", "key", "task_model")

    def __init__(self, task_model: Any) -> None:
        self.task_model = task_model
        self.key = id(task_model)
        self.fired: dict[int, object] = {}

    def claim(self, hook: Any) -> bool:
        """True for exactly one caller per hook in this run, whatever the thread interleaving."""
        return self.claim_key(id(hook))

    def claim_key(self, key: int) -> bool:
        """:meth:`claim` by the hook's precomputed key (``id(hook)``)."""
        marker = object()
        return self.fired.setdefault(key, marker) is marker

    def has_fired(self, hook: Any) -> bool:
        """Whether ``hook`` was already claimed in this run."""
        return id(hook) in self.fired


class ExecutionTracker:
    """Answers "first execution of this hook in this task run?" for hooks that run once per task.

    The run opens a task run with :meth:`begin_run` and keeps the returned :class:`TaskRun` for as
    long as the task runs; the tracker only holds it weakly, so its state is freed with it. A hook
    called directly, outside any run, gets an implicit run that lives as long as its task model (or
    until :meth:`end_run`).
    """

    __slots__ = ("__weakref__", "_implicit", "_lock", "_runs")

    def __init__(self) -> None:
        self._runs: dict[int, weakref.ref[TaskRun]] = {}
        self._implicit: dict[int, TaskRun] = {}
        self._lock = threading.Lock()

    def begin_run(self, task_model: Any) -> TaskRun:
        """Start a new run of ``task_model``: every run-once hook may execute once more."""
        run = TaskRun(task_model)
        key = id(task_model)
        runs = self._runs

        def _drop(ref: weakref.ref[TaskRun], key: int = key, runs: dict = runs) -> None:
            if runs.get(key) is ref:
                runs.pop(key, None)

        with self._lock:
            self._implicit.pop(key, None)
            runs[key] = weakref.ref(run, _drop)
        return run

    def end_run(self, run: TaskRun) -> None:
        """Close ``run`` now (its claims are forgotten even if someone still holds it)."""
        key = run.key
        with self._lock:
            ref = self._runs.get(key)
            if ref is not None and ref() is run:
                del self._runs[key]
            if self._implicit.get(key) is run:
                del self._implicit[key]
        run.fired.clear()

    def current_run(self, task_model: Any) -> TaskRun | None:
        """The open run of ``task_model`` (explicit or implicit), or ``None``."""
        key = id(task_model)
        ref = self._runs.get(key)
        if ref is not None:
            run = ref()
            if run is not None:
                return run
        return self._implicit.get(key)

    def is_first_execution(self, hook: Any, task_model: Any) -> bool:
        """True exactly once per ``hook`` per run of ``task_model``."""
        run = self.current_run(task_model)
        if run is None:
            run = self._implicit_run(task_model)
        return run.claim_key(id(hook))

    def _implicit_run(self, task_model: Any) -> TaskRun:
        key = id(task_model)
        with self._lock:
            ref = self._runs.get(key)
            run = ref() if ref is not None else None
            if run is not None:
                return run
            run = self._implicit.get(key)
            if run is None:
                run = TaskRun(task_model)
                run.task_model = None  # implicit runs must not keep their task model alive
                self._implicit[key] = run
                with contextlib.suppress(TypeError):  # not weak-referenceable: kept until end_run()
                    weakref.finalize(task_model, self._implicit.pop, key, None)
            return run

    def __len__(self) -> int:
        """Number of open runs (explicit and implicit)."""
        live = sum(1 for ref in list(self._runs.values()) if ref() is not None)
        return live + len(self._implicit)


class HookDispatcher:
    """Calls one task model's hooks for a host, in order, from a plan computed once per model.

    Each pre entry is ``(hook, call, claim, skip)``: ``call(task_model, host, vars_mgr)``; ``claim``
    the hook's claim key when the dispatcher must win an exactly-once claim before calling it (run-once
    hooks called straight at ``_run_hook``), else ``None``; ``skip`` the decision a plain ``False``
    becomes. Post entries are ``(hook, call, claim)``; ``post_once`` ones run after the fan-out.
    """

    __slots__ = ("_post", "_post_once", "_pre", "post_hooks", "post_once", "pre_hooks", "tracker")

    def __init__(
        self,
        pre: tuple[tuple[Any, Callable[..., Any], int | None, Any], ...] = (),
        post: tuple[tuple[Any, Callable[..., Any], int | None], ...] = (),
        post_once: tuple[tuple[Any, Callable[..., Any], int | None], ...] = (),
        tracker: ExecutionTracker | None = None,
    ) -> None:
        self._pre = tuple(pre)
        self._post = tuple(post)
        self._post_once = tuple(post_once)
        self.pre_hooks: tuple[Any, ...] = tuple(entry[0] for entry in self._pre)
        self.post_hooks: tuple[Any, ...] = tuple(entry[0] for entry in self._post)
        self.post_once: tuple[Any, ...] = tuple(entry[0] for entry in self._post_once)
        self.tracker = tracker if tracker is not None else ExecutionTracker()

    @property
    def empty(self) -> bool:
        """True when no hook runs per host or after the fan-out (the step then skips dispatch)."""
        return not (self._pre or self._post or self._post_once)

    def _claim(self, key: int, hook: Any, task_model: Any, run: TaskRun | None) -> bool:
        if run is not None:
            return run.claim_key(key)
        return self.tracker.is_first_execution(hook, task_model)

    def run_pre(self, task_model: Any, host: Any, vars_mgr: Any, run: TaskRun | None = None) -> Any:
        """Run the pre-hooks in order for ``host``: ``True``, or the first hook's skip decision."""
        for hook, call, claim, skip in self._pre:
            if claim is not None and not self._claim(claim, hook, task_model, run):
                continue
            try:
                decision = call(task_model, host, vars_mgr)
            except Exception as exc:
                raise hook_failure(hook, task_model, host, exc) from exc
            if decision is True or decision is None:
                continue
            if not decision:
                return skip if decision is False or getattr(decision, "reason", None) is None else decision
        return True

    def run_post(self, task_model: Any, host: Any, outcome: Outcome, vars_mgr: Any) -> None:
        """Run the per-host post-hooks in order for ``host`` with its outcome."""
        for hook, call, _claim in self._post:
            try:
                call(task_model, host, outcome, vars_mgr)
            except Exception as exc:
                raise hook_failure(hook, task_model, host, exc) from exc

    def run_post_once(
        self, task_model: Any, host: Any, outcome: Outcome, vars_mgr: Any, run: TaskRun | None = None
    ) -> None:
        """Run the once-per-task post-hooks (each at most once per run) for the chosen ``host``."""
        for hook, call, claim in self._post_once:
            if claim is not None and not self._claim(claim, hook, task_model, run):
                continue
            try:
                call(task_model, host, outcome, vars_mgr)
            except Exception as exc:
                raise hook_failure(hook, task_model, host, exc) from exc


class Outcome:
    """One host's outcome of one task: what post-hooks read and edit, and what the run records.

    ``result`` is the task's payload; ``failed``/``changed`` its verdict (hooks may redefine it);
    ``exception`` why it failed; ``ignored`` a failure that does not count (``ignore_errors``);
    ``hook`` the hook that failed it; ``items`` the per-item detail of a loop; ``attempts`` the
    attempts of ``retries``; ``raw`` the task's own Nornir ``Result`` when there is one.
    """

    __slots__ = (
        "attempts",
        "changed",
        "diff",
        "exception",
        "failed",
        "hook",
        "host",
        "ignored",
        "items",
        "raw",
        "result",
    )

    def __init__(
        self,
        host: Any,
        result: Any = None,
        changed: bool = False,
        failed: bool = False,
        exception: BaseException | None = None,
        diff: str = "",
        raw: Any = None,
    ) -> None:
        self.host = host
        self.result = result
        self.changed = bool(changed)
        self.failed = bool(failed)
        self.exception = exception
        self.diff = diff
        self.raw = raw
        self.ignored = False
        self.hook: str | None = None
        self.items: list[dict[str, Any]] | None = None
        self.attempts = 0

    @property
    def status(self) -> str:
        """``failed``, ``changed`` or ``ok`` (an ignored failure is ``failed``)."""
        return "failed" if self.failed else ("changed" if self.changed else "ok")

    def __repr__(self) -> str:
        return f"Outcome({getattr(self.host, 'name', self.host)!r}, {self.status})"


def outcome_of(host: Any, value: Any) -> Outcome:
    """The outcome of a task function that returned ``value`` (a Nornir ``Result`` or any payload)."""
    if isinstance(value, Result):
        return Outcome(host, value.result, value.changed, value.failed, value.exception, value.diff, value)
    return Outcome(host, value)


class TaskStep:
    """One task run's per-host step: the runner calls ``step(k)`` for the k-th active host.

    The run binds every field once per task run (``nornflow.run.executor``): nothing is computed
    per host that could be computed before. ``step(k)`` runs the pre-hooks, the task (through its
    wrappers, as ``call``), the post-hooks, and records the outcome in the task's columns.
    :meth:`run_task` is the same step as a Nornir task function, for Nornir's runners and processors.
    """

    __slots__ = (
        "call",
        "codes",
        "context",
        "defaults",
        "diffs",
        "dispatcher",
        "dry_run",
        "durations",
        "extras",
        "func",
        "has_post",
        "has_pre",
        "hosts",
        "index",
        "injected",
        "keep",
        "model",
        "name",
        "nornir",
        "on_done",
        "on_exception",
        "on_failure",
        "payloads",
        "positions",
        "primed",
        "processors",
        "render",
        "run",
        "skip_reasons",
        "stop",
        "templated",
        "vars_mgr",
    )

    def __init__(self) -> None:
        self.model: Any = None  #: the task model, as hooks get it
        self.name: str = ""  #: the task's name (Nornir's Task.name)
        self.hosts: list[Host] = []  #: every host of the run, in inventory order
        self.index: dict[str, int] = {}  #: host name -> position in ``hosts``
        self.positions: list[int] | None = None  #: step(k) runs hosts[positions[k]] (None: k)
        self.dispatcher: HookDispatcher | None = None
        self.has_pre = False
        self.has_post = False
        self.run: TaskRun | None = None  #: this task run's claims
        self.primed: dict[int, Any] | None = None  #: position -> decision taken before the fan-out
        self.vars_mgr: Any = None
        self.context: Callable[[Any], Mapping[str, Any]] | None = None  #: host -> template variables
        self.render: Callable[[Mapping[str, Any] | None], dict[str, Any]] | None = None  #: args
        self.templated = False
        self.defaults: dict[str, Any] | None = None  #: kwargs given unless the args set them
        self.injected: dict[str, Any] | None = None  #: kwargs always given (nornflow_vars)
        self.func: Callable[..., Any] | None = None
        self.nornir: Nornir | None = None
        self.dry_run = False
        self.processors: Any = None
        self.call: Callable[[Task, Mapping[str, Any] | None], Outcome] | None = None  #: wrappers
        self.codes = bytearray()
        self.payloads: list[Any] = []
        self.durations = array("d")
        self.diffs: dict[int, str] = {}
        self.extras: dict[int, dict[str, Any]] = {}
        self.skip_reasons: dict[int, str] = {}
        self.keep: list[Outcome | None] | None = None  #: outcomes kept for post-once hooks
        #: (task, exc) -> the failed Outcome of a task or template that raised
        self.on_exception: Callable[[Task, BaseException], Outcome] | None = None
        #: (i, outcome) -> None: records why host i failed (its outcome's exception), applies fail-fast
        self.on_failure: Callable[[int, Outcome], None] | None = None
        self.on_done: Callable[[int, int], None] | None = None  #: (i, code) per finished host
        self.stop: threading.Event | None = None  #: set: Nornir-path hosts not started stay not run

    def __call__(self, k: int) -> None:
        """Run the step for the k-th active host (the work-queue runner's entry point)."""
        positions = self.positions
        i = positions[k] if positions is not None else k
        self._run(i, self.hosts[i], None)

    def run_task(self, task: Task) -> Result:
        """The step as a Nornir task function: Nornir's runners call it per host through
        ``Task.start`` (processors see every call); it returns the host's final verdict."""
        host = task.host
        stop = self.stop
        if stop is not None and stop.is_set():
            return Result(host=host)  # stays NOT_RUN: the run stopped before this host
        outcome = self._run(self.index[host.name], host, task)
        if outcome is None:
            return Result(host=host)  # skipped by a pre-hook
        return Result(
            host=host,
            result=outcome.result,
            changed=outcome.changed,
            failed=outcome.failed and not outcome.ignored,
            exception=outcome.exception,
            diff=outcome.diff,
        )

    def new_task(self, host: Host) -> Task:
        """The Nornir ``Task`` the task function receives, as ``Task(...)`` would build it."""
        task = Task.__new__(Task)
        task.task = self.func
        task.nornir = self.nornir
        task.name = self.name
        task.global_dry_run = self.dry_run
        task.parent_task = None
        task.params = {}
        task.results = MultiResult(self.name)
        task.severity_level = _SEVERITY
        task.processors = self.processors
        task.host = host
        return task

    def invoke(self, task: Task, extra: Mapping[str, Any] | None) -> Outcome:
        """Render the args for ``task.host`` (with ``extra`` variables) and run the task once."""
        host = task.host
        try:
            if self.templated:
                ctx = self.context(host)  # type: ignore[misc]
                kwargs = self.render(ChainMap(extra, ctx) if extra else ctx)  # type: ignore[misc, arg-type]
            else:
                kwargs = self.render(None)  # type: ignore[misc]
            defaults = self.defaults
            if defaults is not None:
                for key, value in defaults.items():
                    kwargs.setdefault(key, value)
            if self.injected is not None:
                kwargs.update(self.injected)
            value = self.func(task, **kwargs)  # type: ignore[misc]
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # one host's task (even sys.exit, CancelledError) fails that host
            return self.on_exception(task, exc)  # type: ignore[misc]
        return outcome_of(host, value)

    def record(self, i: int, outcome: Outcome) -> None:
        """Settle host ``i``'s status from its (possibly hook-redefined) outcome."""
        self.payloads[i] = outcome.result
        if outcome.failed:
            self.codes[i] = OK if outcome.ignored else FAILED
            self.on_failure(i, outcome)  # type: ignore[misc]
        else:
            self.codes[i] = CHANGED if outcome.changed else OK
            if outcome.diff:
                self.diffs[i] = outcome.diff
        if outcome.items is not None or outcome.attempts:
            detail: dict[str, Any] = {}
            if outcome.items is not None:
                detail["items"] = outcome.items
            if outcome.attempts:
                detail["attempts"] = outcome.attempts
            self.extras[i] = detail

    def _run(self, i: int, host: Host, task: Task | None) -> Outcome | None:
        """The step for host ``i``; its outcome, or None when a pre-hook skipped the host."""
        t0 = _clock()
        outcome = None
        try:
            if self.has_pre:
                primed = self.primed
                decision = primed.pop(i, None) if primed else None
                if decision is None:
                    decision = self.dispatcher.run_pre(self.model, host, self.vars_mgr, self.run)  # type: ignore[union-attr]
                elif isinstance(decision, BaseException):
                    raise decision
                if decision is not True:
                    self.codes[i] = SKIPPED
                    self.skip_reasons[i] = decision.reason
                    self.durations[i] = _clock() - t0
                    if self.on_done is not None:
                        self.on_done(i, SKIPPED)
                    return None
            if task is None:
                task = self.new_task(host)
            call = self.call
            outcome = call(task, None) if call is not None else self.invoke(task, None)
            if self.has_post:
                self.dispatcher.run_post(self.model, host, outcome, self.vars_mgr)  # type: ignore[union-attr]
            self.record(i, outcome)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a hook failed (the error names it), or a nornflow bug
            outcome = Outcome(host, None, False, True, exc)
            self.codes[i] = FAILED
            self.on_failure(i, outcome)  # type: ignore[misc]
        if self.keep is not None:
            self.keep[i] = outcome
        self.durations[i] = _clock() - t0
        if self.on_done is not None:
            self.on_done(i, self.codes[i])
        return outcome


_clock = time.perf_counter
_SEVERITY = 20  # logging.INFO: Nornir's default severity of a task
