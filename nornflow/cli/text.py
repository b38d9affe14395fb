"""Text made safe for the terminal: control characters shown as escapes, rich markup escaped.

Device output, host names, task names and error messages come from outside: a ``\\x1b[2J`` in a
``show`` output would clear the operator's screen, an OSC sequence would retitle the terminal, and a
``\\r`` would overwrite a failure line with an innocent one. Everything the CLI prints goes through
:func:`printable` (or :func:`markup`, which also escapes rich markup) first: C0 and C1 control
characters and DEL become visible escapes (``\\x1b``, ``\\r``), except newlines and tabs in multi-line
blocks, where the layout needs them.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape

__all__ = ["markup", "printable"]

#: every C0 control, DEL and every C1 control
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: the same, less newline and tab (multi-line blocks keep their layout)
_CONTROLS_BLOCK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def printable(text: Any, *, multiline: bool = False) -> str:
    """``text`` (made a string) with every control character shown as an escape (``\\x1b``).

    ``multiline`` keeps newlines and tabs, and reads ``\\r\\n`` line ends (device output) as
    newlines; a lone ``\\r``, which would move the cursor back over what was printed, is escaped.
    """
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():
        return text
    if multiline:
        return _CONTROLS_BLOCK.sub(_visible, text.replace("\r\n", "\n"))
    return _CONTROLS.sub(_visible, text)


def markup(text: Any, *, multiline: bool = False) -> str:
    """``text`` safe inside a rich markup string: control characters escaped, then rich markup."""
    return escape(printable(text, multiline=multiline))
