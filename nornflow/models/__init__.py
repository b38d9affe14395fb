"""Pydantic models: the runnable base with hooks, tasks and workflows."""

from nornflow.models.runnable import RunnableModel
from nornflow.models.task import TaskModel
from nornflow.models.workflow import FailureStrategy, WorkflowModel

__all__ = ["FailureStrategy", "RunnableModel", "TaskModel", "WorkflowModel"]
