"""What crosses between the driver and a shard: plain data only (no Nornir object, no connection).

A host's outcome of a task travels as one tuple of its columns (status code, payload, duration,
error, diff, skip reason, wrapper detail); payloads and variables are made plain first, the way
``--json`` would print them, so nothing a worker cannot import reaches the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from nornflow.run.results import ErrorInfo, TaskResult

__all__ = ["Row", "merge_rows", "pack_rows", "plain"]

#: (local index, code, payload, duration, error fields or None, diff, skip reason, extra)
Row = tuple[int, int, Any, float, tuple[Any, ...] | None, str | None, str | None, Any]

_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain data (str/number/bool/None, dicts, lists), as ``--json`` renders it: other
    objects become a dict of their items or their ``str``; too deep a nesting becomes its ``str``."""
    if isinstance(value, _SCALARS):
        return value
    if _depth > 64:
        return str(value)
    if isinstance(value, Mapping):
        return {k if isinstance(k, _SCALARS) else str(k): plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, _depth + 1) for v in value]
    if hasattr(value, "items"):
        try:
            return plain(dict(value.items()), _depth + 1)
        except Exception:
            pass
    return str(value)


def pack_rows(result: TaskResult, indices: Iterable[int]) -> list[Row]:
    """The rows of the hosts at ``indices`` of a shard's task result."""
    rows: list[Row] = []
    errors, diffs, skips, extras = result.errors, result.diffs, result.skip_reasons, result.extras
    for i in indices:
        error = errors.get(i)
        err = (
            None if error is None else (error.type, error.message, error.hook, error.traceback, error.ignored)
        )
        extra = extras.get(i)
        rows.append(
            (
                i,
                result.codes[i],
                plain(result.payloads[i]),
                result.durations[i],
                err,
                diffs.get(i),
                skips.get(i),
                None if extra is None else plain(extra),
            )
        )
    return rows


def merge_rows(
    result: TaskResult,
    offset: int,
    rows: Iterable[Row],
    on_row: Callable[[int, int], None] | None = None,
) -> None:
    """Write a shard's rows into the run's task result (its hosts start at ``offset``); ``on_row``
    gets each host's position and code, after its columns are set."""
    for i, code, payload, duration, err, diff, skip, extra in rows:
        j = offset + i
        result.payloads[j] = payload
        result.durations[j] = duration
        _put(result.errors, j, None if err is None else ErrorInfo(*err))
        _put(result.diffs, j, diff)
        _put(result.skip_reasons, j, skip)
        _put(result.extras, j, extra)
        result.codes[j] = code  # last: a progress reader counts the host once its columns are set
        if on_row is not None:
            on_row(j, code)


def _put(column: dict[int, Any], j: int, value: Any) -> None:
    if value is None:
        column.pop(j, None)
    else:
        column[j] = value
