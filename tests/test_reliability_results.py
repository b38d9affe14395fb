"""Every result renders and serialises (issue 13, item 7): whatever a task returns (tuple keys, cycles,
3,000-deep nesting, objects whose ``str()`` raises, NaN and infinities), the console prints it, ``--json``
is a valid document, later tasks still run and the exit code says what happened."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.plain import CYCLE, plain

runner = CliRunner()
KINDS = ["tuple_keys", "cycle", "deep", "badstr", "nan", "badstr_top", "bad_mapping", "huge_int"]

TASKS = """\
from collections.abc import Mapping

from nornir.core.task import Result, Task


class BadStr:
    def __str__(self):
        raise RuntimeError("no str for you")

    __repr__ = __str__


class BadError(Exception):
    def __str__(self):
        raise RuntimeError("no str either")


class BadMapping(Mapping):
    def __getitem__(self, key):
        raise KeyError(key)

    def __iter__(self):
        raise RuntimeError("cannot iterate")

    def __len__(self):
        return 1


def weird(task: Task, kind: str) -> Result:
    if kind == "tuple_keys":
        value = {("a", 1): "x", 1: "one", "1": "string one", None: 0}
    elif kind == "cycle":
        value = {"a": [1]}
        value["self"] = value
        value["a"].append(value["a"])
    elif kind == "deep":
        value = []
        for _ in range(3000):
            value = [value]
    elif kind == "badstr":
        value = {"obj": BadStr(), BadStr(): 1}
    elif kind == "nan":
        value = {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "list": [float("nan")]}
    elif kind == "badstr_top":
        value = BadStr()
    elif kind == "bad_mapping":
        value = {"m": BadMapping()}
    elif kind == "huge_int":
        value = 1 << 50000
    return Result(host=task.host, result=value)


def raiser(task: Task) -> Result:
    if task.host.name.endswith("2"):
        raise BadError("hidden")
    return Result(host=task.host, result="fine")
"""


def _no_constants(word: str) -> Any:
    raise AssertionError(f"invalid JSON constant {word}")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN/Infinity (not JSON, though Python's json writes them by default)."""
    return json.loads(text, parse_constant=_no_constants)


def cli(project: Path, *args: str) -> Any:
    old = Path.cwd()
    os.chdir(project)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    (tmp_path / "tasks" / "weird.py").write_text(TASKS)
    tasks: list[dict[str, Any]] = [{"name": "raiser"}]
    tasks += [{"name": "weird", "args": {"kind": kind}, "set_to": f"v_{kind}"} for kind in KINDS]
    tasks.append({"name": "echo", "args": {"msg": "after"}})
    body = {"workflow": {"name": "odd", "failure_strategy": "run-all", "tasks": tasks}}
    (tmp_path / "workflows" / "odd.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return tmp_path


def big_inventory(project: Path, n: int) -> list[str]:
    names = [f"h{i:03d}" for i in range(n)]
    hosts = {name: {"hostname": "192.0.2.1", "platform": "cisco_ios"} for name in names}
    (project / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return names


def check_document(document: dict[str, Any], hosts: list[str]) -> None:
    tasks = document["tasks"]
    assert len(tasks) == len(KINDS) + 2
    assert document["exit_code"] == 1  # the hosts whose name ends in 2 failed the first task
    last = tasks[-1]
    assert last["counts"]["ok"] == len(hosts)  # run-all: later tasks still ran everywhere
    assert all(tasks[1 + k]["counts"]["ok"] == len(hosts) for k in range(len(KINDS)))
    first = hosts[0]
    by_kind = {kind: tasks[1 + k]["hosts"][first]["result"] for k, kind in enumerate(KINDS)}
    assert by_kind["tuple_keys"] == {"('a', 1)": "x", "1": "one", "1 (2)": "string one", "null": 0}
    assert by_kind["cycle"] == {"a": [1, CYCLE], "self": CYCLE}
    depth, value = 0, by_kind["deep"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert depth == 100 and value == "<nested deeper than 100 levels>"
    assert by_kind["badstr"]["obj"] == "<unprintable BadStr: str() raised RuntimeError>"
    assert by_kind["nan"] == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "list": ["NaN"]}
    assert by_kind["badstr_top"].startswith("<unprintable BadStr")
    assert by_kind["bad_mapping"]["m"].startswith("<unprintable BadMapping")
    assert by_kind["huge_int"] == "<integer of 50001 bits>"
    bad = [h for h in hosts if h.endswith("2")]
    error = tasks[0]["hosts"][bad[0]]["error"]
    assert error == {"type": "BadError", "message": "<unprintable BadError: str() raised RuntimeError>"}
    assert document["failed_hosts"] == bad
    variables = document["variables"][first]
    assert variables["v_cycle"]["self"] == CYCLE and variables["v_nan"]["inf"] == "Infinity"


def test_plain_never_raises_and_always_gives_valid_json():
    deep: Any = "bottom"
    for _ in range(5000):
        deep = {"k": deep}
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    shared = [1, 2]
    for value in (deep, cyclic, {"x": shared, "y": shared}, {frozenset({1}): {3, 1, 2}}, math.nan, b"\xff"):
        json.dumps(plain(value), allow_nan=False)
    assert plain({"x": shared, "y": shared}) == {"x": [1, 2], "y": [1, 2]}  # shared is not a cycle
    assert plain({3, 1, 2}) == [1, 2, 3]
    assert plain(deep, max_depth=3) == {"k": {"k": {"k": "<nested deeper than 3 levels>"}}}


@pytest.mark.parametrize("mode", ["console", "json", "json_file", "large"])
def test_every_result_renders_and_serialises(project: Path, mode: str):
    hosts = ["r1", "r2", "sw1", "fw1"]
    args = ["run", "odd"]
    if mode == "json":
        args.append("--json")
    elif mode == "json_file":
        args += ["--json-file", str(project / "out.json")]
    elif mode == "large":  # progress and failure groups instead of per-host lines; JSON too
        hosts = big_inventory(project, 30)
        args.append("--json")
    result = cli(project, *args)
    console = result.stderr if "--json" in args else result.stdout  # --json: the document has tracebacks
    assert "Traceback" not in console and "internal error" not in result.output, result.output
    assert result.exit_code == 1, result.output
    if mode == "console":
        out = result.stdout
        assert "ok       r1: after" in out  # the last task ran and printed
        assert '"self": "<cycle>"' in out and '"nan": "NaN"' in out
        assert "r2 [hook" not in out and "BadError: <unprintable BadError" in out
        assert "FAILED 4 host(s): 3 ok, 1 failed" in out
        return
    if mode == "json_file":
        check_document(strict_json((project / "out.json").read_text()), hosts)
        assert "ok       r1: after" in result.stdout
        return
    check_document(strict_json(result.stdout), hosts)
    if mode == "large":
        assert "<unprintable BadError: str() raised RuntimeError>" in result.stderr  # the failure group
        assert f"FAILED {len(hosts)} host(s)" in result.stderr


def test_the_api_document_is_valid_json(project: Path):
    from nornflow import NornFlow

    engine = NornFlow(str(project / "nornflow.yaml"))
    result = engine.run("odd")
    assert result.exit_code == 1
    check_document(strict_json(result.to_json()), list(result.hosts))
