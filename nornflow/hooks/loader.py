"""Import the project's hook modules so their ``@register_hook`` classes are registered."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nornflow.exceptions import HookImportError, HookRegistrationError
from nornflow.imports import import_file

__all__ = ["load_hook_dirs"]

_LOADED: dict[str, object] = {}


def load_hook_dirs(directories: Iterable[str | Path]) -> list[Path]:
    """Import every ``.py`` file in the hook dirs (once per file per process); return the files.

    A module that fails to import, or whose hooks cannot be registered, is an error naming the file.
    """
    loaded: list[Path] = []
    for directory in directories:
        directory = Path(directory)
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*.py")):
            if path.name.startswith("_") or any(p.startswith(".") for p in path.relative_to(directory).parts):
                continue
            key = str(path.resolve())
            if key not in _LOADED:
                try:
                    _LOADED[key] = import_file(path, "nornflow_project_hooks")
                except HookRegistrationError as exc:
                    raise HookImportError(exc.message, file=str(path)) from exc
                except Exception as exc:
                    raise HookImportError(
                        f"cannot import hook module: {type(exc).__name__}: {exc}", file=str(path)
                    ) from exc
                except SystemExit as exc:
                    raise HookImportError(f"hook module called exit({exc.code})", file=str(path)) from None
            loaded.append(path)
    return loaded
