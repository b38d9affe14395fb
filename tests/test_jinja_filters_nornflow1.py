"""NornFlow 1.0's Jinja2 filters, implemented by nornflow: lists, strings, dictionaries, ``is_set`` and
Python's built-ins, in templates rendered per host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import FilterArgumentError

from nornflow import jinja_filters as jf
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.templating import compile_expression, environment


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[[1, [2, [3, None]]], 4] | flatten_list", [1, 2, 3, None, 4]),
        ("[1, 2, 2, 'a', 'A', {'k': 1}, {'k': 1}] | unique_list", [1, 2, "a", "A", {"k": 1}]),
        ("[1, 2, 3, 4, 5] | chunk_list(2)", [[1, 2], [3, 4], [5]]),
        (
            "{'a': 1, 'b': {'c': 2, 'l': [1]}} | deep_merge({'b': {'d': 3, 'l': [2]}})",
            {"a": 1, "b": {"c": 2, "l": [2], "d": 3}},
        ),
        ("'MyVariableName' | to_snake_case", "my_variable_name"),
        ("'VLAN-Management' | to_snake_case", "vlan_management"),
        ("'ConfigBackupTask' | to_kebab_case", "config-backup-task"),
        ("'Gi0/1' | to_snake_case", "gi0_1"),
        ("['a', 'b'] | enumerate(1) | list", [(1, "a"), (2, "b")]),
        ("[1, 2] | zip(['x', 'y'])", [(1, "x"), (2, "y")]),
        ("5 | range", [0, 1, 2, 3, 4]),
        ("2 | range(10, 2)", [2, 4, 6, 8]),
        ("10 | divmod(3)", (3, 1)),
        ("'a b c' | splitx(' ', 1)", ["a", "b c"]),
        ("{'k': 1} | type", "dict"),
        ("[false, true] | any", True),
        ("[true, false] | all", False),
        ("'abc' | len", 3),
        ("[{'n': 2}, {'n': 1}] | sorted('n') | map(attribute='n') | list", [1, 2]),
        ("[3, 1, 2] | sorted(reverse=true)", [3, 2, 1]),
        ("[1, 2, 3] | reversed", [3, 2, 1]),
        ("'--x--' | strip('-')", "x"),
        ("[1, 2, 3] | joinx('-')", "1-2-3"),
        ("'Router-NYC-001' | startswith(['Switch', 'Router'])", True),
        ("[] | random_choice", None),
    ],
)
def test_nornflow1_filters(expression: str, expected: Any) -> None:
    assert compile_expression(expression).evaluate({}) == expected


def test_random_choice_picks_an_item() -> None:
    assert compile_expression("[7, 8, 9] | random_choice").evaluate({}) in (7, 8, 9)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'abc' | chunk_list(2)", "chunk_list: expects a list"),
        ("[1] | chunk_list(0)", "chunk_list: size must be a number >= 1"),
        ("{} | deep_merge(2)", "deep_merge: argument 2 must be a mapping"),
        ("3 | len", "len: object of type 'int' has no len()"),
        ("3 | is_set", "is_set: expects the name of a variable"),
    ],
)
def test_wrong_arguments_name_the_filter(expression: str, message: str) -> None:
    with pytest.raises(Exception, match=message) as info:
        compile_expression(expression).evaluate({})
    assert isinstance(info.value, FilterArgumentError) or message in str(info.value)


def test_every_nornflow1_filter_is_registered() -> None:
    for name, func in jf.NORNFLOW1_FILTERS.items():
        assert environment.filters[name] is func and jf._describe(func), name


def test_is_set_reads_each_hosts_variables_in_a_workflow(tmp_path: Path) -> None:
    inv = inventory_from_data(
        {"r1": {"groups": ["ams"], "data": {"code": "A1"}}, "r2": {"data": {"code": None}}},
        {"ams": {"data": {"site": "ams"}}},
    )
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inv, workers=2, environ={})
    res = nf.run(
        {
            "workflow": {
                "name": "t",
                "vars": {"empty": "", "nested": {"a": {"b": None}}},
                "tasks": [
                    {"name": "set", "args": {"running": "{{ host.name }}"}, "if": "host.name == 'r1'"},
                    {
                        "name": "echo",
                        "args": {
                            "msg": "{{ ['running', 'empty', 'nested.a', 'nested.a.b', 'nope', "
                            "'host.data.code', 'host.site', 'host.platform'] | map('is_set') | list }}"
                        },
                    },
                    {"name": "echo", "args": {"msg": "ran"}, "if": "{{ 'running' | is_set }}"},
                ],
            }
        }
    )
    assert res.tasks[1]["r1"].result == [True, True, True, False, False, True, True, False]
    assert res.tasks[1]["r2"].result == [False, True, True, False, False, False, False, False]
    assert [r.status for r in res.tasks[2]] == ["ok", "skipped"]
