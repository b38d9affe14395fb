# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :mod:`nornflow._hotpath_py`: the hook cache, execution tracker and dispatcher.

Same names, signatures and behaviour as the pure-Python module; only faster. Exactly-once claims are
a dict membership test followed by an insert on an ``int`` key with no Python code in between, so
they are atomic while this module holds the GIL (it never releases it).
"""

import threading
import weakref

from cpython.dict cimport PyDict_Contains, PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.long cimport PyLong_FromVoidPtr
from cpython.list cimport PyList_GET_ITEM

__all__ = [
    "IMPLEMENTATION",
    "ExecutionTracker",
    "HookDispatcher",
    "HookInstanceCache",
    "TaskRun",
    "cache_key",
    "fast_path_kind",
]

IMPLEMENTATION = "cython"


def cache_key(hook_class, value):
    """The flyweight key: class, the value's type (so ``true`` and ``1`` never share), and the value."""
    return (hook_class, type(value), value)


cdef class HookInstanceCache:
    """Flyweight cache of hook instances keyed by ``(hook_class, type(value), value)``.

    Hits are lock-free (one dict lookup); a miss takes the lock, checks again, then constructs, so that
    any number of racing threads construct a given instance once. The lock is re-entrant so a hook whose
    constructor builds another hook through the cache does not deadlock.
    """

    cdef readonly dict data
    cdef readonly object lock

    def __init__(self):
        self.data = {}
        self.lock = threading.RLock()

    def get_or_create(self, hook_class, value):
        """Return the shared instance for ``(hook_class, value)``, constructing it on first use."""
        cdef tuple key = (hook_class, type(value), value)
        cdef PyObject* hit = PyDict_GetItem(self.data, key)
        if hit is not NULL:
            return <object>hit
        with self.lock:
            hit = PyDict_GetItem(self.data, key)
            if hit is not NULL:
                return <object>hit
            instance = hook_class(value)
            self.data[key] = instance
            return instance

    def get(self, hook_class, value):
        """Return the cached instance for ``(hook_class, value)`` or ``None``, never constructing one."""
        return self.data.get((hook_class, type(value), value))

    def instances(self):
        """A snapshot of every cached instance (for diagnostics and tests)."""
        with self.lock:
            return list(self.data.values())

    def clear(self):
        """Drop every cached instance (tests, and long-lived processes that reload hooks)."""
        with self.lock:
            self.data.clear()

    def __len__(self):
        return len(self.data)

    def __contains__(self, key):
        return key in self.data


cdef class TaskRun:
    """The identity of one run of one task model: what the tracker keys exactly-once claims on.

    ``primed`` maps host names to the outcome of pre-hooks the engine ran before the fan-out (to make
    run-once decisions deterministic in inventory order); ``None`` when nothing was primed.
    """

    cdef public object task_model
    cdef public object key
    cdef public dict fired
    cdef public object primed
    cdef object __weakref__

    def __init__(self, task_model):
        self.task_model = task_model
        self.key = id(task_model)
        self.fired = {}
        self.primed = None

    cpdef bint claim(self, hook):
        """True for exactly one caller per hook in this run, whatever the thread interleaving."""
        key = PyLong_FromVoidPtr(<void*>hook)
        if PyDict_Contains(self.fired, key):
            return False
        PyDict_SetItem(self.fired, key, True)
        return True

    def has_fired(self, hook):
        """Whether ``hook`` was already claimed in this run."""
        return PyLong_FromVoidPtr(<void*>hook) in self.fired


cdef class ExecutionTracker:
    """Answers "first execution of this hook in this task run?" for hooks that run once per task.

    The engine (or a dispatcher) opens a run with :meth:`begin_run` and keeps the returned
    :class:`TaskRun` for as long as the task runs; the tracker only holds it weakly, so its state is
    freed with it. A hook called directly, outside any run, gets an implicit run that lives as long
    as its task model (or until :meth:`end_run`).
    """

    cdef dict _runs
    cdef dict _implicit
    cdef object _lock
    cdef object __weakref__

    def __init__(self):
        self._runs = {}
        self._implicit = {}
        self._lock = threading.Lock()

    def begin_run(self, task_model):
        """Start a new run of ``task_model``: every run-once hook may execute once more."""
        run = TaskRun(task_model)
        key = id(task_model)
        runs = self._runs

        def _drop(ref, key=key, runs=runs):
            if runs.get(key) is ref:
                runs.pop(key, None)

        with self._lock:
            self._implicit.pop(key, None)
            runs[key] = weakref.ref(run, _drop)
        return run

    def end_run(self, TaskRun run):
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

    def current_run(self, task_model):
        """The open run of ``task_model`` (explicit or implicit), or ``None``."""
        return self._lookup(task_model)

    cdef object _lookup(self, task_model):
        key = PyLong_FromVoidPtr(<void*>task_model)
        cdef PyObject* ref = PyDict_GetItem(self._runs, key)
        if ref is not NULL:
            run = (<object>ref)()
            if run is not None:
                return run
        cdef PyObject* imp = PyDict_GetItem(self._implicit, key)
        if imp is not NULL:
            return <object>imp
        return None

    cpdef bint is_first_execution(self, hook, task_model):
        """True exactly once per ``hook`` per run of ``task_model``."""
        run = self._lookup(task_model)
        if run is None:
            run = self._implicit_run(task_model)
        return (<TaskRun>run).claim(hook)

    def _implicit_run(self, task_model):
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
                try:
                    weakref.finalize(task_model, self._implicit.pop, key, None)
                except TypeError:  # not weak-referenceable: kept until end_run()
                    pass
            return run

    def __len__(self):
        """Number of open runs (explicit and implicit)."""
        live = sum(1 for ref in list(self._runs.values()) if ref() is not None)
        return live + len(self._implicit)


def fast_path_kind(hook, hook_base):
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


cdef inline bint _once(hook):
    return bool(getattr(hook, "run_once_per_task", False))


cdef tuple _plan(tuple hooks, base):
    cdef list plan = []
    for hook in hooks:
        kind = fast_path_kind(hook, base) if base is not None else 0
        call = hook.run if kind == 0 else hook._run_hook
        plan.append((hook, kind, call))
    return tuple(plan)


def _hook_failure(hook, task_model, host, exc):
    from nornflow.exceptions import HookExecutionError, NornFlowError

    name = getattr(hook, "hook_name", None) or type(hook).__name__
    task = getattr(task_model, "name", None)
    host_name = getattr(host, "name", None)
    if isinstance(exc, NornFlowError):
        message = exc.message
    else:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return HookExecutionError(message, task=task, hook=name, host=host_name)


cdef class HookDispatcher:
    """Runs a task model's hooks for one host, with everything it needs computed once at build time.

    ``pre_hooks`` and ``post_hooks`` keep their declared order. ``pre_base``/``post_base`` are the
    framework base classes, used to decide whether a hook can be called straight at ``_run_hook``.
    Post hooks that run once per task are kept apart (``post_once``): the engine calls them after the
    fan-out, on the first host in inventory order, so the choice is deterministic.
    """

    cdef readonly tuple pre_hooks
    cdef readonly tuple post_hooks
    cdef readonly tuple post_once
    cdef readonly ExecutionTracker tracker
    cdef readonly bint needs_prime
    # per pre-hook: the callable, its kind (0 run, 1 _run_hook, 2 claim then _run_hook), its claim key
    cdef list _pre_calls
    cdef list _pre_kinds
    cdef list _pre_keys
    cdef list _post_calls
    cdef tuple _post_once_calls
    cdef Py_ssize_t _n_pre
    cdef Py_ssize_t _n_post
    cdef TaskRun _run

    def __init__(self, pre_hooks=(), post_hooks=(), ExecutionTracker tracker=None, pre_base=None,
                 post_base=None):
        self.pre_hooks = tuple(pre_hooks)
        all_post = tuple(post_hooks)
        self.post_hooks = tuple([h for h in all_post if not _once(h)])
        self.post_once = tuple([h for h in all_post if _once(h)])
        self.tracker = tracker if tracker is not None else ExecutionTracker()
        pre_plan = _plan(self.pre_hooks, pre_base)
        self._pre_calls = [step[2] for step in pre_plan]
        self._pre_kinds = [step[1] for step in pre_plan]
        self._pre_keys = [PyLong_FromVoidPtr(<void*>h) for h in self.pre_hooks]
        self._post_calls = [step[2] for step in _plan(self.post_hooks, post_base)]
        self._post_once_calls = _plan(self.post_once, post_base)
        self._n_pre = len(self._pre_calls)
        self._n_post = len(self._post_calls)
        self.needs_prime = any(
            _once(h) or getattr(h, "needs_inventory_order", False) for h in self.pre_hooks
        )
        self._run = None

    @property
    def empty(self):
        """True when the task has no hooks at all (the engine then skips dispatch entirely)."""
        return not (self.pre_hooks or self.post_hooks or self.post_once)

    def begin_run(self, task_model):
        """Open a new run of ``task_model`` in the tracker and remember it for the fast claims."""
        run = self.tracker.begin_run(task_model)
        self._run = run
        return run

    def end_run(self):
        """Close the current run; its tracker state is released."""
        run = self._run
        self._run = None
        if run is not None:
            self.tracker.end_run(run)

    cdef inline bint _claim(self, Py_ssize_t i, task_model) except -1:
        cdef TaskRun run = self._run
        cdef object key
        if run is not None and run.task_model is task_model:
            key = <object>PyList_GET_ITEM(self._pre_keys, i)
            if PyDict_Contains(run.fired, key):
                return False
            PyDict_SetItem(run.fired, key, True)
            return True
        return self.tracker.is_first_execution(self.pre_hooks[i], task_model)

    cpdef bint run_pre(self, task_model, host, vars_mgr) except -1:
        """Run the pre-hooks in order for ``host``; False as soon as one returns False (host skipped)."""
        cdef Py_ssize_t i
        cdef object call
        for i in range(self._n_pre):
            if (<object>PyList_GET_ITEM(self._pre_kinds, i)) == 2 and not self._claim(i, task_model):
                continue
            call = <object>PyList_GET_ITEM(self._pre_calls, i)
            try:
                outcome = call(task_model, host, vars_mgr)
            except Exception as exc:
                raise _hook_failure(self.pre_hooks[i], task_model, host, exc) from exc
            if outcome is False:
                return False
        return True

    cpdef run_post(self, task_model, host, result, vars_mgr):
        """Run the per-host post-hooks in order for ``host`` with its result."""
        cdef Py_ssize_t i
        cdef object call
        for i in range(self._n_post):
            call = <object>PyList_GET_ITEM(self._post_calls, i)
            try:
                call(task_model, host, result, vars_mgr)
            except Exception as exc:
                raise _hook_failure(self.post_hooks[i], task_model, host, exc) from exc
        return None

    def run_post_once(self, task_model, host, result, vars_mgr):
        """Run the once-per-task post-hooks (each at most once per run) for the chosen ``host``."""
        for hook, kind, call in self._post_once_calls:
            if kind == 2:
                run = self._run
                if run is not None and (<TaskRun>run).task_model is task_model:
                    if not (<TaskRun>run).claim(hook):
                        continue
                elif not self.tracker.is_first_execution(hook, task_model):
                    continue
            try:
                call(task_model, host, result, vars_mgr)
            except Exception as exc:
                raise _hook_failure(hook, task_model, host, exc) from exc

    def prime(self, task_model, hosts, vars_mgr):
        """Run the pre-hooks for hosts in inventory order until one passes; return their outcomes.

        Outcomes are ``True``, ``False`` or the exception raised. Used before the fan-out when a
        pre-hook runs once per task, so "the first eligible host" is the first in inventory order.
        """
        cdef dict primed = {}
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
