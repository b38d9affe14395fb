"""The outcome observer: what the driver and executors tell a run's journal as host-tasks finish.

A small interface so that any executor can feed the journal: the local executor binds its per-host
step (:meth:`OutcomeObserver.bind_step`: two byte stores per host, see ``docs/journal.md``), and an
executor that merges results from elsewhere (the Dask executor's driver-side merge) calls
:meth:`OutcomeObserver.hosts_done` with the positions it just filled. The driver calls the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nornflow.run.results import TaskResult, WorkflowResult

__all__ = ["OutcomeObserver"]


class OutcomeObserver(Protocol):
    """Receives every host-task outcome of a run, as it is settled (a run journal implements it)."""

    def task_started(self, index: int, result: TaskResult, positions: Sequence[int] | None) -> None:
        """Task ``index`` starts on ``positions`` (``None``: every host); ``result`` fills in."""

    def bind_step(self, index: int, result: TaskResult, step: Any) -> None:
        """The local executor's per-host step of task ``index``, before its fan-out: the observer
        may give it state bytes (``marks``), a results check (``track_results``) and an
        ``on_done`` callback (called from worker threads)."""

    def hosts_done(
        self,
        index: int,
        result: TaskResult,
        positions: Sequence[int],
        variables: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """The columns of ``positions`` in ``result`` are final (an executor merged them), with the
        runtime variables of those hosts by name when the executor has them."""

    def task_completed(self, index: int, result: TaskResult) -> None:
        """Task ``index`` is over: every column is final; the observer makes it durable."""

    def run_completed(self, result: WorkflowResult) -> None:
        """The run is over (also after an interrupt); the last call."""
