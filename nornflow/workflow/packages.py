"""Packages: installed Python packages whose tasks, hooks, filters, blueprints and workflows load with
the project's own (``packages:`` in ``nornflow.yaml``, as in NornFlow 1.0).

A package holds its resources in folders named after their kind at its root: ``tasks/``, ``hooks/``,
``filters/`` (inventory filter functions), ``j2_filters/``, ``blueprints/``, ``workflows/`` and
``processors/``. Each folder found is added after the project's own folders of that kind; Python
modules are imported by their dotted names (``acme.tasks.backup``), so a package's own imports work.
``include`` limits the kinds taken from a package; a kind it names that the package lacks is a
warning. ``processors/`` needs no loading: processors are named by their dotted class path.

nornflow never installs a package: one that cannot be imported is an error naming it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nornflow.exceptions import SettingsError
from nornflow.imports import register_package
from nornflow.settings import RESOURCE_KINDS, SETTINGS_KEYS, PackageSpec, Settings

__all__ = ["PackageDir", "package_dirs", "with_packages"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageDir:
    """One resource folder of a package."""

    package: str
    kind: str
    path: Path


def package_dirs(specs: Sequence[PackageSpec], *, source: str | None = None) -> list[PackageDir]:
    """Import each package and list its resource folders; an import failure names the package."""
    found: list[PackageDir] = []
    for n, spec in enumerate(specs):
        try:
            module = importlib.import_module(spec.name)
        except Exception as exc:
            raise SettingsError(
                f"cannot import package {spec.name!r} ({type(exc).__name__}: {exc}); nornflow does not "
                "install packages: pip install it, or remove it from packages",
                file=source,
                key=f"packages[{n}].name",
            ) from None
        init = getattr(module, "__file__", None)
        if not init:
            log.warning(
                "package %r is a namespace package (no __init__.py): nothing loaded from it", spec.name
            )
            continue
        root = Path(init).parent
        register_package(root, spec.name)
        wanted = spec.include if spec.include is not None else RESOURCE_KINDS
        for kind in wanted:
            folder = root / kind
            if folder.is_dir():
                found.append(PackageDir(spec.name, kind, folder))
            elif spec.include is not None:
                log.warning("package %r has no %s/ folder, though include names %s", spec.name, kind, kind)
        if spec.include is None and not any(d.package == spec.name for d in found):
            log.warning("package %r has none of the folders %s", spec.name, ", ".join(RESOURCE_KINDS))
    return found


def with_packages(settings: Settings) -> Settings:
    """``settings`` with the resource folders of its ``packages`` added after the project's own
    (imports the packages; unchanged without any)."""
    if not settings.packages:
        return settings
    extra: dict[str, list[str]] = {}
    for found in package_dirs(settings.packages, source=settings.source):
        key = SETTINGS_KEYS.get(found.kind)
        if key is not None:
            extra.setdefault(key, []).append(str(found.path))
    return settings.with_dirs(extra)
