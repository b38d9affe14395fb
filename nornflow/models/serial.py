"""Rolling batches: ``serial`` (a number, a percentage, or a list of them) split the hosts into batches.

``serial: 2`` runs 2 hosts at a time; ``serial: "25%"`` a quarter of them; ``serial: [1, "10%", "100%"]``
a canary, then waves (the last size repeats until every host ran). Each batch runs every task before
the next batch starts. A percentage rounds down, but a batch has at least one host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["batch_sizes", "parse_serial", "parse_serial_text"]

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def _step(value: Any) -> int | float:
    """One size: an int >= 1 (hosts) or a float in (0, 100] (percent, from ``"N%"``)."""
    if isinstance(value, bool):
        raise ValueError(f"a batch size is a number of hosts or a percentage like '10%', got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"a batch size must be >= 1 host, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _step(int(text))
        match = _PERCENT.match(text)
        if match:
            percent = float(match.group(1))
            if not 0 < percent <= 100:
                raise ValueError(f"a batch percentage must be in (0%, 100%], got {value!r}")
            return percent
    raise ValueError(f"a batch size is a number of hosts or a percentage like '10%', got {value!r}")


def parse_serial(value: Any) -> tuple[int | float, ...] | None:
    """``serial`` as sizes: ints are host counts, floats percentages; None (no batches) stays None."""
    if value is None:
        return None
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError("serial must not be an empty list")
    return tuple(_step(item) for item in items)


def parse_serial_text(text: str) -> tuple[int | float, ...]:
    """``--serial 1,10%,100%``: comma-separated sizes."""
    parsed = parse_serial([part for part in text.split(",") if part.strip()] or [text])
    assert parsed is not None
    return parsed


def batch_sizes(sizes: Sequence[int | float], total: int) -> list[int]:
    """The batch sizes for ``total`` hosts: each size in turn, the last one repeating."""
    out: list[int] = []
    done = 0
    k = 0
    while done < total:
        size = sizes[min(k, len(sizes) - 1)]
        n = size if isinstance(size, int) else max(1, int(total * size / 100))
        n = min(n, total - done)
        out.append(n)
        done += n
        k += 1
    return out
