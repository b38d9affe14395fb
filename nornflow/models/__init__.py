"""Pydantic models: the runnable base with hooks, tasks and workflows."""

from nornflow.models.runnable import RunnableModel
from nornflow.models.task import TaskModel
from nornflow.models.workflow import WorkflowModel

__all__ = ["RunnableModel", "TaskModel", "WorkflowModel"]
