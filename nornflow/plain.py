"""Any value as plain JSON data, so every result a task returns can be printed and serialised.

A task may return what JSON cannot hold: mappings with tuple keys, cycles, nesting thousands of levels
deep, objects whose ``str()`` raises, NaN and infinities, integers too long to print. :func:`plain`
turns any of them into data of ``dict`` (string keys), ``list``, ``str``, ``int``, finite ``float``,
``bool`` and ``None``; whatever cannot be represented becomes a marked string (``"<cycle>"``,
``"<nested deeper than 100 levels>"``, ``"<unprintable Foo: str() raised ValueError>"``), and NaN and
the infinities become ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. Output code calls it on every
payload before masking, printing or ``json.dumps``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["CYCLE", "MAX_DEPTH", "plain", "safe_repr", "safe_text"]

#: Containers nested deeper than this are cut, with a marker in their place.
MAX_DEPTH = 100
#: What a container that contains itself shows where it reappears.
CYCLE = "<cycle>"
#: Integers longer than this many bits print as a marker (Python refuses to print ~14,000+ bits).
_MAX_INT_BITS = 4000 * 3

_ATOMS = (str, bool, type(None))
_FLOAT_WORDS = {math.inf: "Infinity", -math.inf: "-Infinity"}


def safe_text(value: Any) -> str:
    """``str(value)``, or a marker naming the type when ``str()`` (and ``repr()``) raises."""
    if isinstance(value, str):
        return str.__str__(value)
    try:
        return str(value)
    except Exception as exc:
        return f"<unprintable {type(value).__name__}: str() raised {type(exc).__name__}>"


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a marker naming the type when ``repr()`` raises (or recurses too deep)."""
    try:
        return repr(value)
    except Exception as exc:
        return f"<unprintable {type(value).__name__}: repr() raised {type(exc).__name__}>"


def plain(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` as JSON-safe data (see the module); never raises for any input."""
    return _plain(value, max_depth, set(), f"<nested deeper than {max_depth} levels>")


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        bits = value.bit_length()
        return int(value) if bits <= _MAX_INT_BITS else f"<integer of {bits} bits>"
    if math.isnan(value):
        return "NaN"
    return _FLOAT_WORDS.get(value, float(value))


def _key(key: Any) -> str:
    """A mapping key as JSON's object keys are: a string (numbers and words as json spells them)."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int | float):
        number = _number(key)
        return number if isinstance(number, str) else repr(number)
    return safe_text(key)


_FLAT = frozenset({str, bool, type(None)})
_INT_LIMIT = 1 << 63


def _flat(value: dict[Any, Any] | list[Any]) -> bool:
    """Whether a dict (string keys) or list holds only strings, booleans, None and ordinary ints:
    plain already, the common case of a task's result, returned without a copy."""
    items = value.values() if type(value) is dict else value
    if type(value) is dict and not all(type(k) is str for k in value):
        return False
    for item in items:
        kind = type(item)
        if kind not in _FLAT and not (kind is int and -_INT_LIMIT < item < _INT_LIMIT):
            return False
    return True


def _plain(value: Any, depth: int, path: set[int], too_deep: str) -> Any:
    """Recursive worker: ``depth`` levels of containers left (``too_deep`` marks where they end);
    ``path`` holds the ids of the containers being converted (a value seen again on its own path is
    a cycle; one shared by two branches is not, and shows in both)."""
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, bytes | bytearray):
        return safe_text(value)
    is_mapping = isinstance(value, Mapping) or (
        not isinstance(value, list | tuple | set | frozenset) and callable(getattr(value, "items", None))
    )
    if not is_mapping and not isinstance(value, list | tuple | set | frozenset):
        return safe_text(value)
    if id(value) in path:
        return CYCLE
    if depth <= 0:
        return too_deep
    if (type(value) is dict or type(value) is list) and _flat(value):
        return value
    path.add(id(value))
    try:
        if is_mapping:
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = _key(key)
                if name in out:  # 1 and "1", or two objects printing alike: keep both
                    n = 2
                    while f"{name} ({n})" in out:
                        n += 1
                    name = f"{name} ({n})"
                out[name] = _plain(item, depth - 1, path, too_deep)
            return out
        items = list(value)
        if isinstance(value, set | frozenset):
            with contextlib.suppress(Exception):  # mixed types: the set's own order
                items.sort()
        return [_plain(item, depth - 1, path, too_deep) for item in items]
    except Exception as exc:  # a container whose iteration raises
        return f"<unprintable {type(value).__name__}: {type(exc).__name__} while reading it>"
    finally:
        path.discard(id(value))
