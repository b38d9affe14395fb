"""Per-host variables with precedence, and the context templates render against.

Highest first: runtime (``set``, ``set_to``) > CLI ``--vars`` > workflow ``vars`` > vars-dir
``defaults.yaml`` > environment ``NORNFLOW_VAR_*``. The static layers are merged once per run; each
host gets its own runtime dict, so hosts never see each other's values. ``host`` is the Nornir host
(its inventory data, with group inheritance: ``{{ host.site }}``, ``{{ host.platform }}``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nornflow._hotpath import HostVars, VarsManager, host_name

__all__ = [
    "ENV_PREFIX",
    "RESERVED_VARS",
    "HostVars",
    "VarsManager",
    "check_var_name",
    "env_vars",
    "host_name",
    "static_layers",
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


def static_layers(
    *,
    environment: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    workflow_vars: Mapping[str, Any] | None = None,
    cli_vars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The static variables of a run, merged once: CLI > workflow > defaults > environment."""
    static: dict[str, Any] = {}
    for layer in (environment, defaults, workflow_vars, cli_vars):
        if layer:
            static.update(layer)
    return static
