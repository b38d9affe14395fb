"""``TaskModel``: one task of a workflow (a task name, its args, and its hooks)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from nornflow.models.runnable import RunnableModel

__all__ = ["TaskModel"]


class TaskModel(RunnableModel):
    """A task: ``name`` is a task-catalog name or a dotted import path; ``args`` are Jinja2-rendered."""

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("args", mode="before")
    @classmethod
    def _args_mapping(cls, value: Any) -> Any:
        if value is None:
            return {}
        return value
