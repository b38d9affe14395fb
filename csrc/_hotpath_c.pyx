# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :mod:`nornflow._hotpath_py`: the per-host hot path.

Same classes, fields (in the same order), signatures and algorithms as the pure-Python module; only
faster. Exactly-once claims are one ``PyDict_SetDefault`` with a fresh marker: a single dict
operation, atomic under the GIL and on free-threaded builds (where every dict has its own lock).
"""

cimport cython
from cpython.array cimport array
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport uint8_t

import threading
import time
import weakref
from collections import ChainMap

from nornir.core.task import MultiResult, Result, Task

from nornflow.exceptions import hook_failure

cdef extern from "Python.h":
    PyObject* PyDict_SetDefault(object d, object key, object default) except NULL

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

IMPLEMENTATION = "cython"

#: Status codes of a host's outcome, one byte per host in a task's results.
cdef enum:
    C_NOT_RUN = 0
    C_OK = 1
    C_CHANGED = 2
    C_FAILED = 3
    C_SKIPPED = 4

NOT_RUN, OK, CHANGED, FAILED, SKIPPED = C_NOT_RUN, C_OK, C_CHANGED, C_FAILED, C_SKIPPED


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
    """The identity of one run of one task model: what exactly-once claims are made on.

    ``fired`` maps claim keys (a hook's ``id``) to the marker of the caller that won the claim.
    """

    cdef object __weakref__
    cdef public dict fired
    cdef public object key
    cdef public object task_model

    def __init__(self, task_model):
        self.task_model = task_model
        self.key = id(task_model)
        self.fired = {}

    def claim(self, hook):
        """True for exactly one caller per hook in this run, whatever the thread interleaving."""
        return self.claim_key(id(hook))

    cpdef bint claim_key(self, object key):
        """:meth:`claim` by the hook's precomputed key (``id(hook)``)."""
        marker = object()
        return PyDict_SetDefault(self.fired, key, marker) == <PyObject*>marker

    def has_fired(self, hook):
        """Whether ``hook`` was already claimed in this run."""
        return id(hook) in self.fired


cdef class ExecutionTracker:
    """Answers "first execution of this hook in this task run?" for hooks that run once per task.

    The run opens a task run with :meth:`begin_run` and keeps the returned :class:`TaskRun` for as
    long as the task runs; the tracker only holds it weakly, so its state is freed with it. A hook
    called directly, outside any run, gets an implicit run that lives as long as its task model (or
    until :meth:`end_run`).
    """

    cdef object __weakref__
    cdef dict _implicit
    cdef object _lock
    cdef dict _runs

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

    cpdef object current_run(self, object task_model):
        """The open run of ``task_model`` (explicit or implicit), or ``None``."""
        key = id(task_model)
        cdef PyObject* ref = PyDict_GetItem(self._runs, key)
        if ref is not NULL:
            run = (<object>ref)()
            if run is not None:
                return run
        cdef PyObject* imp = PyDict_GetItem(self._implicit, key)
        return <object>imp if imp is not NULL else None

    cpdef bint is_first_execution(self, object hook, object task_model) except -1:
        """True exactly once per ``hook`` per run of ``task_model``."""
        run = self.current_run(task_model)
        if run is None:
            run = self._implicit_run(task_model)
        return (<TaskRun>run).claim_key(id(hook))

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


cdef class HookDispatcher:
    """Calls one task model's hooks for a host, in order, from a plan computed once per model.

    Each pre entry is ``(hook, call, claim, skip)``: ``call(task_model, host, vars_mgr)``; ``claim``
    the hook's claim key when the dispatcher must win an exactly-once claim before calling it (run-once
    hooks called straight at ``_run_hook``), else ``None``; ``skip`` the decision a plain ``False``
    becomes. Post entries are ``(hook, call, claim)``; ``post_once`` ones run after the fan-out.
    """

    cdef tuple _post
    cdef tuple _post_once
    cdef tuple _pre
    cdef readonly tuple post_hooks
    cdef readonly tuple post_once
    cdef readonly tuple pre_hooks
    cdef readonly ExecutionTracker tracker

    def __init__(self, pre=(), post=(), post_once=(), ExecutionTracker tracker=None):
        self._pre = tuple(pre)
        self._post = tuple(post)
        self._post_once = tuple(post_once)
        self.pre_hooks = tuple([entry[0] for entry in self._pre])
        self.post_hooks = tuple([entry[0] for entry in self._post])
        self.post_once = tuple([entry[0] for entry in self._post_once])
        self.tracker = tracker if tracker is not None else ExecutionTracker()

    @property
    def empty(self):
        """True when no hook runs per host or after the fan-out (the step then skips dispatch)."""
        return not (self._pre or self._post or self._post_once)

    cdef inline bint _claim(self, object key, object hook, object task_model, TaskRun run) except -1:
        if run is not None:
            return run.claim_key(key)
        return self.tracker.is_first_execution(hook, task_model)

    cpdef object run_pre(self, object task_model, object host, object vars_mgr, TaskRun run=None):
        """Run the pre-hooks in order for ``host``: ``True``, or the first hook's skip decision."""
        cdef Py_ssize_t n
        cdef tuple entry
        for n in range(len(self._pre)):
            entry = <tuple>PyTuple_GET_ITEM(self._pre, n)
            claim = <object>PyTuple_GET_ITEM(entry, 2)
            if claim is not None and not self._claim(claim, <object>PyTuple_GET_ITEM(entry, 0), task_model, run):
                continue
            try:
                decision = (<object>PyTuple_GET_ITEM(entry, 1))(task_model, host, vars_mgr)
            except Exception as exc:
                raise hook_failure(<object>PyTuple_GET_ITEM(entry, 0), task_model, host, exc) from exc
            if decision is True or decision is None:
                continue
            if not decision:
                if decision is False or getattr(decision, "reason", None) is None:
                    return <object>PyTuple_GET_ITEM(entry, 3)
                return decision
        return True

    cpdef run_post(self, object task_model, object host, object outcome, object vars_mgr):
        """Run the per-host post-hooks in order for ``host`` with its outcome."""
        cdef Py_ssize_t n
        cdef tuple entry
        for n in range(len(self._post)):
            entry = <tuple>PyTuple_GET_ITEM(self._post, n)
            try:
                (<object>PyTuple_GET_ITEM(entry, 1))(task_model, host, outcome, vars_mgr)
            except Exception as exc:
                raise hook_failure(<object>PyTuple_GET_ITEM(entry, 0), task_model, host, exc) from exc
        return None

    def run_post_once(self, task_model, host, outcome, vars_mgr, TaskRun run=None):
        """Run the once-per-task post-hooks (each at most once per run) for the chosen ``host``."""
        for hook, call, claim in self._post_once:
            if claim is not None and not self._claim(claim, hook, task_model, run):
                continue
            try:
                call(task_model, host, outcome, vars_mgr)
            except Exception as exc:
                raise hook_failure(hook, task_model, host, exc) from exc


@cython.freelist(64)
cdef class Outcome:
    """One host's outcome of one task: what post-hooks read and edit, and what the run records.

    ``result`` is the task's payload; ``failed``/``changed`` its verdict (hooks may redefine it);
    ``exception`` why it failed; ``ignored`` a failure that does not count (``ignore_errors``);
    ``hook`` the hook that failed it; ``items`` the per-item detail of a loop; ``attempts`` the
    attempts of ``retries``; ``raw`` the task's own Nornir ``Result`` when there is one.
    """

    cdef public int attempts
    cdef public bint changed
    cdef public object diff
    cdef public object exception
    cdef public bint failed
    cdef public object hook
    cdef public object host
    cdef public bint ignored
    cdef public object items
    cdef public object raw
    cdef public object result

    def __init__(self, host, result=None, changed=False, failed=False, exception=None, diff="", raw=None):
        self.host = host
        self.result = result
        self.changed = bool(changed)
        self.failed = bool(failed)
        self.exception = exception
        self.diff = diff
        self.raw = raw
        self.ignored = False
        self.hook = None
        self.items = None
        self.attempts = 0

    @property
    def status(self):
        """``failed``, ``changed`` or ``ok`` (an ignored failure is ``failed``)."""
        return "failed" if self.failed else ("changed" if self.changed else "ok")

    def __repr__(self):
        return f"Outcome({getattr(self.host, 'name', self.host)!r}, {self.status})"


cdef inline Outcome _outcome(object host, object result, bint changed, bint failed, object exception,
                             object diff, object raw):
    cdef Outcome o = Outcome.__new__(Outcome)
    o.host = host
    o.result = result
    o.changed = changed
    o.failed = failed
    o.exception = exception
    o.diff = diff
    o.raw = raw
    return o  # ignored False, hook/items None, attempts 0: the type's zeroed fields


cpdef Outcome outcome_of(object host, object value):
    """The outcome of a task function that returned ``value`` (a Nornir ``Result`` or any payload)."""
    if isinstance(value, Result):
        return _outcome(host, value.result, value.changed, value.failed, value.exception, value.diff, value)
    return _outcome(host, value, False, False, None, "", None)


cdef class TaskStep:
    """One task run's per-host step: the runner calls ``step(k)`` for the k-th active host.

    The run binds every field once per task run (``nornflow.run.executor``): nothing is computed
    per host that could be computed before. ``step(k)`` runs the pre-hooks, the task (through its
    wrappers, as ``call``), the post-hooks, and records the outcome in the task's columns.
    :meth:`run_task` is the same step as a Nornir task function, for Nornir's runners and processors.
    """

    cdef public object call
    cdef public bytearray codes
    cdef public object context
    cdef public dict defaults
    cdef public dict diffs
    cdef public HookDispatcher dispatcher
    cdef public bint dry_run
    cdef public array durations
    cdef public dict extras
    cdef public object func
    cdef public bint has_post
    cdef public bint has_pre
    cdef public list hosts
    cdef public dict index
    cdef public dict injected
    cdef public list keep
    cdef public object model
    cdef public str name
    cdef public object nornir
    cdef public object on_done
    cdef public object on_exception
    cdef public object on_failure
    cdef public list payloads
    cdef public list positions
    cdef public dict primed
    cdef public object processors
    cdef public object render
    cdef public TaskRun run
    cdef public dict skip_reasons
    cdef public object stop
    cdef public bint templated
    cdef public object vars_mgr

    def __init__(self):
        self.model = None
        self.name = ""
        self.hosts = []
        self.index = {}
        self.positions = None
        self.dispatcher = None
        self.has_pre = False
        self.has_post = False
        self.run = None
        self.primed = None
        self.vars_mgr = None
        self.context = None
        self.render = None
        self.templated = False
        self.defaults = None
        self.injected = None
        self.func = None
        self.nornir = None
        self.dry_run = False
        self.processors = None
        self.call = None
        self.codes = bytearray()
        self.payloads = []
        self.durations = array("d")
        self.diffs = {}
        self.extras = {}
        self.skip_reasons = {}
        self.keep = None
        self.on_exception = None
        self.on_failure = None
        self.on_done = None
        self.stop = None

    def __call__(self, Py_ssize_t k):
        """Run the step for the k-th active host (the work-queue runner's entry point)."""
        cdef Py_ssize_t i = k
        if self.positions is not None:
            i = <Py_ssize_t><object>PyList_GET_ITEM(self.positions, k)
        self._run(i, <object>PyList_GET_ITEM(self.hosts, i), None)

    def run_task(self, task):
        """The step as a Nornir task function: Nornir's runners call it per host through
        ``Task.start`` (processors see every call); it returns the host's final verdict."""
        host = task.host
        stop = self.stop
        if stop is not None and stop.is_set():
            return Result(host=host)  # stays NOT_RUN: the run stopped before this host
        outcome = self._run(self.index[host.name], host, task)
        if outcome is None:
            return Result(host=host)  # skipped by a pre-hook
        cdef Outcome o = <Outcome>outcome
        return Result(
            host=host,
            result=o.result,
            changed=o.changed,
            failed=o.failed and not o.ignored,
            exception=o.exception,
            diff=o.diff,
        )

    cpdef object new_task(self, object host):
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

    cpdef Outcome invoke(self, object task, object extra):
        """Render the args for ``task.host`` (with ``extra`` variables) and run the task once."""
        host = task.host
        cdef dict kwargs
        try:
            if self.templated:
                ctx = self.context(host)
                kwargs = self.render(ChainMap(extra, ctx) if extra else ctx)
            else:
                kwargs = self.render(None)
            if self.defaults is not None:
                for key, value in self.defaults.items():
                    kwargs.setdefault(key, value)
            if self.injected is not None:
                kwargs.update(self.injected)
            value = self.func(task, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # one host's task (even sys.exit, CancelledError) fails that host
            return self.on_exception(task, exc)
        return outcome_of(host, value)

    cpdef record(self, Py_ssize_t i, Outcome outcome):
        """Settle host ``i``'s status from its (possibly hook-redefined) outcome."""
        cdef dict detail
        self.payloads[i] = outcome.result
        if outcome.failed:
            self.codes[i] = C_OK if outcome.ignored else C_FAILED
            self.on_failure(i, outcome)
        else:
            self.codes[i] = C_CHANGED if outcome.changed else C_OK
            if outcome.diff:
                self.diffs[i] = outcome.diff
        if outcome.items is not None or outcome.attempts:
            detail = {}
            if outcome.items is not None:
                detail["items"] = outcome.items
            if outcome.attempts:
                detail["attempts"] = outcome.attempts
            self.extras[i] = detail

    cdef object _run(self, Py_ssize_t i, object host, object task):
        """The step for host ``i``; its outcome, or None when a pre-hook skipped the host."""
        cdef double t0 = _clock()
        cdef object outcome = None
        cdef uint8_t code
        try:
            if self.has_pre:
                decision = self.primed.pop(i, None) if self.primed else None
                if decision is None:
                    decision = self.dispatcher.run_pre(self.model, host, self.vars_mgr, self.run)
                elif isinstance(decision, BaseException):
                    raise decision
                if decision is not True:
                    self.codes[i] = C_SKIPPED
                    self.skip_reasons[i] = decision.reason
                    self.durations.data.as_doubles[i] = _clock() - t0
                    if self.on_done is not None:
                        self.on_done(i, C_SKIPPED)
                    return None
            if task is None:
                task = self.new_task(host)
            if self.call is not None:
                outcome = self.call(task, None)
            else:
                outcome = self.invoke(task, None)
            if self.has_post:
                self.dispatcher.run_post(self.model, host, outcome, self.vars_mgr)
            self.record(i, outcome)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a hook failed (the error names it), or a nornflow bug
            outcome = _outcome(host, None, False, True, exc, "", None)
            self.codes[i] = C_FAILED
            self.on_failure(i, outcome)
        if self.keep is not None:
            self.keep[i] = outcome
        self.durations.data.as_doubles[i] = _clock() - t0
        if self.on_done is not None:
            code = self.codes[i]
            self.on_done(i, code)
        return outcome


cdef extern from *:
    """
    #ifdef _WIN32
    #include <windows.h>
    static double nf_clock(void) {
        LARGE_INTEGER f, c;
        QueryPerformanceFrequency(&f);
        QueryPerformanceCounter(&c);
        return (double)c.QuadPart / (double)f.QuadPart;
    }
    #else
    #include <time.h>
    static double nf_clock(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    #endif
    """
    double nf_clock() nogil


cdef inline double _clock() noexcept nogil:
    """A monotonic clock in seconds, without a Python call (``perf_counter``'s clock on Linux)."""
    return nf_clock()


_SEVERITY = 20  # logging.INFO: Nornir's default severity of a task
