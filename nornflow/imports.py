"""Importing the project's Python files (tasks, hooks, filters) as modules of their own.

A file of an installed package (``packages:`` in the settings) is imported by its dotted name, so the
package's own imports work; any other file under a unique module name derived from its path, so two
projects' ``tasks/net.py`` never clash.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["import_file", "package_of", "register_package"]

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
