"""Deep-freeze YAML values so they can key the hook-instance cache and never change under a run.

Mappings become :class:`FrozenDict`, lists and tuples :class:`FrozenList` (a tuple), sets ``frozenset``,
recursively. Equality of the frozen containers is type-strict for scalars (``True`` is not ``1``), so
two hook values that YAML tells apart never share a cached instance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["FrozenDict", "FrozenList", "freeze", "strict_equal", "thaw"]


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that also requires scalars to have the same type (``1 != True``, ``1 != 1.0``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, FrozenList):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, FrozenDict):
        return a._data.keys() == b._data.keys() and all(strict_equal(v, b._data[k]) for k, v in a.items())
    return bool(a == b)


class FrozenList(tuple):
    """An immutable list from YAML: a tuple whose equality with another FrozenList is type-strict."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is FrozenList:
            return strict_equal(self, other)
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return repr(list(self))


class FrozenDict(Mapping[Any, Any]):
    """A read-only, hashable mapping; equality with another FrozenDict is type-strict."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[Any, Any] | None = None) -> None:
        self._data: dict[Any, Any] = dict(data) if data else {}
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if type(other) is FrozenDict:
            return strict_equal(self, other)
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (self._data,))


def freeze(value: Any, *, _depth: int = 0) -> Any:
    """Return a deep, hashable, read-only copy of ``value``.

    Raises ``TypeError`` (naming the offending type and where it sits) for a value that is still
    unhashable after freezing, e.g. an arbitrary mutable object passed from Python.
    """
    if _depth > 500:
        raise TypeError("value is nested more than 500 levels deep")
    if value is None or isinstance(value, (str, bool, int, float, bytes, FrozenList, FrozenDict)):
        return value
    if isinstance(value, Mapping):
        frozen = {}
        for key, item in value.items():
            key = freeze(key, _depth=_depth + 1)
            try:
                frozen[key] = freeze(item, _depth=_depth + 1)
            except TypeError as exc:
                raise TypeError(f"at key {key!r}: {exc}") from None
        return FrozenDict(frozen)
    if isinstance(value, (list, tuple)):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(freeze(item, _depth=_depth + 1))
            except TypeError as exc:
                raise TypeError(f"at index {index}: {exc}") from None
        return FrozenList(items)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(item, _depth=_depth + 1) for item in value)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"value of type {type(value).__name__} is not hashable and cannot be frozen"
        ) from None
    return value


def thaw(value: Any) -> Any:
    """Return plain, mutable Python containers for a frozen value (what tasks and templates get)."""
    if isinstance(value, FrozenDict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, FrozenList):
        return [thaw(item) for item in value]
    if isinstance(value, frozenset):
        return {thaw(item) for item in value}
    return value
