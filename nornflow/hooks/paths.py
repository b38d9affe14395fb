"""Tiny path language for reaching into a task result: ``result.items[0].name``, ``failed``.

A path is a root name followed by ``.key``, ``[index]`` or ``['key']`` steps. A ``.key`` step is any
run of characters but ``.``, brackets, quotes and spaces (``.%usage``, ``.Management1``); a digits-only
``.0`` step indexes a list, or reads the key ``0`` (or ``"0"``) of a mapping, as NornFlow 1.0's
``store_as`` paths do (``environment.cpu.0.%usage``). Paths are parsed once (when the hook is
validated) and resolved per host; a step that does not exist is a clear error that names the path,
the step and what was there instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PathError", "parse_path", "resolve_path"]

_STEP = re.compile(
    r"""\.(?P<attr>[^.\[\]'"\s]+)              # .name, .%usage, .0
      | \[\s*(?P<index>-?\d+)\s*\]             # [0]
      | \[\s*(?P<q>['"])(?P<key>.*?)(?P=q)\s*\]  # ['key'] or ["key"]
    """,
    re.VERBOSE,
)
_ROOT = re.compile(r"""[^.\[\]'"\s\d][^.\[\]'"\s]*""")


class PathError(ValueError):
    """A path is malformed, or a step of it does not exist in the value."""


def parse_path(path: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """Split ``path`` into its root and its steps; raise :class:`PathError` if malformed."""
    if not isinstance(path, str) or not path.strip():
        raise PathError(f"path must be a non-empty string, got {path!r}")
    text = path.strip()
    root = _ROOT.match(text)
    if root is None:
        raise PathError(f"path {path!r} must start with a name")
    steps: list[tuple[str, Any]] = []
    pos = root.end()
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            raise PathError(f"path {path!r}: cannot parse {text[pos:]!r} (use .name, [0] or ['key'])")
        if m.group("attr") is not None:
            steps.append(("key", m.group("attr")))
        elif m.group("index") is not None:
            steps.append(("index", int(m.group("index"))))
        else:
            steps.append(("key", m.group("key")))
        pos = m.end()
    return root.group(0), tuple(steps)


def resolve_path(value: Any, steps: tuple[tuple[str, Any], ...], path: str) -> Any:
    """Follow ``steps`` into ``value``; raise :class:`PathError` naming the missing step."""
    current = value
    for kind, step in steps:
        if kind == "index":
            if isinstance(current, Sequence) and not isinstance(current, (str, bytes)):
                try:
                    current = current[step]
                    continue
                except IndexError:
                    raise PathError(
                        f"path {path!r}: index [{step}] out of range (length {len(current)})"
                    ) from None
            if isinstance(current, Mapping) and step in current:
                current = current[step]
                continue
            raise PathError(f"path {path!r}: cannot index {type(current).__name__} with [{step}]")
        if isinstance(current, Mapping):
            if step in current:
                current = current[step]
                continue
            if step.isdigit() and int(step) in current:
                current = current[int(step)]
                continue
            keys = ", ".join(map(str, list(current)[:10]))
            raise PathError(f"path {path!r}: key {step!r} not found (keys: {keys or 'none'})")
        if step.isdigit() and isinstance(current, Sequence) and not isinstance(current, (str, bytes)):
            try:
                current = current[int(step)]
                continue
            except IndexError:
                raise PathError(
                    f"path {path!r}: index .{step} out of range (length {len(current)})"
                ) from None
        if hasattr(current, step) and not step.startswith("_"):
            current = getattr(current, step)
            continue
        raise PathError(f"path {path!r}: {type(current).__name__} has no key or attribute {step!r}")
    return current
