"""Build script: declares the optional compiled hot path ``nornflow._hotpath_c``.

Everything else is in pyproject.toml; the PEP 517 backend (build_backend/nornflow_build.py) asks for
Cython only when the extension is wanted. Without Cython or a C compiler, or with NORNFLOW_NO_EXTENSIONS=1,
the install still succeeds and nornflow runs on its pure-Python twin; it says so on stderr.
NORNFLOW_REQUIRE_EXTENSIONS=1 turns a failed build into a failed install (CI uses it).

The wheels are per CPython version (``cp3XX-cp3XX``): a Limited API (abi3) build of an earlier hot path
was 1.4x to 2.8x slower (README, "Install"), and the hot path now uses C-API calls the Limited API
does not have (direct list/tuple/dict access, arrays), so there is no abi3 build.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"", "0", "false", "no", "off", "n", "f"}


def _flag(name: str, default: bool = False) -> bool:
    """A true/false environment word (as nornflow._envflags reads them); anything else is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise SystemExit(f"nornflow: environment variable {name}={raw!r} is not a boolean (use 1/0)")


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

    def build_extensions(self) -> None:
        # Flags in the compiler's own dialect: optimise, and make a call of an undeclared C function a
        # build error rather than a module that cannot load.
        msvc = self.compiler.compiler_type == "msvc"
        for ext in self.extensions:
            flags = ["/O2", "/we4013"] if msvc else ["-O3", "-Werror=implicit-function-declaration"]
            ext.extra_compile_args = [*flags, *ext.extra_compile_args]
        super().build_extensions()

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
    """The extension modules (none for a pure build)."""
    if _flag("NORNFLOW_NO_EXTENSIONS"):
        _say("NORNFLOW_NO_EXTENSIONS is set; installing the pure-Python implementation")
        return []
    from setuptools import Extension

    # Always declared (even without Cython, so the sdist carries csrc/); build_ext decides whether it
    # can be built. Compiler directives (language_level=3, embedsignature=True) are in the .pyx header.
    return [Extension("nornflow._hotpath_c", ["csrc/_hotpath_c.pyx"])]


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
