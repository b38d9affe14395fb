"""``if``/``when`` written as ``"{{ expr }}"`` (NornFlow 1.0), bare, or as a text template; string values
by their true/false words; lists of conditions that must all hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nornflow.exceptions import HookValidationError
from nornflow.hooks.builtins.conditions import truth
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.templating import TemplateError


def engine(tmp_path: Path, environ: dict[str, str] | None = None) -> NornFlow:
    hosts = {
        "r1": {"platform": "ios", "groups": ["core"], "data": {"n": 1, "label": "yes"}},
        "r2": {"platform": "eos", "groups": ["edge"], "data": {"n": 2, "label": "no"}},
        "r3": {"platform": "ios", "groups": ["edge"], "data": {"n": 3, "label": "maybe"}},
    }
    inv = inventory_from_data(hosts, {"core": {}, "edge": {}})
    return NornFlow(Settings(base_dir=tmp_path), inventory=inv, workers=2, environ=environ or {})


def ran(tmp_path: Path, condition: Any, key: str = "if", **kw: Any) -> list[str]:
    res = engine(tmp_path, **kw).run({"workflow": {"name": "t", "tasks": [{"name": "echo", key: condition}]}})
    assert res.exit_code == 0, [r.error for r in res.tasks[0] if r.error]
    return [r.host for r in res.tasks[0] if r.status == "ok"]


@pytest.mark.parametrize(
    "condition",
    [
        "host.platform == 'ios'",
        "{{ host.platform == 'ios' }}",
        "  {{host.platform=='ios'}}  ",
        "{% if host.platform == 'ios' %}true{% else %}false{% endif %}",
        "{{ host.platform == 'ios' }} ",
    ],
)
@pytest.mark.parametrize("key", ["if", "when"])
def test_bare_braced_and_text_conditions_agree(impl, tmp_path: Path, condition: str, key: str) -> None:
    assert ran(tmp_path, condition, key) == ["r1", "r3"]


def test_a_text_template_condition_counts_by_its_words(impl, tmp_path: Path) -> None:
    assert ran(tmp_path, "{{ host.data.n > 1 }} ") == ["r2", "r3"]  # renders "True " / "False "
    res = engine(tmp_path).run(
        {"workflow": {"name": "t", "tasks": [{"name": "echo", "if": "{{ host.data.n > 1 }} and {{ True }}"}]}}
    )
    assert res.tasks[0]["r1"].error.message.startswith("the condition gave the string 'False and True'")


def test_a_string_condition_that_is_no_true_false_word_fails_the_host(impl, tmp_path: Path) -> None:
    res = engine(tmp_path).run(
        {"workflow": {"name": "t", "tasks": [{"name": "echo", "if": "host.data.label"}]}}
    )
    statuses = {r.host: r.status for r in res.tasks[0]}
    assert statuses == {"r1": "ok", "r2": "skipped", "r3": "failed"}
    err = res.tasks[0]["r3"].error
    assert err.hook == "if" and "'maybe', which is neither true" in err.message


def test_an_environment_variable_saying_false_is_false(impl, tmp_path: Path) -> None:
    assert ran(tmp_path, "{{ enabled }}", environ={"NORNFLOW_VAR_enabled": "false"}) == []
    assert ran(tmp_path, "{{ enabled }}", environ={"NORNFLOW_VAR_enabled": "Yes"}) == ["r1", "r2", "r3"]


def test_a_list_of_conditions_must_all_hold(impl, tmp_path: Path) -> None:
    assert ran(tmp_path, [{"groups": ["edge"]}, "{{ host.platform == 'ios' }}"]) == ["r3"]
    assert ran(tmp_path, [True, "host.data.n < 3", {"platform": "eos"}]) == ["r2"]


@pytest.mark.parametrize(
    ("condition", "message"),
    [([], "at least one condition"), (["x", ["y"]], "condition [1] is a list"), (["x ==", True], "[0]")],
)
def test_bad_condition_lists_are_validation_errors(tmp_path: Path, condition: Any, message: str) -> None:
    with pytest.raises(HookValidationError, match=message.replace("[", r"\[")):
        engine(tmp_path).load_workflow(
            {"workflow": {"name": "t", "tasks": [{"name": "echo", "if": condition}]}}
        )


def test_truth() -> None:
    assert [truth(v) for v in (True, 0, [1], "on", " OFF ", "", "enabled", "t")] == [
        True,
        False,
        True,
        True,
        False,
        False,
        True,
        True,
    ]
    with pytest.raises(TemplateError, match="neither true"):
        truth("hello")
