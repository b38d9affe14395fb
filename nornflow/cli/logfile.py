"""The log file of a ``nornflow run`` (settings ``log_dir``/``log_level``; NornFlow 1.0: ``logger``).

Each run writes ``<log_dir>/<workflow>_<YYYYmmdd_HHMMSS>.log``: what nornflow, Nornir and the tasks log
at ``log_level`` or above, plus the run's own record (what ran on how many hosts, each task's counts,
every failure with its host and error, the exit code), secrets masked as on the console. Without
``log_dir`` nothing is written; the library itself never adds handlers (only the CLI does).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from nornflow.secrets import SecretMaskingFilter

if TYPE_CHECKING:
    from nornflow.cli.masking import Masker
    from nornflow.run.results import WorkflowResult
    from nornflow.settings import Settings

__all__ = ["RunLog", "log_to_file"]

log = logging.getLogger("nornflow.run")


class RunLog:
    """The run's own records in the log file (a no-op without a file)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path

    def started(self, target: str, hosts: int) -> None:
        """A run begins: what and on how many hosts."""
        if self.path is not None:
            log.info("run %s on %d host(s)", target, hosts)

    def finished(self, result: WorkflowResult) -> None:
        """Each task's counts, every failure with its host and error, and the exit code."""
        if self.path is None:
            return
        for task in result.tasks:
            counts = ", ".join(f"{k} {v}" for k, v in task.counts().items() if v)
            log.info("task %s: %s (%.2fs)", task.name, counts or "no host", task.duration or 0.0)
            for host in task:
                if host.error is not None and host.status == "failed":
                    hook = f" [hook {host.error.hook}]" if host.error.hook else ""
                    log.error("task %s, host %s%s: %s", task.name, host.host, hook, host.error.message)
        log.info("exit code %d after %.2fs", result.exit_code, result.duration or 0.0)

    def failed(self, error: BaseException) -> None:
        """The run did not start or broke: the error, as the console shows it."""
        if self.path is not None:
            log.error("%s", error)


@contextlib.contextmanager
def log_to_file(settings: Settings, target: str, masker: Masker) -> Iterator[RunLog]:
    """Log the run to a file of ``settings.log_dir`` (none without it), masked unless secrets are shown."""
    if not settings.log_dir:
        yield RunLog()
        return
    directory = settings.resolve(settings.log_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", Path(target).stem).strip("._")[:80] or "run"
    path = directory / f"{stem}_{time.strftime('%Y%m%d_%H%M%S')}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    level = logging.getLevelName(settings.log_level)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if masker.enabled:
        handler.addFilter(SecretMaskingFilter(masker.registry))
    root = logging.getLogger()
    before = root.level
    root.setLevel(min(before or logging.WARNING, level))  # the stderr handler keeps its own threshold
    root.addHandler(handler)
    try:
        yield RunLog(path)
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
        handler.close()
