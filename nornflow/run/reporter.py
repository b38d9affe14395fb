"""What a run tells the outside world as it goes: the :class:`Reporter` (the CLI's console implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nornflow.models.task import TaskModel
    from nornflow.models.workflow import WorkflowModel
    from nornflow.run.results import TaskResult, WorkflowResult

__all__ = ["Reporter"]


class Reporter:
    """Receives run events. Every method is optional (the defaults do nothing).

    ``host_completed`` is called from worker threads and only when ``per_host`` is true, so a reporter
    that only needs task-level events costs nothing per host. A progress display does not need it
    either: ``task_running`` hands over the task's live result to poll.
    """

    per_host: bool = False

    def workflow_started(self, workflow: WorkflowModel, hosts: Sequence[str]) -> None:
        """The run begins on ``hosts`` (after validation and filtering)."""

    def task_started(self, task: TaskModel, index: int, hosts: int) -> None:
        """Task number ``index`` starts on ``hosts`` active hosts."""

    def task_running(self, task: TaskModel, result: TaskResult) -> None:
        """The task's hosts start; ``result`` fills in as they finish (``result.pending()`` counts
        down), so a display can poll it at its own pace instead of taking an event per host."""

    def host_completed(self, task: TaskModel, host: str, code: int) -> None:
        """One host finished a task (``code`` is a ``nornflow._hotpath`` status code)."""

    def task_completed(self, task: TaskModel, result: TaskResult) -> None:
        """A task finished on every host."""

    def notice(self, message: str) -> None:
        """Something the operator should know (fail-fast stop, interrupt, a processor that failed)."""

    def workflow_completed(self, result: WorkflowResult) -> None:
        """The run is over (also after an interrupt)."""
