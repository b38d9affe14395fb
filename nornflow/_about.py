"""The ``nornflow --version`` line: distribution and version, hot-path implementation, Python, Nornir.

It imports neither Nornir nor importlib.metadata (whose import alone costs more than the rest of the
command), so ``nornflow --version`` answers in tens of milliseconds.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder

from nornflow._version import DISTRIBUTION, __version__

#: What ``_hotpath.IMPLEMENTATION`` means to a user: which build of the hot path is running.
IMPLEMENTATION_LABELS = {"cython": "compiled", "python": "pure Python"}
_PYTHONS = {"cpython": "CPython", "pypy": "PyPy"}


def hotpath_label() -> str:
    """``compiled`` or ``pure Python``: the hot path ``nornflow._hotpath`` runs (or would pick).

    Importing the hot path imports Nornir and Jinja2 (4x the rest of ``--version``), so unless it is
    already loaded this answers as its selector decides: forced pure by ``NORNFLOW_NO_EXTENSIONS``,
    else compiled when the built module is installed.
    """
    loaded = sys.modules.get("nornflow._hotpath")
    if loaded is not None:
        return IMPLEMENTATION_LABELS.get(loaded.IMPLEMENTATION, loaded.IMPLEMENTATION)
    from importlib.util import find_spec

    from nornflow._envflags import env_flag

    try:
        pure = env_flag("NORNFLOW_NO_EXTENSIONS")
    except ValueError:
        pure = False
    return IMPLEMENTATION_LABELS["python" if pure or find_spec("nornflow._hotpath_c") is None else "cython"]


def python_label() -> str:
    """The interpreter and its version, e.g. ``CPython 3.11.7``."""
    name = sys.implementation.name
    return f"{_PYTHONS.get(name, name)} {sys.version.split()[0]}"


def nornir_version() -> str:
    """The version of the Nornir that ``import nornir`` would load (``not installed`` without one).

    Read from the name of its ``nornir-VERSION.dist-info`` directory beside the package, as installers
    write it; importlib.metadata answers for any other layout.
    """
    spec = PathFinder.find_spec("nornir")
    if spec is None or not spec.origin:
        return "not installed"
    site = os.path.dirname(os.path.dirname(spec.origin))
    try:
        names = os.listdir(site)
    except OSError:
        names = []
    for name in names:
        if name.startswith("nornir-") and name.endswith(".dist-info"):
            return name[len("nornir-") : -len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version("nornir")
    except metadata.PackageNotFoundError:
        return "unknown"


def version_line() -> str:
    """One line naming the distribution (the import package is always ``nornflow``) and what runs it."""
    return (
        f"{DISTRIBUTION} {__version__} (package nornflow, hot path: {hotpath_label()}; "
        f"{python_label()}; Nornir {nornir_version()})"
    )
