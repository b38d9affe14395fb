"""Pure-Python twin of the per-host hot path (``csrc/_hotpath_c.pyx`` is the compiled one).

Both twins hold the same classes, with the same fields in the same order and the same algorithms, so
a reader can diff them:

* :class:`HookInstanceCache`, the flyweight cache: one shared hook instance per ``(class, value)``,
  held weakly (freed when no task model uses it).
* :class:`TaskRun` and :class:`ExecutionTracker`: "is this the first execution of hook H in this
  task run?", answered exactly once per run under any number of threads; runs are held weakly.
* :class:`VarsManager` and :class:`HostVars`: a run's variables per host, and the live view of them
  that templates and hooks see for one host.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from jinja2.defaults import DEFAULT_NAMESPACE as _JINJA_GLOBALS
from jinja2.utils import missing as _JINJA_MISSING
from nornir.core.inventory import Host
from nornir.core.task import MultiResult, Result, Task

from nornflow.exceptions import hook_failure

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

IMPLEMENTATION = "python"

#: Status codes of a host's outcome, one byte per host in a task's results.
NOT_RUN, OK, CHANGED, FAILED, SKIPPED = 0, 1, 2, 3, 4
_STARTED = 255  # a run journal's mark (``marks``) of a host that started a task and did not finish


class HookInstanceCache:
    """Flyweight cache of hook instances keyed by ``(hook_class, type(value), value)``, held weakly.

    An instance lives as long as something uses it (the task models that hold it), so a long-lived
    process loading thousands of workflows keeps only the instances of the models still alive, while
    every live model shares one instance per key. Hits are lock-free (one weak-dictionary lookup); a
    miss takes the lock, checks again, then constructs, so that any number of racing threads construct
    a given instance once. The lock is re-entrant so a hook whose constructor builds another hook
    through the cache does not deadlock. An instance that cannot be weakly referenced is kept.
    """

    __slots__ = ("_pinned", "data", "lock")

    def __init__(self) -> None:
        self.data: weakref.WeakValueDictionary[tuple[type, type, Any], Any] = weakref.WeakValueDictionary()
        self.lock = threading.RLock()
        self._pinned: dict[tuple[type, type, Any], Any] = {}

    def get_or_create(self, hook_class: type, value: Any) -> Any:
        """Return the shared instance for ``(hook_class, value)``, constructing it when none is alive."""
        key = (hook_class, type(value), value)
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

    def get(self, hook_class: type, value: Any) -> Any:
        """Return the live instance for ``(hook_class, value)`` or ``None``, never constructing one."""
        key = (hook_class, type(value), value)
        instance = self.data.get(key)
        return instance if instance is not None else self._pinned.get(key)

    def instances(self) -> list[Any]:
        """A snapshot of every live cached instance (for diagnostics and tests)."""
        with self.lock:
            return [*self.data.values(), *self._pinned.values()]

    def clear(self) -> None:
        """Forget every cached instance (tests, and long-lived processes that reload hooks)."""
        with self.lock:
            self.data.clear()
            self._pinned.clear()

    def __len__(self) -> int:
        return len(self.data) + len(self._pinned)

    def __contains__(self, key: object) -> bool:
        return key in self.data or key in self._pinned


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


#: ``Host.name`` read through its slot: Nornir's ``Host.__getattribute__`` is Python code that runs for
#: every attribute; the hot path reads host names several times per host and task.
_slot_name = Host.__dict__["name"].__get__


def host_name(host: Any) -> str:
    """``host.name``, fast for Nornir hosts (and any object with a ``name`` attribute)."""
    if isinstance(host, Host):
        return _slot_name(host)
    return host.name


def _host_inherited_names() -> tuple[str, ...] | None:
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


_HOST_INHERITED = _host_inherited_names()


_MISSING = object()
_EMPTY: dict[str, Any] = {}


class HostVars(Mapping[str, Any]):
    """The variables one host's templates see: ``host``, then its runtime variables, then the run's
    static variables over Jinja2's globals.

    A live view built on demand (one small object, no per-host cache): the runtime layer is looked
    up when a name is first needed, so an expression that reads no variable costs no lookup at all.
    """

    __slots__ = ("_base", "_host", "_runtime", "_runtimes")

    def __init__(self, host: Any, runtimes: dict[str, dict[str, Any]], base: dict[str, Any]) -> None:
        self._host = host
        self._runtimes = runtimes
        self._runtime: dict[str, Any] | None = None
        self._base = base

    def _layer(self) -> dict[str, Any]:
        runtime = self._runtime
        if runtime is None:
            runtime = self._runtimes.get(host_name(self._host))
            if runtime is None:
                return _EMPTY  # nothing set yet; looked up again next time (it may be set later)
            self._runtime = runtime
        return runtime

    def __getitem__(self, key: str) -> Any:
        if key == "host":
            return self._host
        value = self._layer().get(key, _MISSING)
        if value is _MISSING:
            return self._base[key]
        return value

    def __contains__(self, key: object) -> bool:
        return key == "host" or key in self._layer() or key in self._base

    def __iter__(self) -> Iterator[str]:
        yield "host"
        runtime = self._layer()
        yield from (k for k in runtime if k != "host")
        yield from (k for k in self._base if k != "host" and k not in runtime)

    def __len__(self) -> int:
        return len({"host", *self._layer(), *self._base})

    def __repr__(self) -> str:
        return f"HostVars({host_name(self._host)!r})"

    def resolve_or_missing(self, key: str) -> Any:
        """Jinja2's lookup protocol: the value of ``key``, or Jinja2's ``missing``."""
        if key == "host":
            return self._host
        value = self._layer().get(key, _MISSING)
        if value is _MISSING:
            return self._base.get(key, _JINJA_MISSING)
        return value


class VarsManager:
    """The variables of one workflow run, per host: thread-safe because each host has its own dict.

    ``static`` is the run's merged static layers (``nornflow.vars.static_layers``), fixed for the
    run; runtime variables (``set``, ``set_to``) are kept per host above them. ``globals`` are the
    lowest layer (Jinja2's: ``range``, ``dict``, ...; the default is a fresh environment's).
    """

    __slots__ = ("_base", "_lock", "_runtime", "static")

    def __init__(
        self, static: Mapping[str, Any] | None = None, globals: Mapping[str, Any] | None = None
    ) -> None:
        self.static: dict[str, Any] = dict(static or {})
        base = dict(_JINJA_GLOBALS if globals is None else globals)
        base.update(self.static)
        self._base = base
        self._runtime: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def set_runtime_var(self, host: Any, name: str, value: Any) -> None:
        """Set a runtime variable for ``host`` only (highest precedence, visible to later tasks).

        Hot path (``set_to`` calls it per host): names are checked when the workflow is validated.
        """
        key = host_name(host)
        runtime = self._runtime.get(key)
        if runtime is None:
            with self._lock:
                runtime = self._runtime.setdefault(key, {})
        runtime[name] = value

    def get_runtime_vars(self, host: Any) -> dict[str, Any]:
        """A copy of the runtime variables set for ``host`` so far."""
        return dict(self._runtime.get(host_name(host), _EMPTY))

    def runtime_snapshot(
        self, hosts: Sequence[str] | None = None, copy: bool = True
    ) -> dict[str, dict[str, Any]]:
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

    def holds(self, host: Any, names: tuple[str, ...], payload: Any) -> int:
        """1 when each runtime variable ``names`` of ``host`` is ``payload`` itself (``set_to``
        stored the result), 0 when it has none of them, 2 otherwise (the run journal's check)."""
        runtime = self._runtime.get(host_name(host))
        if runtime is None:
            return 0
        seen = same = 0
        for name in names:
            value = runtime.get(name, _MISSING)
            if value is not _MISSING:
                seen += 1
                if value is payload:
                    same += 1
        if seen == 0:
            return 0
        return 1 if same == len(names) else 2

    def runtime_columns(
        self, hosts: Sequence[str], names: Sequence[str], payloads: list[Any] | None = None
    ) -> tuple[dict[str, list[Any]], dict[str, list[int]], list[str]]:
        """The runtime variables ``names`` of ``hosts`` column-wise, as the run journal records what
        a task set: ``({name: [value or None per host]}, {name: [positions without it]}, [names])``;
        the last are the names whose every value is the host's own result (``payloads[k]``, the
        same object: ``set_to`` stores it), given without a column."""
        get = self._runtime.get
        dicts = [get(h, _EMPTY) for h in hosts]
        columns: dict[str, list[Any]] = {}
        missing: dict[str, list[int]] = {}
        results: list[str] = []
        for name in names:
            holes = [k for k, d in enumerate(dicts) if name not in d]
            if holes:
                missing[name] = holes
            if (
                payloads is not None
                and len(payloads) == len(dicts)
                and all(d.get(name, p) is p for d, p in zip(dicts, payloads, strict=True))
            ):
                results.append(name)
                continue
            columns[name] = [d.get(name) for d in dicts]
        return columns, missing, results

    def get(self, host: Any, name: str, default: Any = None) -> Any:
        """The value of variable ``name`` for ``host`` with precedence applied."""
        return self.context(host).get(name, default)

    def context(self, host: Any) -> HostVars:
        """The mapping templates see for ``host``: host, runtime, then the static layers (live view)."""
        return HostVars(host, self._runtime, self._base)


def expression_value(
    root: Callable[[Any], Iterator[str]], parent: Mapping[str, Any], proto: dict[str, Any]
) -> Any:
    """Run a compiled one-expression template (``{% set __nf_value = (...) %}``) against ``parent``
    and return the value: ``proto`` holds the Jinja2 context's constant attributes (environment,
    evaluation context, ...), set up once by ``nornflow.templating``. Raises what the template raises.
    """
    ctx = _new_object(proto["__class__"])
    attrs = ctx.__dict__
    attrs.update(proto["attributes"])
    attrs["parent"] = parent
    variables: dict[str, Any] = {}
    attrs["vars"] = variables
    attrs["exported_vars"] = set()
    if type(parent) is HostVars:  # one lookup per name, without Context.resolve_or_missing's two
        attrs["resolve_or_missing"] = parent.resolve_or_missing
    for _ in root(ctx):  # renders nothing: the value lands in ``ctx.vars``
        pass
    return variables["__nf_value"]


class Condition:
    """A pre-hook's per-host decision from a compiled Jinja2 expression over the host's variables:
    ``True`` when it holds, else ``skip``. ``True``/``False`` values decide at once; any other is
    judged by ``truth`` (strings by their words). ``fail`` turns what the expression raises (an
    undefined variable, a filter error) into the error to raise. ``nornflow.templating`` builds it."""

    __slots__ = ("fail", "proto", "root", "skip", "truth")

    def __init__(
        self,
        root: Callable[[Any], Iterator[str]],
        proto: dict[str, Any],
        skip: Any,
        fail: Callable[[Exception], Exception],
        truth: Callable[[Any], bool] = bool,
    ) -> None:
        self.root = root
        self.proto = proto
        self.skip = skip
        self.fail = fail
        self.truth = truth

    def __call__(self, task_model: Any, host: Any, vars_mgr: Any) -> Any:
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


class StoreResult:
    """A post-hook's per-host action: store the outcome's payload in the host's runtime variable
    ``name`` (``set_to: name``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, task_model: Any, host: Any, outcome: Any, vars_mgr: Any) -> None:
        vars_mgr.set_runtime_var(host, self.name, outcome.result)


class JinjaGetattr:
    """Jinja2's ``Environment.getattr`` (attribute, then item, then undefined), as the environment's
    own attribute so the compiled templates call it without a Python frame in the compiled twin."""

    __slots__ = ("undefined",)

    def __init__(self, undefined: Callable[..., Any]) -> None:
        self.undefined = undefined

    def __call__(self, obj: Any, attribute: str) -> Any:
        try:
            if type(obj) is Host and _HOST_INHERITED is not None and attribute not in _HOST_INHERITED:
                return object.__getattribute__(obj, attribute)  # what Host.__getattribute__ does for it
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


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
        "_held",
        "_marks",
        "call",
        "codes",
        "context",
        "defaults",
        "diffs",
        "dispatcher",
        "durations",
        "extras",
        "fixed",
        "func",
        "has_post",
        "has_pre",
        "hosts",
        "index",
        "injected",
        "keep",
        "model",
        "name",
        "on_done",
        "on_exception",
        "on_failure",
        "payloads",
        "positions",
        "primed",
        "render",
        "run",
        "skip_reasons",
        "stop",
        "task_attrs",
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
        self.fixed: dict[str, Any] | None = None  #: the same kwargs for every host (copied), else render
        self.func: Callable[..., Any] | None = None
        self.task_attrs: dict[str, Any] = {}  #: a Nornir Task's attributes (from a real one)
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
        self._marks: bytearray | memoryview | None = None
        #: (names, out, vars) of track_results, or None: one tuple, read at once (threads)
        self._held: tuple[tuple[str, ...], bytearray | memoryview, VarsManager] | None = None
        self.stop: threading.Event | None = None  #: set: Nornir-path hosts not started stay not run

    @property
    def marks(self) -> bytearray | memoryview | None:
        """The run journal's state bytes of this task (a writable buffer, one byte per host), or
        None: ``STARTED`` is stored when a host starts, its status code when it finishes."""
        return self._marks

    @marks.setter
    def marks(self, value: bytearray | memoryview | None) -> None:
        self._marks = value

    def track_results(self, names: Sequence[str] | None, out: bytearray | memoryview | None) -> None:
        """After each host that ran, store in ``out[i]`` (a writable buffer, one byte per host)
        whether its runtime variables ``names`` hold its result (:meth:`VarsManager.holds`): the
        run journal's check while the host's data is hot. ``names`` None stops it."""
        if names is None or out is None:
            self._held = None
            return
        if not isinstance(self.vars_mgr, VarsManager):
            raise TypeError("track_results needs the step's VarsManager")
        self._held = (tuple(names), out, self.vars_mgr)

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
        """The Nornir ``Task`` the task function receives: what ``Task(...)`` sets (``task_attrs``,
        taken from a real one), with its own results and the host."""
        task = _new_object(Task)
        attrs = self.task_attrs.copy()
        results = MultiResult.__new__(MultiResult)
        results.name = self.name
        attrs["results"] = results
        attrs["host"] = host
        task.__dict__ = attrs
        return task

    def invoke(self, task: Task, extra: Mapping[str, Any] | None) -> Outcome:
        """Render the args for ``task.host`` (with ``extra`` variables) and run the task once."""
        host = task.host
        try:
            if self.fixed is not None:
                kwargs = self.fixed.copy()
            elif self.templated:
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
        marks = self._marks
        if marks is not None:
            marks[i] = _STARTED
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
                    if marks is not None:
                        marks[i] = SKIPPED
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
        held = self._held
        if held is not None:
            held[1][i] = held[2].holds(host, held[0], self.payloads[i])
        code = self.codes[i]
        if self.on_done is not None:
            self.on_done(i, code)
        if marks is not None:
            marks[i] = code
        return outcome


_clock = time.perf_counter
_new_object = object.__new__
_SEVERITY = 20  # logging.INFO: Nornir's default severity of a task
