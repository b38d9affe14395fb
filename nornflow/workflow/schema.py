"""JSON Schema of workflow files and of ``nornflow.yaml``, for editors (yaml-language-server) and CI.

The workflow schema names every registered hook (the project's own too, once its hook dirs are
loaded) as a key of a task, under ``hooks:`` and, for the hooks a block takes, of a block. A hook
class describes its value with a ``value_schema`` class attribute (a JSON Schema mapping); a hook
without one accepts any value. Blocks, blueprint references and ``- task_name`` strings are entries
of ``tasks``, as the loader reads them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.models.blocks import BLOCK_HOOKS
from nornflow.models.workflow import WorkflowModel
from nornflow.settings import OTHER_SECTIONS, OTHER_SPELLINGS, Settings

__all__ = ["DRAFT", "settings_schema", "workflow_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: A Jinja2 template string: what a renders-at-load hook's value may be instead of its own type.
_TEMPLATE = {"type": "string", "pattern": r"\{\{.*\}\}"}


def _hook_schema(cls: type) -> dict[str, Any]:
    """The schema of one hook's value: the class's ``value_schema`` or any value, with its help."""
    declared = getattr(cls, "value_schema", None)
    schema: dict[str, Any] = copy.deepcopy(dict(declared)) if isinstance(declared, Mapping) else {}
    if schema and getattr(cls, "renders_at_load", False):
        schema = {"anyOf": [schema, _TEMPLATE]}
    describe = getattr(cls, "describe", None)
    text = describe() if callable(describe) else ""
    if text:
        schema["description"] = text
    return schema


def workflow_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file (``workflow:`` with its tasks, blocks and every hook)."""
    hooks = {name: _hook_schema(cls) for name, cls in sorted(HOOK_REGISTRY.items())}
    body = WorkflowModel.model_json_schema()
    defs = body.pop("$defs", {})
    defs.pop("TaskModel", None)
    body["required"] = ["tasks"]  # the file's stem names a workflow without a name
    body["properties"]["tasks"] = {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/$defs/entry"},
        "description": "The tasks, blocks and blueprint references, in the order they run.",
    }
    task_props: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1, "description": "A task name or a dotted import path."},
        "args": {"type": ["object", "null"], "description": "The task's arguments (Jinja2 templates)."},
        "description": {"type": ["string", "null"]},
        "hooks": {"type": "object", "properties": hooks, "additionalProperties": False},
        **hooks,
    }
    tasks_list = {"type": "array", "items": {"$ref": "#/$defs/entry"}}
    block_props: dict[str, Any] = {
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "block": {**tasks_list, "minItems": 1},
        "rescue": tasks_list,
        "always": tasks_list,
        **{k: hooks[k] for k in BLOCK_HOOKS if k in hooks},
    }
    defs.update(
        {
            "entry": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"$ref": "#/$defs/block"},
                    {"$ref": "#/$defs/blueprint"},
                    {"$ref": "#/$defs/task"},
                ]
            },
            "task": {
                "type": "object",
                "required": ["name"],
                "properties": task_props,
                "additionalProperties": False,
            },
            "block": {
                "type": "object",
                "required": ["block"],
                "properties": block_props,
                "additionalProperties": False,
            },
            "blueprint": {
                "type": "object",
                "required": ["blueprint"],
                "properties": {"blueprint": {"type": "string"}, "if": {}, "when": {}},
                "additionalProperties": False,
            },
        }
    )
    return {
        "$schema": DRAFT,
        "title": "nornflow workflow",
        "type": "object",
        "required": ["workflow"],
        "properties": {"workflow": {"$ref": "#/$defs/workflow"}},
        "additionalProperties": False,
        "$defs": {"workflow": body, **defs},
    }


def settings_schema() -> dict[str, Any]:
    """The JSON Schema of ``nornflow.yaml`` (nornflow's keys, and NornFlow 1.0's spellings of them)."""
    schema = Settings.model_json_schema()
    props = schema["properties"]
    for internal in ("base_dir", "source"):
        props.pop(internal, None)
    for other, ours in OTHER_SPELLINGS.items():
        if ours in props:
            props[other] = {**props[ours], "description": f"NornFlow 1.0's spelling of {ours}"}
    for section, keys in OTHER_SECTIONS.items():
        props[section] = {"type": "object", "properties": {k: {} for k in keys}, "additionalProperties": True}
    schema.pop("required", None)
    return {"$schema": DRAFT, "title": "nornflow settings (nornflow.yaml)", **schema}
