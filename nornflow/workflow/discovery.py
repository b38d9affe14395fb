"""The workflows of a project's workflow dirs, by the name ``nornflow run`` takes, and typo hints.

A workflow's name is its path relative to its workflow dir without ``.yaml``/``.yml``: ``backup`` for
``workflows/backup.yaml``, ``site_a/backup`` for ``workflows/site_a/backup.yaml``. So two files called
``backup.yaml`` in different folders are two workflows, each runnable by its own name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WorkflowFile", "closest", "workflow_files"]

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class WorkflowFile:
    """One workflow file: the name to run it by, its path, the workflow dir it was found in, and the
    file that ``nornflow run NAME`` picks instead when an earlier workflow dir has the same name."""

    name: str
    path: Path
    directory: Path
    shadowed_by: Path | None = None


def workflow_files(directories: Iterable[Path], *, shadowed: bool = False) -> list[WorkflowFile]:
    """Every workflow file under ``directories`` (hidden folders left out), sorted by name. A name
    found in two workflow dirs runs the first dir's file; the others are listed only with
    ``shadowed`` (each naming the file that wins)."""
    found: dict[str, WorkflowFile] = {}
    hidden: list[WorkflowFile] = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(p for p in directory.rglob("*") if p.suffix in _SUFFIXES and p.is_file()):
            relative = path.relative_to(directory)
            if any(part.startswith(".") for part in relative.parts):
                continue
            name = relative.with_suffix("").as_posix()
            first = found.get(name)
            if first is None:
                found[name] = WorkflowFile(name, path, directory)
            else:
                hidden.append(WorkflowFile(name, path, directory, shadowed_by=first.path))
    listed = [*found.values(), *(hidden if shadowed else [])]
    return sorted(listed, key=lambda w: (w.name, w.shadowed_by is not None))


def closest(name: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The candidates closest to ``name`` (a typo's "did you mean"); a nested workflow also matches
    by its last part (``backup`` -> ``site_a/backup``)."""
    pool = list(dict.fromkeys(candidates))
    by_tail = [c for c in pool if "/" in c and c.rsplit("/", 1)[1] == name]
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    if not close:
        tails = {c.rsplit("/", 1)[1]: c for c in pool if "/" in c}
        close = [tails[t] for t in difflib.get_close_matches(name, list(tails), n=n, cutoff=0.6)]
    return list(dict.fromkeys(by_tail + close))[: max(n, len(by_tail))]
