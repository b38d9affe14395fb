"""What the built-in hooks share: true/false words, and hooks that are two spellings of one hook.

NornFlow 1.0 wrote several of nornflow's hooks another way (``store_as`` for ``set_to``, ``shush`` for
``output: false``, ``single`` for ``run_once``). Both spellings are registered hooks of their own
(subclasses sharing the behaviour); a task that uses both spellings of one hook is refused.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "flag", "two_spellings"]

#: Strings read as true (any case, spaces around ignored): NornFlow 1.0's list.
TRUE_WORDS = frozenset({"true", "yes", "on", "1", "y", "t", "enabled"})
#: Strings read as false.
FALSE_WORDS = frozenset({"false", "no", "off", "0", "n", "f", "disabled", ""})


def flag(value: Any, what: str = "value") -> bool:
    """``value`` as true or false: a bool, or one of the true/false words; anything else is a
    ``ValueError`` naming the value (a typo such as ``"ture"`` must not quietly mean false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError(
        f"{what} must be true or false (or one of the words {', '.join(sorted(TRUE_WORDS - {''}))} / "
        f"{', '.join(sorted(FALSE_WORDS - {''}))}), got {value!r}"
    )


def two_spellings(task_model: Any, mine: str, other: str) -> tuple[bool, str]:
    """``validate_task_compatibility`` of a hook spelled ``mine`` whose other spelling is ``other``:
    a task takes one of them."""
    hooks = getattr(task_model, "hooks", None) or {}
    if mine in hooks and other in hooks:
        return (False, f"{other!r} and {mine!r} are two spellings of the same hook; use one of them")
    return (True, "")
