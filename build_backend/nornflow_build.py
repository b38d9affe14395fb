"""In-tree PEP 517 backend: setuptools' own, except that Cython is requested only when it is used.

pyproject.toml's ``build-system.requires`` names setuptools alone, so a pure build
(``NORNFLOW_NO_EXTENSIONS=1``, giving a ``py3-none-any`` wheel) installs no Cython; a normal build asks
for it through the ``get_requires_for_build_*`` hooks below. setup.py decides everything else.
"""

from __future__ import annotations

import os

from setuptools import build_meta as _setuptools

#: The Cython that compiles csrc/_hotpath_c.pyx (3.1 is the first with full Limited API support).
CYTHON_REQUIREMENT = "Cython>=3.1"

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})

# The hooks this backend does not change are setuptools' own.
build_sdist = _setuptools.build_sdist
build_wheel = _setuptools.build_wheel
build_editable = _setuptools.build_editable
get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist
prepare_metadata_for_build_wheel = _setuptools.prepare_metadata_for_build_wheel
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable


def compiled_hotpath_wanted() -> bool:
    """False when ``NORNFLOW_NO_EXTENSIONS`` is a true word; setup.py rejects words that are neither."""
    return os.environ.get("NORNFLOW_NO_EXTENSIONS", "").strip().lower() not in _TRUE


def _with_cython(requires: list[str]) -> list[str]:
    return [*requires, CYTHON_REQUIREMENT] if compiled_hotpath_wanted() else list(requires)


def get_requires_for_build_wheel(config_settings: dict[str, str | list[str]] | None = None) -> list[str]:
    """setuptools' wheel requirements, plus Cython unless the build is pure Python."""
    return _with_cython(_setuptools.get_requires_for_build_wheel(config_settings))


def get_requires_for_build_editable(config_settings: dict[str, str | list[str]] | None = None) -> list[str]:
    """setuptools' editable-install requirements, plus Cython unless the build is pure Python."""
    return _with_cython(_setuptools.get_requires_for_build_editable(config_settings))
