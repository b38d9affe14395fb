"""Build script: declares the optional compiled hot path ``nornflow._hotpath_c``.

Everything else is in pyproject.toml. Without Cython or a C compiler, or with NORNFLOW_NO_EXTENSIONS=1,
the install still succeeds and nornflow runs on its pure-Python twin; it says so on stderr.
NORNFLOW_REQUIRE_EXTENSIONS=1 turns a failed build into a failed install (CI uses it).
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

_TRUE = {"1", "true", "yes", "on", "y", "t"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _say(message: str) -> None:
    sys.stderr.write(f"nornflow: {message}\n")


def _have_cython() -> bool:
    try:
        import Cython  # noqa: F401  (setuptools' build_ext cythonizes .pyx sources when it is present)
    except ImportError:
        return False
    return True


class OptionalBuildExt(build_ext):
    """Build the extension, but fall back to pure Python on failure unless extensions are required."""

    def run(self) -> None:
        if self.extensions and not _have_cython():
            if _flag("NORNFLOW_REQUIRE_EXTENSIONS"):
                raise RuntimeError("NORNFLOW_REQUIRE_EXTENSIONS is set but Cython is not available")
            _say("Cython is not available; installing the pure-Python implementation")
            return
        try:
            super().run()
        except Exception as exc:
            self._fallback(exc)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc)

    def _fallback(self, exc: BaseException) -> None:
        if _flag("NORNFLOW_REQUIRE_EXTENSIONS"):
            raise exc
        _say(f"compiled hot path not built ({exc}); installing the pure-Python implementation")


def _extensions() -> list:
    if _flag("NORNFLOW_NO_EXTENSIONS"):
        _say("NORNFLOW_NO_EXTENSIONS is set; installing the pure-Python implementation")
        return []
    from setuptools import Extension

    # Always declared (even without Cython, so the sdist carries csrc/); build_ext decides whether it
    # can be built. Compiler directives (language_level=3, embedsignature=True) are in the .pyx header.
    return [Extension("nornflow._hotpath_c", ["csrc/_hotpath_c.pyx"], extra_compile_args=["-O3"])]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
