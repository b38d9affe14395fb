"""Per-host variables with precedence, and the context templates render against.

Highest first: runtime (``set``, ``set_to``) > CLI ``--vars`` > workflow ``vars`` > domain defaults
(``vars/<domain>/defaults.yaml``, for a workflow in ``workflows/<domain>/``) > vars-dir
``defaults.yaml`` > environment ``NORNFLOW_VAR_*``. The static layers are merged once per run; each
host gets its own runtime dict, so hosts never see each other's values. ``host`` is the Nornir host
(its inventory data, with group inheritance: ``{{ host.site }}``, ``{{ host.platform }}``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from nornir.core.inventory import Host

__all__ = [
    "ENV_PREFIX",
    "RESERVED_VARS",
    "HostVars",
    "VarsManager",
    "check_var_name",
    "domain_of",
    "env_vars",
    "host_name",
    "static_layers",
    "vars_file",
]

ENV_PREFIX = "NORNFLOW_VAR_"
#: Names templates always resolve to nornflow's own objects; variables cannot take them.
RESERVED_VARS = frozenset({"host", "item"})


def env_vars(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables from ``NORNFLOW_VAR_<name>`` environment entries (lowest precedence)."""
    source = os.environ if environ is None else environ
    n = len(ENV_PREFIX)
    return {k[n:]: v for k, v in source.items() if k.startswith(ENV_PREFIX) and len(k) > n}


def domain_of(file: str | Path | None, workflow_dirs: Iterable[str | Path]) -> str | None:
    """A workflow file's domain: its first folder under the workflow dir holding it
    (``workflows/net/core.yaml``: ``net``); None at the top of a workflow dir or outside them."""
    if file is None:
        return None
    path = Path(file).resolve()
    for directory in workflow_dirs:
        try:
            parts = path.relative_to(Path(directory).resolve()).parts
        except ValueError:
            continue
        return parts[0] if len(parts) > 1 else None
    return None


def vars_file(path: str | Path) -> dict[str, Any]:
    """The variables of a ``defaults.yaml`` (empty when the file does not exist or is empty); anything
    but a mapping is an error naming the file."""
    from nornflow.exceptions import SettingsError
    from nornflow.yamlio import load_yaml_file

    if not Path(path).is_file():
        return {}
    data = load_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise SettingsError("defaults.yaml must be a mapping of variable names to values", file=str(path))
    return dict(data)


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


def static_layers(
    *,
    environment: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    domain: Mapping[str, Any] | None = None,
    workflow_vars: Mapping[str, Any] | None = None,
    cli_vars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The static variables of a run, merged once: CLI > workflow > domain > defaults > environment."""
    static: dict[str, Any] = {}
    for layer in (environment, defaults, domain, workflow_vars, cli_vars):
        if layer:
            static.update(layer)
    return static


class VarsManager:
    """Variables of one workflow run, per host; thread-safe because each host has its own dict.

    ``static`` is the merged static layers (:func:`static_layers`); runtime variables (``set``,
    ``set_to``) are kept per host above them.
    """

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        self.static: dict[str, Any] = dict(static or {})
        self._runtime: dict[str, dict[str, Any]] = {}
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

    def runtime_snapshot(
        self, hosts: Sequence[str] | None = None, copy: bool = True
    ) -> dict[str, dict[str, Any]]:
        """Every host's runtime variables (for the run's result), in the order of ``hosts`` (the
        inventory's) when given, else in the order hosts first set one (which threads decide).

        ``copy=False`` hands over the manager's own dicts (the run does so once it is over: copying
        100,000 of them only doubled the memory at the very end).
        """
        runtime = self._runtime
        names = runtime if hosts is None else (h for h in hosts if h in runtime)
        if copy:
            return {name: dict(runtime[name]) for name in names if runtime[name]}
        return {name: runtime[name] for name in names if runtime[name]}

    def get(self, host: Any, name: str, default: Any = None) -> Any:
        """The value of variable ``name`` for ``host`` with precedence applied."""
        return self.context(host).get(name, default)

    # -- template context -------------------------------------------------------------------------

    def context(self, host: Any) -> HostVars:
        """The mapping templates see for ``host``: host, runtime, then the static layers (live view)."""
        return HostVars(host, self._runtime, self.static)
