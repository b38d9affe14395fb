"""Per-host variables with precedence, and the context templates render against.

Highest first: runtime (``set``, ``set_to``) > CLI ``--vars`` > workflow ``vars`` > domain defaults
(``vars/<domain>/defaults.yaml``, for a workflow in ``workflows/<domain>/``) > vars-dir
``defaults.yaml`` > environment ``NORNFLOW_VAR_*``. The static layers are merged once per run; each
host gets its own runtime dict, so hosts never see each other's values. ``host`` is the Nornir host
(its inventory data, with group inheritance: ``{{ host.site }}``, ``{{ host.platform }}``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nornflow._hotpath import HostVars, VarsManager, host_name

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
