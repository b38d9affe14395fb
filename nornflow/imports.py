"""Importing the project's Python files (tasks, hooks, filters) as modules of their own.

A file of an installed package (``packages:`` in the settings) is imported by its dotted name, so the
package's own imports work; any other file under a unique module name derived from its path, so two
projects' ``tasks/net.py`` never clash.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nornflow.exceptions import FilterImportError

__all__ = ["filter_functions", "first_parameter", "import_file", "package_of", "register_package"]

#: Installed packages' roots (``packages:`` in the settings): root directory -> package name. Their
#: modules are imported by their dotted names, so a package's own imports (relative ones too) work.
_PACKAGES: dict[Path, str] = {}


def register_package(root: Path, name: str) -> None:
    """Note that ``root`` is the directory of the installed package ``name``."""
    _PACKAGES[Path(root).resolve()] = name


def package_of(path: Path) -> tuple[str, str] | None:
    """``(package, dotted module name)`` of a file inside a registered package, else None."""
    resolved = Path(path).resolve()
    for root, name in _PACKAGES.items():
        try:
            parts = resolved.relative_to(root).with_suffix("").parts
        except ValueError:
            continue
        return name, ".".join((name, *parts))
    return None


def import_file(path: Path, namespace: str) -> Any:
    """Import a Python file as a uniquely named module (a package's file by its dotted name); any
    failure becomes an ImportError."""
    inside = package_of(path)
    if inside is not None:
        return importlib.import_module(inside[1])
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"{namespace}.{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


#: Filter modules imported so far: (namespace, resolved path) -> {name: function}; each file runs once.
_FILTER_MODULES: dict[tuple[str, str], dict[str, Callable[..., Any]]] = {}


def filter_functions(path: Path, namespace: str, what: str) -> dict[str, Callable[..., Any]]:
    """The public functions a filter file (``what``: "Jinja2 filter module", ...) defines, importing it
    once; a file that fails to import (or exits) is a FilterImportError naming it."""
    key = (namespace, str(path.resolve()))
    found = _FILTER_MODULES.get(key)
    if found is not None:
        return found
    try:
        module = import_file(path, namespace)
    except Exception as exc:
        raise FilterImportError(f"cannot import {what}: {type(exc).__name__}: {exc}", file=str(path)) from exc
    except SystemExit as exc:
        raise FilterImportError(f"{what} called exit({exc.code})", file=str(path)) from None
    found = {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and inspect.isfunction(obj)
        and getattr(obj, "__module__", None) == module.__name__
    }
    _FILTER_MODULES[key] = found
    return found


def first_parameter(obj: Any) -> inspect.Parameter | None:
    """The first positional parameter of a plain function (how tasks and inventory filters are told
    apart from helpers), or None when ``obj`` is not a function or has none."""
    if not inspect.isfunction(obj):
        return None
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return None
    return params[0]
