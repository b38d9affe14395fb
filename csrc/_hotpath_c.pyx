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
from cpython.object cimport PyObject, PyObject_GenericGetAttr
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport uint8_t

import threading
import time
import weakref
from collections import ChainMap
from collections.abc import ItemsView, KeysView, Mapping, ValuesView

from jinja2.defaults import DEFAULT_NAMESPACE as _JINJA_GLOBALS
from jinja2.utils import missing as _JINJA_MISSING
from nornir.core.inventory import Host

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
    "Condition",
    "ExecutionTracker",
    "HookDispatcher",
    "HookInstanceCache",
    "HostVars",
    "JinjaGetattr",
    "Outcome",
    "StoreResult",
    "TaskRun",
    "TaskStep",
    "VarsManager",
    "expression_value",
    "host_name",
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
    C_STARTED = 255  # a run journal's mark (``marks``) of a host that started a task and did not finish

NOT_RUN, OK, CHANGED, FAILED, SKIPPED = C_NOT_RUN, C_OK, C_CHANGED, C_FAILED, C_SKIPPED


cdef class HookInstanceCache:
    """Flyweight cache of hook instances keyed by ``(hook_class, type(value), value)``, held weakly.

    An instance lives as long as something uses it (the task models that hold it), so a long-lived
    process loading thousands of workflows keeps only the instances of the models still alive, while
    every live model shares one instance per key. Hits are lock-free (one weak-dictionary lookup); a
    miss takes the lock, checks again, then constructs, so that any number of racing threads construct
    a given instance once. The lock is re-entrant so a hook whose constructor builds another hook
    through the cache does not deadlock. An instance that cannot be weakly referenced is kept.
    """

    cdef dict _pinned
    cdef readonly object data
    cdef readonly object lock

    def __init__(self):
        self.data = weakref.WeakValueDictionary()
        self.lock = threading.RLock()
        self._pinned = {}

    def get_or_create(self, hook_class, value):
        """Return the shared instance for ``(hook_class, value)``, constructing it when none is alive."""
        cdef tuple key = (hook_class, type(value), value)
        instance = self.data.get(key)
        if instance is not None:
            return instance
        with self.lock:
            instance = self.data.get(key)
            if instance is None:
                instance = self._pinned.get(key)
            if instance is None:
                instance = hook_class(value)
                try:
                    self.data[key] = instance
                except TypeError:  # no weak reference to it (``__slots__`` without ``__weakref__``)
                    self._pinned[key] = instance
            return instance

    def get(self, hook_class, value):
        """Return the live instance for ``(hook_class, value)`` or ``None``, never constructing one."""
        cdef tuple key = (hook_class, type(value), value)
        instance = self.data.get(key)
        return instance if instance is not None else self._pinned.get(key)

    def instances(self):
        """A snapshot of every live cached instance (for diagnostics and tests)."""
        with self.lock:
            return [*self.data.values(), *self._pinned.values()]

    def clear(self):
        """Forget every cached instance (tests, and long-lived processes that reload hooks)."""
        with self.lock:
            self.data.clear()
            self._pinned.clear()

    def __len__(self):
        return len(self.data) + len(self._pinned)

    def __contains__(self, key):
        return key in self.data or key in self._pinned


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


#: ``Host.name`` read through its slot: Nornir's ``Host.__getattribute__`` is Python code that runs for
#: every attribute; the hot path reads host names several times per host and task.
cdef object _slot_name = Host.__dict__["name"].__get__


cpdef str host_name(object host):
    """``host.name``, fast for Nornir hosts (and any object with a ``name`` attribute)."""
    if isinstance(host, Host):
        return _slot_name(host)
    return host.name


def _host_inherited_names():
    """The attributes Nornir's ``Host.__getattribute__`` resolves through groups and defaults (read
    from its own code, so a Nornir that changes them is followed); for every other name it is
    ``object.__getattribute__``. None when its code does not have the expected shape: then every
    lookup goes through it."""
    code = getattr(Host.__getattribute__, "__code__", None)
    found = [
        c
        for c in (code.co_consts if code is not None else ())
        if isinstance(c, tuple) and "hostname" in c and "platform" in c and all(isinstance(x, str) for x in c)
    ]
    return found[0] if len(found) == 1 else None


cdef object _HOST_INHERITED = _host_inherited_names()


cdef object _MISSING = object()
cdef dict _EMPTY = {}


cdef class HostVars:
    """The variables one host's templates see: ``host``, then its runtime variables, then the run's
    static variables over Jinja2's globals.

    A live view built on demand (one small object, no per-host cache): the runtime layer is looked
    up when a name is first needed, so an expression that reads no variable costs no lookup at all.
    """

    cdef dict _base
    cdef object _host
    cdef dict _runtime
    cdef dict _runtimes

    def __init__(self, host, dict runtimes, dict base):
        self._host = host
        self._runtimes = runtimes
        self._runtime = None
        self._base = base

    cdef inline dict _layer(self):
        cdef dict runtime = self._runtime
        cdef PyObject* found
        if runtime is None:
            found = PyDict_GetItem(self._runtimes, host_name(self._host))
            if found is NULL:
                return _EMPTY  # nothing set yet; looked up again next time (it may be set later)
            runtime = <dict>found
            self._runtime = runtime
        return runtime

    def __getitem__(self, key):
        if key == "host":
            return self._host
        cdef PyObject* found = PyDict_GetItem(self._layer(), key)
        if found is NULL:
            return self._base[key]
        return <object>found

    def __contains__(self, key):
        return key == "host" or key in self._layer() or key in self._base

    def __iter__(self):
        yield "host"
        runtime = self._layer()
        yield from (k for k in runtime if k != "host")
        yield from (k for k in self._base if k != "host" and k not in runtime)

    def __len__(self):
        return len({"host", *self._layer(), *self._base})

    def __repr__(self):
        return f"HostVars({host_name(self._host)!r})"

    cpdef object resolve_or_missing(self, object key):
        """Jinja2's lookup protocol: the value of ``key``, or Jinja2's ``missing``."""
        if key == "host":
            return self._host
        cdef PyObject* found = PyDict_GetItem(self._layer(), key)
        if found is NULL:
            found = PyDict_GetItem(self._base, key)
            return <object>found if found is not NULL else _JINJA_MISSING
        return <object>found

    # the Mapping mixin methods (a compiled class cannot inherit them; it is registered as a Mapping)
    def get(self, key, default=None):
        """``self[key]``, or ``default`` when no layer has it."""
        return self[key] if key in self else default

    def keys(self):
        """The names visible to the host's templates."""
        return KeysView(self)

    def items(self):
        """(name, value) of every variable visible to the host's templates."""
        return ItemsView(self)

    def values(self):
        """The values of every variable visible to the host's templates."""
        return ValuesView(self)

    def __eq__(self, other):
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self.items()) == dict(other.items())


Mapping.register(HostVars)


cdef class VarsManager:
    """The variables of one workflow run, per host: thread-safe because each host has its own dict.

    ``static`` is the run's merged static layers (``nornflow.vars.static_layers``), fixed for the
    run; runtime variables (``set``, ``set_to``) are kept per host above them. ``globals`` are the
    lowest layer (Jinja2's: ``range``, ``dict``, ...; the default is a fresh environment's).
    """

    cdef dict _base
    cdef object _lock
    cdef dict _runtime
    cdef public dict static

    def __init__(self, static=None, globals=None):
        self.static = dict(static or {})
        cdef dict base = dict(_JINJA_GLOBALS if globals is None else globals)
        base.update(self.static)
        self._base = base
        self._runtime = {}
        self._lock = threading.Lock()

    cpdef set_runtime_var(self, object host, object name, object value):
        """Set a runtime variable for ``host`` only (highest precedence, visible to later tasks).

        Hot path (``set_to`` calls it per host): names are checked when the workflow is validated.
        """
        key = host_name(host)
        cdef PyObject* found = PyDict_GetItem(self._runtime, key)
        cdef dict runtime
        if found is NULL:
            with self._lock:
                runtime = self._runtime.setdefault(key, {})
        else:
            runtime = <dict>found
        runtime[name] = value

    def get_runtime_vars(self, host):
        """A copy of the runtime variables set for ``host`` so far."""
        return dict(self._runtime.get(host_name(host), _EMPTY))

    def runtime_snapshot(self, hosts=None, copy=True):
        """Every host's runtime variables (for the run's result), in the order of ``hosts`` (the
        inventory's) when given, else in the order hosts first set one (which threads decide).

        ``copy=False`` hands over the manager's own dicts (the run does so once it is over: copying
        100,000 of them only doubled the memory at the very end).
        """
        runtime = self._runtime
        names = list(runtime) if hosts is None else [h for h in hosts if h in runtime]
        if copy:
            return {name: dict(runtime[name]) for name in names if runtime[name]}
        return {name: runtime[name] for name in names if runtime[name]}

    cpdef int holds(self, object host, tuple names, object payload):
        """1 when each runtime variable ``names`` of ``host`` is ``payload`` itself (``set_to``
        stored the result), 0 when it has none of them, 2 otherwise (the run journal's check)."""
        cdef PyObject* found = PyDict_GetItem(self._runtime, host_name(host))
        if found is NULL:
            return 0
        cdef dict runtime = <dict>found
        cdef PyObject* value
        cdef Py_ssize_t seen = 0, same = 0
        for name in names:
            value = PyDict_GetItem(runtime, name)
            if value is not NULL:
                seen += 1
                if value == <PyObject*>payload:
                    same += 1
        if seen == 0:
            return 0
        return 1 if same == len(names) else 2

    def runtime_columns(self, hosts, names, payloads=None):
        """The runtime variables ``names`` of ``hosts`` column-wise, as the run journal records what
        a task set: ``({name: [value or None per host]}, {name: [positions without it]}, [names])``;
        the last are the names whose every value is the host's own result (``payloads[k]``, the
        same object: ``set_to`` stores it), given without a column."""
        cdef dict runtime = self._runtime
        cdef list dicts = []
        cdef list results = []
        cdef list pay = payloads if payloads is not None else None
        cdef PyObject* found
        cdef PyObject* value
        cdef Py_ssize_t k, n
        cdef bint same
        cdef list column, holes
        cdef dict columns = {}, missing = {}
        for host in hosts:
            found = PyDict_GetItem(runtime, host)
            dicts.append(_EMPTY if found is NULL else <object>found)
        n = len(dicts)
        for name in names:
            holes = []
            same = pay is not None and len(pay) == n
            for k in range(n):
                value = PyDict_GetItem(<dict>PyList_GET_ITEM(dicts, k), name)
                if value is NULL:
                    holes.append(k)
                elif same and value != PyList_GET_ITEM(pay, k):
                    same = False
            if holes:
                missing[name] = holes
            if same:
                results.append(name)
                continue
            column = [None] * n
            for k in range(n):
                value = PyDict_GetItem(<dict>PyList_GET_ITEM(dicts, k), name)
                if value is not NULL:
                    column[k] = <object>value
            columns[name] = column
        return columns, missing, results

    def get(self, host, name, default=None):
        """The value of variable ``name`` for ``host`` with precedence applied."""
        return self.context(host).get(name, default)

    cpdef HostVars context(self, object host):
        """The mapping templates see for ``host``: host, runtime, then the static layers (live view)."""
        cdef HostVars view = HostVars.__new__(HostVars)
        view._host = host
        view._runtimes = self._runtime
        view._base = self._base
        return view


cpdef object expression_value(object root, object parent, dict proto):
    """Run a compiled one-expression template (``{% set __nf_value = (...) %}``) against ``parent``
    and return the value: ``proto`` holds the Jinja2 context's constant attributes (environment,
    evaluation context, ...), set up once by ``nornflow.templating``. Raises what the template raises.
    """
    ctx = _new_object(proto["__class__"])
    cdef dict attrs = ctx.__dict__
    attrs.update(<dict>proto["attributes"])
    attrs["parent"] = parent
    cdef dict variables = {}
    attrs["vars"] = variables
    attrs["exported_vars"] = set()
    if type(parent) is HostVars:  # one lookup per name, without Context.resolve_or_missing's two
        attrs["resolve_or_missing"] = (<HostVars>parent).resolve_or_missing
    for _ in root(ctx):  # renders nothing: the value lands in ``ctx.vars``
        pass
    return variables["__nf_value"]


cdef class Condition:
    """A pre-hook's per-host decision from a compiled Jinja2 expression over the host's variables:
    ``True`` when it holds, else ``skip``. ``True``/``False`` values decide at once; any other is
    judged by ``truth`` (strings by their words). ``fail`` turns what the expression raises (an
    undefined variable, a filter error) into the error to raise. ``nornflow.templating`` builds it."""

    cdef public object fail
    cdef public dict proto
    cdef public object root
    cdef public object skip
    cdef public object truth

    def __init__(self, root, dict proto, skip, fail, truth=bool):
        self.root = root
        self.proto = proto
        self.skip = skip
        self.fail = fail
        self.truth = truth

    def __call__(self, task_model, host, vars_mgr):
        cdef bint holds
        try:
            value = expression_value(self.root, vars_mgr.context(host), self.proto)
            if value is True:
                return True
            if value is False:
                return self.skip
            holds = self.truth(value)  # StrictUndefined raises here: an undefined name, named
        except Exception as exc:
            raise self.fail(exc) from None
        return True if holds else self.skip


cdef class StoreResult:
    """A post-hook's per-host action: store the outcome's payload in the host's runtime variable
    ``name`` (``set_to: name``)."""

    cdef public object name

    def __init__(self, name):
        self.name = name

    def __call__(self, task_model, host, outcome, vars_mgr):
        vars_mgr.set_runtime_var(host, self.name, outcome.result)


cdef class JinjaGetattr:
    """Jinja2's ``Environment.getattr`` (attribute, then item, then undefined), as the environment's
    own attribute so the compiled templates call it without a Python frame in the compiled twin."""

    cdef public object undefined

    def __init__(self, undefined):
        self.undefined = undefined

    def __call__(self, obj, attribute):
        try:
            if type(obj) is Host and _HOST_INHERITED is not None and attribute not in _HOST_INHERITED:
                return PyObject_GenericGetAttr(obj, attribute)  # what Host.__getattribute__ does for it
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


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
    cdef public array durations
    cdef public dict extras
    cdef public dict fixed
    cdef public object func
    cdef public bint has_post
    cdef public bint has_pre
    cdef public list hosts
    cdef public dict index
    cdef public dict injected
    cdef public list keep
    cdef public object model
    cdef public str name
    cdef public object on_done
    cdef public object on_exception
    cdef public object on_failure
    cdef object _marks_obj
    cdef unsigned char[::1] _marks
    cdef bint _has_marks
    cdef unsigned char[::1] _held
    cdef tuple _held_names
    cdef VarsManager _held_vars
    cdef public list payloads
    cdef public list positions
    cdef public dict primed
    cdef public object render
    cdef public TaskRun run
    cdef public dict skip_reasons
    cdef public object stop
    cdef public dict task_attrs
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
        self.fixed = None
        self.func = None
        self.task_attrs = {}
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
        self._marks_obj = None
        self._has_marks = False
        self._held_names = None
        self._held_vars = None
        self.stop = None

    @property
    def marks(self):
        """The run journal's state bytes of this task (a writable buffer, one byte per host), or
        None: ``STARTED`` is stored when a host starts, its status code when it finishes."""
        return self._marks_obj

    @marks.setter
    def marks(self, value):
        if value is None:
            self._has_marks = False
            self._marks = None
        else:
            self._marks = value
            self._has_marks = True
        self._marks_obj = value

    def track_results(self, names, out):
        """After each host that ran, store in ``out[i]`` (a writable buffer, one byte per host)
        whether its runtime variables ``names`` hold its result (:meth:`VarsManager.holds`): the
        run journal's check while the host's data is hot. ``names`` None stops it."""
        if names is None:
            self._held_names = None
            self._held_vars = None
            self._held = None
            return
        if not isinstance(self.vars_mgr, VarsManager):
            raise TypeError("track_results needs the step's VarsManager")
        self._held = out
        self._held_vars = <VarsManager>self.vars_mgr
        self._held_names = tuple(names)

    cdef void _track(self, Py_ssize_t i, object host):
        # locals: a track_results(None) from another thread leaves this host's store valid
        cdef tuple names = self._held_names
        cdef VarsManager vm = self._held_vars
        cdef unsigned char[::1] out = self._held
        if names is not None and vm is not None:
            out[i] = <unsigned char>vm.holds(host, names, self.payloads[i])

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
        """The Nornir ``Task`` the task function receives: what ``Task(...)`` sets (``task_attrs``,
        taken from a real one), with its own results and the host."""
        task = _new_object(Task)
        cdef dict attrs = self.task_attrs.copy()
        results = MultiResult.__new__(MultiResult)
        results.name = self.name
        attrs["results"] = results
        attrs["host"] = host
        task.__dict__ = attrs
        return task

    cpdef Outcome invoke(self, object task, object extra):
        """Render the args for ``task.host`` (with ``extra`` variables) and run the task once."""
        host = task.host
        cdef dict kwargs
        try:
            if self.fixed is not None:
                kwargs = self.fixed.copy()
            elif self.templated:
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
        if self._has_marks:
            self._marks[i] = C_STARTED
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
                    if self._has_marks:
                        self._marks[i] = C_SKIPPED
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
        if self._held_names is not None:
            self._track(i, host)
        code = self.codes[i]
        if self.on_done is not None:
            self.on_done(i, code)
        if self._has_marks:
            self._marks[i] = code
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


cdef object _new_object = object.__new__
_SEVERITY = 20  # logging.INFO: Nornir's default severity of a task
