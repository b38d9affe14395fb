"""NornFlow 1.0's hook spellings: ``store_as`` (set_to), ``shush`` (output: false), ``single`` (run_once),
each a registered hook sharing its twin's behaviour; a task using both spellings is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nornir.core.task import Result, Task

from nornflow.exceptions import HookValidationError
from nornflow.hooks.builtins import OutputHook, RunOnceHook, SetToHook, ShushHook, SingleHook, StoreAsHook
from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings


def facts(task: Task) -> Result:
    """A napalm-like result: nested facts, an int-keyed mapping, a list."""
    i = int(task.host.name[1:])
    return Result(
        host=task.host,
        result={
            "facts": {"vendor": "acme", "serial": f"SN{i}"},
            "environment": {"cpu": {0: {"%usage": 10 + i}}},
            "interfaces": ["Gi0/1", "Gi0/2"],
        },
    )


HERE = __name__


def engine(tmp_path: Path, n: int = 4, workers: int = 4) -> NornFlow:
    hosts = {f"h{i}": {"data": {"index": i}} for i in range(n)}
    return NornFlow(Settings(base_dir=tmp_path), inventory=inventory_from_data(hosts), workers=workers)


def flow(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {"workflow": {"name": "t", "tasks": list(tasks)}}


def test_the_spellings_are_registered_hooks_sharing_their_twins_behaviour() -> None:
    assert HOOK_REGISTRY["store_as"] is StoreAsHook and issubclass(StoreAsHook, SetToHook)
    assert HOOK_REGISTRY["shush"] is ShushHook and issubclass(ShushHook, OutputHook)
    assert HOOK_REGISTRY["single"] is SingleHook and issubclass(SingleHook, RunOnceHook)


def test_store_as_simple_mode_is_set_to(impl, tmp_path: Path) -> None:
    res = engine(tmp_path).run(
        flow(
            {"name": f"{HERE}.facts", "store_as": "dev"},
            {"name": "echo", "args": {"msg": "{{ dev.facts.serial }}"}},
        )
    )
    assert [r.result for r in res.tasks[1]] == ["SN0", "SN1", "SN2", "SN3"]
    assert res.variables["h2"]["dev"]["facts"]["vendor"] == "acme"


def test_store_as_paths_read_the_payload_unless_they_start_at_an_outcome_name(impl, tmp_path: Path) -> None:
    res = engine(tmp_path).run(
        flow(
            {
                "name": f"{HERE}.facts",
                "store_as": {
                    "vendor": "facts.vendor",  # shorthand: inside the result payload
                    "explicit": "result.facts.serial",
                    "cpu": "environment.cpu.0.%usage",  # int key 0, a key with a %
                    "second": "interfaces.1",  # a digits step indexes a list
                    "third": "interfaces[0]",
                    "step_failed": "failed",  # an outcome name: where the path starts
                },
            }
        )
    )
    assert res.exit_code == 0
    assert res.variables["h3"] == {
        "vendor": "acme",
        "explicit": "SN3",
        "cpu": 13,
        "second": "Gi0/2",
        "third": "Gi0/1",
        "step_failed": False,
    }


def test_set_to_keeps_its_strict_roots(tmp_path: Path) -> None:
    with pytest.raises(HookValidationError, match="must start with one of"):
        engine(tmp_path).load_workflow(flow({"name": "echo", "set_to": {"v": "facts.vendor"}}))


def test_store_as_a_missing_step_fails_that_host_naming_the_step(impl, tmp_path: Path) -> None:
    res = engine(tmp_path).run(flow({"name": f"{HERE}.facts", "store_as": {"x": "facts.model"}}))
    assert res.exit_code == 1
    err = res.tasks[0]["h0"].error
    assert err.hook == "store_as" and "key 'model' not found" in err.message


@pytest.mark.parametrize("value", [True, "yes", "on", "True"])
def test_shush_true_is_output_false(tmp_path: Path, value: Any) -> None:
    prepared = engine(tmp_path).load_workflow(flow({"name": "echo", "shush": value}))
    assert prepared.tasks[0].print_output is False


@pytest.mark.parametrize("value", [False, "no", "off"])
def test_shush_false_shows_the_output(tmp_path: Path, value: Any) -> None:
    prepared = engine(tmp_path).load_workflow(flow({"name": "echo", "shush": value}))
    assert prepared.tasks[0].print_output is True


def test_single_runs_on_the_first_eligible_host_in_inventory_order(impl, tmp_path: Path) -> None:
    res = engine(tmp_path, n=12, workers=8).run(
        flow(
            {"name": "echo", "args": {"msg": "once"}, "single": True},
            {"name": "echo", "args": {"msg": "once odd"}, "single": "yes", "if": "host.index % 2 == 1"},
            {"name": "echo", "args": {"msg": "all"}, "single": "no"},
        )
    )
    assert [r.host for r in res.tasks[0] if r.status == "ok"] == ["h0"]
    assert {r.skip_reason for r in res.tasks[0] if r.status == "skipped"} == {"single: ran on another host"}
    assert [r.host for r in res.tasks[1] if r.status == "ok"] == ["h1"]  # conditions apply first
    assert len([r for r in res.tasks[2] if r.status == "ok"]) == 12


@pytest.mark.parametrize(
    ("task", "keys"),
    [
        ({"set_to": "a", "store_as": "b"}, ("set_to", "store_as")),
        ({"output": False, "shush": True}, ("output", "shush")),
        ({"run_once": True, "single": True}, ("run_once", "single")),
    ],
)
def test_both_spellings_on_one_task_are_refused_naming_the_task_and_keys(
    tmp_path: Path, task: dict[str, Any], keys: tuple[str, str]
) -> None:
    with pytest.raises(HookValidationError) as info:
        engine(tmp_path).load_workflow(flow({"name": "echo", "description": "d", **task}))
    err = info.value
    assert err.task == "echo" and err.hook == keys[1]
    assert f"{keys[0]!r} and {keys[1]!r} are two spellings of the same hook" in err.message


@pytest.mark.parametrize(("hook", "value"), [("shush", "maybe"), ("single", 3), ("single", "ture")])
def test_a_value_that_is_not_a_flag_is_a_validation_error(tmp_path: Path, hook: str, value: Any) -> None:
    with pytest.raises(HookValidationError, match="must be true or false") as info:
        engine(tmp_path).load_workflow(flow({"name": "echo", hook: value}))
    assert info.value.hook == hook
