"""Pure-Python twin of the hook hot path (``csrc/_hotpath_c.pyx`` is the compiled one).

Three things live here, with the same names, signatures and behaviour in both twins:

* :class:`HookInstanceCache`, the flyweight cache: one shared hook instance per ``(class, value)``.
* :class:`ExecutionTracker` and :class:`TaskRun`: "is this the first execution of hook H in this task
  run?", answered exactly once per run under any number of threads; runs are held weakly.
* :class:`HookDispatcher`: built once per task model from its ordered hooks, it precomputes the bound
  methods to call, so that the per-host loop is trivial.

Exactly-once claims rely on single dict operations on ``int`` keys being atomic (true under the GIL and
on free-threaded builds, where dicts carry their own lock); no Python code runs inside them.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "IMPLEMENTATION",
    "ExecutionTracker",
    "HookDispatcher",
    "HookInstanceCache",
    "TaskRun",
    "cache_key",
    "fast_path_kind",
]

IMPLEMENTATION = "python"


def cache_key(hook_class: type, value: Any) -> tuple[type, type, Any]:
    """The flyweight key: class, the value's type (so ``true`` and ``1`` never share), and the value."""
    return (hook_class, type(value), value)


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
    """The identity of one run of one task model: what the tracker keys exactly-once claims on.

    ``primed`` maps host names to the outcome of pre-hooks the engine ran before the fan-out (to make
    run-once decisions deterministic in inventory order); ``None`` when nothing was primed.
    """

    __slots__ = ("__weakref__", "fired", "key", "primed", "task_model")

    def __init__(self, task_model: Any) -> None:
        self.task_model = task_model
        self.key = id(task_model)
        self.fired: dict[int, bool] = {}
        self.primed: dict[str, Any] | None = None

    def claim(self, hook: Any) -> bool:
        """True for exactly one caller per hook in this run, whatever the thread interleaving."""
        marker = object()
        return self.fired.setdefault(id(hook), marker) is marker

    def has_fired(self, hook: Any) -> bool:
        """Whether ``hook`` was already claimed in this run."""
        return id(hook) in self.fired


class ExecutionTracker:
    """Answers "first execution of this hook in this task run?" for hooks that run once per task.

    The engine (or a dispatcher) opens a run with :meth:`begin_run` and keeps the returned
    :class:`TaskRun` for as long as the task runs; the tracker only holds it weakly, so its state is
    freed with it. A hook called directly, outside any run, gets an implicit run that lives as long
    as its task model (or until :meth:`end_run`).
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
        run.primed = None

    def current_run(self, task_model: Any) -> TaskRun | None:
        """The open run of ``task_model`` (explicit or implicit), or ``None``."""
        ref = self._runs.get(id(task_model))
        if ref is not None:
            run = ref()
            if run is not None:
                return run
        return self._implicit.get(id(task_model))

    def is_first_execution(self, hook: Any, task_model: Any) -> bool:
        """True exactly once per ``hook`` per run of ``task_model``."""
        ref = self._runs.get(id(task_model))
        run = ref() if ref is not None else None
        if run is None:
            run = self._implicit_run(task_model)
        return run.claim(hook)

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


def fast_path_kind(hook: Any, hook_base: type) -> int:
    """How a dispatcher may call ``hook``: 0 through ``run()``, 1 ``_run_hook`` directly, 2 the same
    after a tracker claim (run-once hooks). Direct calls are only taken when the hook class keeps the
    base class's ``run``, ``_execute_hook`` and ``_is_first_execution``, so overriding any keeps working.
    """
    cls = type(hook)
    if not isinstance(hook, hook_base):
        return 0
    for name in ("run", "_execute_hook", "_is_first_execution"):
        if getattr(cls, name, None) is not getattr(hook_base, name, None):
            return 0
    return 2 if getattr(hook, "run_once_per_task", False) else 1


class HookDispatcher:
    """Runs a task model's hooks for one host, with everything it needs computed once at build time.

    ``pre_hooks`` and ``post_hooks`` keep their declared order. ``pre_base``/``post_base`` are the
    framework base classes, used to decide whether a hook can be called straight at ``_run_hook``.
    Post hooks that run once per task are kept apart (``post_once``): the engine calls them after the
    fan-out, on the first host in inventory order, so the choice is deterministic.
    """

    __slots__ = (
        "_post_calls",
        "_post_once_calls",
        "_pre_calls",
        "_run",
        "needs_prime",
        "post_hooks",
        "post_once",
        "pre_hooks",
        "tracker",
    )

    def __init__(
        self,
        pre_hooks: Iterable[Any] = (),
        post_hooks: Iterable[Any] = (),
        tracker: ExecutionTracker | None = None,
        pre_base: type | None = None,
        post_base: type | None = None,
    ) -> None:
        self.pre_hooks: tuple[Any, ...] = tuple(pre_hooks)
        all_post = tuple(post_hooks)
        self.post_hooks: tuple[Any, ...] = tuple(h for h in all_post if not _once(h))
        self.post_once: tuple[Any, ...] = tuple(h for h in all_post if _once(h))
        self.tracker = tracker if tracker is not None else ExecutionTracker()
        self._pre_calls = _plan(self.pre_hooks, pre_base)
        self._post_calls = _plan(self.post_hooks, post_base)
        self._post_once_calls = _plan(self.post_once, post_base)
        self.needs_prime = any(_once(h) or getattr(h, "needs_inventory_order", False) for h in self.pre_hooks)
        self._run: TaskRun | None = None

    @property
    def empty(self) -> bool:
        """True when the task has no hooks at all (the engine then skips dispatch entirely)."""
        return not (self.pre_hooks or self.post_hooks or self.post_once)

    def begin_run(self, task_model: Any) -> TaskRun:
        """Open a new run of ``task_model`` in the tracker and remember it for the fast claims."""
        run = self.tracker.begin_run(task_model)
        self._run = run
        return run

    def end_run(self) -> None:
        """Close the current run; its tracker state is released."""
        run = self._run
        self._run = None
        if run is not None:
            self.tracker.end_run(run)

    def _claim(self, hook: Any, task_model: Any) -> bool:
        run = self._run
        if run is not None and run.task_model is task_model:
            return run.claim(hook)
        return self.tracker.is_first_execution(hook, task_model)

    def run_pre(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        """Run the pre-hooks in order for ``host``; False as soon as one returns False (host skipped)."""
        for hook, kind, call in self._pre_calls:
            if kind == 2 and not self._claim(hook, task_model):
                continue
            try:
                outcome = call(task_model, host, vars_mgr)
            except Exception as exc:
                raise _hook_failure(hook, task_model, host, exc) from exc
            if outcome is False:
                return False
        return True

    def run_post(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        """Run the per-host post-hooks in order for ``host`` with its result."""
        for hook, _kind, call in self._post_calls:
            try:
                call(task_model, host, result, vars_mgr)
            except Exception as exc:
                raise _hook_failure(hook, task_model, host, exc) from exc

    def run_post_once(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        """Run the once-per-task post-hooks (each at most once per run) for the chosen ``host``."""
        for hook, kind, call in self._post_once_calls:
            if kind == 2 and not self._claim(hook, task_model):
                continue
            try:
                call(task_model, host, result, vars_mgr)
            except Exception as exc:
                raise _hook_failure(hook, task_model, host, exc) from exc

    def prime(self, task_model: Any, hosts: Iterable[Any], vars_mgr: Any) -> dict[str, Any]:
        """Run the pre-hooks for hosts in inventory order until one passes; return their outcomes.

        Outcomes are ``True``, ``False`` or the exception raised. Used before the fan-out when a
        pre-hook runs once per task, so "the first eligible host" is the first in inventory order.
        """
        primed: dict[str, Any] = {}
        for host in hosts:
            try:
                ok = self.run_pre(task_model, host, vars_mgr)
            except Exception as exc:
                primed[host.name] = exc
                continue
            primed[host.name] = ok
            if ok:
                break
        if self._run is not None:
            self._run.primed = primed
        return primed


def _once(hook: Any) -> bool:
    return bool(getattr(hook, "run_once_per_task", False))


def _plan(hooks: Sequence[Any], base: type | None) -> tuple[tuple[Any, int, Callable[..., Any]], ...]:
    plan = []
    for hook in hooks:
        kind = fast_path_kind(hook, base) if base is not None else 0
        call = hook.run if kind == 0 else hook._run_hook
        plan.append((hook, kind, call))
    return tuple(plan)


def _hook_failure(hook: Any, task_model: Any, host: Any, exc: BaseException) -> Exception:
    from nornflow.exceptions import HookExecutionError, NornFlowError

    name = getattr(hook, "hook_name", None) or type(hook).__name__
    task = getattr(task_model, "name", None)
    host_name = getattr(host, "name", None)
    if isinstance(exc, NornFlowError):
        message = exc.message
    else:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return HookExecutionError(message, task=task, hook=name, host=host_name)
