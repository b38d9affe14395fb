"""What crosses between the driver and a shard: plain data only (no Nornir object, no connection).

A batch of finished hosts travels column-wise, as the results are stored: their positions, status
codes and durations as bytes, their payloads as a list, and the sparse columns (errors, diffs, skip
reasons, wrapper detail) as small dicts. Payloads and variables are made plain first, the way
``--json`` prints them, so nothing a worker cannot import reaches the driver.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nornflow.run.results import ErrorInfo, TaskResult

__all__ = ["Batch", "batch_positions", "merge_batch", "pack_batch", "plain"]

#: one batch of rows: {"at": positions (uint32 bytes) or None for all, "codes", "durations", ...};
#: in a journaled run also "vars": per row, the variables the task may set (a dict) or None
Batch = dict[str, Any]

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


def _error(info: ErrorInfo) -> tuple[Any, ...]:
    return (info.type, info.message, info.hook, info.traceback, info.ignored)


def pack_batch(result: TaskResult, indices: Sequence[int] | None) -> Batch:
    """The rows of the hosts at ``indices`` of a shard's task result (None: every host)."""
    every = indices is None
    at = range(len(result.codes)) if indices is None else indices
    wanted = None if every else set(at)

    def sparse(column: dict[int, Any], convert: Callable[[Any], Any]) -> dict[int, Any]:
        items = column.items() if wanted is None else ((i, v) for i, v in column.items() if i in wanted)
        return {i: convert(v) for i, v in items}

    codes, durations, payloads = result.codes, result.durations, result.payloads
    return {
        "at": None if every else array("I", at).tobytes(),
        "codes": bytes(codes) if every else bytes(codes[i] for i in at),
        "durations": durations.tobytes() if every else array("d", (durations[i] for i in at)).tobytes(),
        "payloads": [plain(payloads[i]) for i in at],
        "errors": sparse(result.errors, _error),
        "diffs": sparse(result.diffs, str),
        "skips": sparse(result.skip_reasons, str),
        "extras": sparse(result.extras, plain),
    }


def batch_positions(batch: Batch, offset: int) -> Sequence[int]:
    """The run's positions of a shard's batch rows (its hosts start at ``offset``), in row order."""
    if batch["at"] is None:
        return range(offset, offset + len(batch["codes"]))
    positions = array("I")
    positions.frombytes(batch["at"])
    return [offset + i for i in positions]


def merge_batch(
    result: TaskResult, offset: int, batch: Batch, on_row: Callable[[int, int], None] | None = None
) -> None:
    """Write a shard's batch into the run's task result (its hosts start at ``offset``); ``on_row``
    gets each host's position and code, after its columns are set."""
    codes = batch["codes"]
    durations = array("d")
    durations.frombytes(batch["durations"])
    n = len(codes)
    if batch["at"] is None:
        at: Sequence[int] = range(n)
        result.payloads[offset : offset + n] = batch["payloads"]
        result.durations[offset : offset + n] = durations
    else:
        positions = array("I")
        positions.frombytes(batch["at"])
        at = positions
        for i, payload, duration in zip(at, batch["payloads"], durations, strict=True):
            result.payloads[offset + i] = payload
            result.durations[offset + i] = duration
    sparse = (
        ("errors", result.errors),
        ("diffs", result.diffs),
        ("skips", result.skip_reasons),
        ("extras", result.extras),
    )
    for key, column in sparse:
        if batch.get("rewrite"):  # a re-sent outcome (once-per-task post-hooks): drop what it had
            for i in at:
                column.pop(offset + i, None)
        values = batch[key]
        if values:
            if key == "errors":
                column.update({offset + i: ErrorInfo(*e) for i, e in values.items()})
            else:
                column.update({offset + i: v for i, v in values.items()})
    # codes last: a progress reader counts a host once its columns are set
    if batch["at"] is None:
        result.codes[offset : offset + n] = codes
    else:
        for i, code in zip(at, codes, strict=True):
            result.codes[offset + i] = code
    if on_row is not None:
        for i, code in zip(at, codes, strict=True):
            on_row(offset + i, code)
