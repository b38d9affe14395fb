"""Read boolean environment flags as true/false words, so ``=0`` means off (not "set, so on")."""

from __future__ import annotations

import os

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"", "0", "false", "no", "off", "n", "f"})


def env_flag(name: str, default: bool = False) -> bool:
    """Return the boolean value of environment variable ``name``; unset means ``default``.

    Raises ``ValueError`` naming the variable for a value that is neither a true nor a false word.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={raw!r} is not a boolean; use one of 1/true/yes/on or 0/false/no/off"
    )
