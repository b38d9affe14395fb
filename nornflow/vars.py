"""Per-host variables with precedence, and the context templates render against.

Highest first: runtime (``set``, ``set_to``) > CLI ``--vars`` > workflow ``vars`` > vars-dir
``defaults.yaml`` > environment ``NORNFLOW_VAR_*``. The static layers are merged once per run; each
host gets its own runtime dict, so hosts never see each other's values. ``host`` is the Nornir host
(its inventory data, with group inheritance: ``{{ host.site }}``, ``{{ host.platform }}``).
"""

from __future__ import annotations

import os
import threading
from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import Any

from nornir.core.inventory import Host

__all__ = [
    "ENV_PREFIX",
    "RESERVED_VARS",
    "HostVars",
    "VarsManager",
    "check_var_name",
    "env_vars",
    "host_name",
]

ENV_PREFIX = "NORNFLOW_VAR_"
#: Names templates always resolve to nornflow's own objects; variables cannot take them.
RESERVED_VARS = frozenset({"host", "item"})


def env_vars(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables from ``NORNFLOW_VAR_<name>`` environment entries (lowest precedence)."""
    source = os.environ if environ is None else environ
    n = len(ENV_PREFIX)
    return {k[n:]: v for k, v in source.items() if k.startswith(ENV_PREFIX) and len(k) > n}


def check_var_name(name: Any) -> str | None:
    """Why ``name`` cannot be a variable name (None when it can)."""
    if not isinstance(name, str) or not name.isidentifier():
        return f"variable name {name!r} must be an identifier"
    if name.startswith("_"):
        return f"variable name {name!r} must not start with '_'"
    if name in RESERVED_VARS:
        return f"variable name {name!r} is reserved ({', '.join(sorted(RESERVED_VARS))})"
    return None


#: Jinja2's globals (range, dict, namespace, ...): templates render with a shared context, so they are
#: the lowest layer of every host's context.
from nornflow.templating import environment as _environment  # noqa: E402

_JINJA_GLOBALS = _environment.globals

#: ``Host.name`` read through its slot: Nornir's ``Host.__getattribute__`` is Python code that runs for
#: every attribute (~0.4 us); the hot path reads the name several times per host and task.
_slot_name = Host.__dict__["name"].__get__


def host_name(host: Any) -> str:
    """``host.name``, fast for Nornir hosts (and any object with a ``name`` attribute)."""
    if isinstance(host, Host):
        return _slot_name(host)  # type: ignore[no-any-return]
    return host.name  # type: ignore[no-any-return]


_MISSING = object()


class HostVars(Mapping[str, Any]):
    """The variables one host's templates see: ``host``, then runtime, static and Jinja2 globals.

    A live view built on demand (one small object, no per-host cache): the runtime layer is looked
    up when a name is first needed, so an expression that reads no variable costs no lookup at all.
    """

    __slots__ = ("_host", "_runtime", "_runtimes", "_static")

    def __init__(self, host: Any, runtimes: dict[str, dict[str, Any]], static: dict[str, Any]) -> None:
        self._host = host
        self._runtimes = runtimes
        self._runtime: dict[str, Any] | None = None
        self._static = static

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
            value = self._static.get(key, _MISSING)
            if value is _MISSING:
                return _JINJA_GLOBALS[key]
        return value

    def __contains__(self, key: object) -> bool:
        return key == "host" or key in self._layer() or key in self._static or key in _JINJA_GLOBALS

    def __iter__(self) -> Iterator[str]:
        seen = {"host"}
        yield "host"
        for layer in (self._layer(), self._static, _JINJA_GLOBALS):
            for key in layer:
                if key not in seen:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return len({"host", *self._layer(), *self._static, *_JINJA_GLOBALS})

    def __repr__(self) -> str:
        return f"HostVars({host_name(self._host)!r})"


_EMPTY: dict[str, Any] = {}


class VarsManager:
    """Variables of one workflow run, per host; thread-safe because each host has its own dict."""

    def __init__(
        self,
        *,
        workflow_vars: Mapping[str, Any] | None = None,
        cli_vars: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
    ) -> None:
        static: dict[str, Any] = {}
        for layer in (environment, defaults, workflow_vars, cli_vars):
            if layer:
                static.update(layer)
        self.static: dict[str, Any] = static
        self._runtime: dict[str, dict[str, Any]] = {}
        self._task_options: dict[int, dict[str, Any]] = {}
        self._skip_reasons: dict[str, str] = {}
        self._wrappers: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    # -- runtime variables ------------------------------------------------------------------------

    def _runtime_of(self, name: str) -> dict[str, Any]:
        runtime = self._runtime.get(name)
        if runtime is None:
            with self._lock:
                runtime = self._runtime.setdefault(name, {})
        return runtime

    def set_runtime_var(self, host: Any, name: str, value: Any) -> None:
        """Set a runtime variable for ``host`` only (highest precedence, visible to later tasks).

        Hot path (``set_to`` calls it per host): names are checked with :func:`check_var_name` when
        the workflow is validated, not here.
        """
        key = host_name(host)
        runtime = self._runtime.get(key)
        if runtime is None:
            runtime = self._runtime_of(key)
        runtime[name] = value

    def get_runtime_vars(self, host: Any) -> dict[str, Any]:
        """A copy of the runtime variables set for ``host`` so far."""
        return dict(self._runtime.get(host_name(host), {}))

    def runtime_snapshot(self, copy: bool = True) -> dict[str, dict[str, Any]]:
        """Every host's runtime variables (for the run's result).

        ``copy=False`` hands over the manager's own dicts (the engine does so once the run is over:
        copying 100,000 of them only doubled the memory at the very end).
        """
        if copy:
            return {name: dict(values) for name, values in self._runtime.items() if values}
        return {name: values for name, values in self._runtime.items() if values}

    def get(self, host: Any, name: str, default: Any = None) -> Any:
        """The value of variable ``name`` for ``host`` with precedence applied."""
        return self.context(host).get(name, default)

    # -- template context -------------------------------------------------------------------------

    def context(self, host: Any) -> HostVars:
        """The mapping templates see for ``host``: host, runtime, then the static layers (live view)."""
        return HostVars(host, self._runtime, self.static)

    # -- per-task options (set by once-per-task hooks such as ``output``) ---------------------------

    def set_task_option(self, task_model: Any, key: str, value: Any) -> None:
        """Record an option for the current run of ``task_model`` (e.g. ``print_output``)."""
        options = self._task_options.get(id(task_model))
        if options is None:
            with self._lock:
                options = self._task_options.setdefault(id(task_model), {})
        options[key] = value

    def get_task_option(self, task_model: Any, key: str, default: Any = None) -> Any:
        """An option recorded for ``task_model`` by a hook, or ``default``."""
        options = self._task_options.get(id(task_model))
        return default if options is None else options.get(key, default)

    def clear_task_options(self, task_model: Any) -> None:
        """Forget a task's options (called when its run ends)."""
        self._task_options.pop(id(task_model), None)

    # -- per-host notes of the current task run (set by pre-hooks, read by the engine) --------------

    def note_skip(self, host: Any, reason: str) -> None:
        """Say why a pre-hook is about to skip ``host`` (shown in the recap); cheap, optional."""
        self._skip_reasons[host_name(host)] = reason

    def pop_skip_reason(self, host: Any) -> str | None:
        """The reason noted for skipping ``host`` in this task run, once."""
        return self._skip_reasons.pop(host_name(host), None) if self._skip_reasons else None

    def add_execution_wrapper(self, host: Any, wrapper: Any) -> None:
        """Have ``wrapper.execute(call, extra, task_model, host, vars_mgr)`` run this host's task.

        Pre-hooks such as ``loop``, ``retries`` and ``timeout`` use it; wrappers nest by their
        ``execution_order`` (lowest outermost).
        """
        key = host_name(host)
        wrappers = self._wrappers.get(key)
        if wrappers is None:
            self._wrappers[key] = [wrapper]
        else:
            wrappers.append(wrapper)

    def pop_execution_wrappers(self, host: Any) -> list[Any] | None:
        """The wrappers registered for ``host`` in this task run, outermost first, once."""
        wrappers = self._wrappers.pop(host_name(host), None) if self._wrappers else None
        if wrappers and len(wrappers) > 1:
            wrappers.sort(key=lambda w: getattr(w, "execution_order", 100))
        return wrappers

    def end_task_run(self, task_model: Any) -> None:
        """Forget everything noted for the task run that just ended."""
        self._task_options.pop(id(task_model), None)
        self._skip_reasons.clear()
        self._wrappers.clear()

    def result_context(self, host: Any, result: Any) -> ChainMap[str, Any]:
        """The context of expressions over a result (``failed_when``, ``until``): the result view
        (``result``, ``failed``, ``changed``, ``exception``) over the host's variables."""
        from nornflow.hooks.builtins.set_to import result_view

        return ChainMap(result_view(result, host), self.context(host))
