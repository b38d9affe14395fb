"""block / rescue / always, nested blocks, block hooks, ``rescued`` in the recap and --json."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.change_control import make_project, run, statuses, workflow

FLOW = """\
workflow:
  name: change
  tasks:
    - name: change
      block:
        - {name: assert, description: push, args: {that: "host.data.n != 1 and host.data.n != 2"}}
        - {name: echo, description: verify, args: {msg: verified}}
      rescue:
        - {name: assert, description: rollback, args: {that: "host.data.n != 2"}}
      always:
        - {name: echo, description: log, args: {msg: logged}}
    - {name: echo, description: after, args: {msg: after}}
"""


def test_rescued_host_is_not_failed_and_always_runs(tmp_path: Path, impl):
    root = make_project(tmp_path, hosts=3)
    workflow(root, "change", FLOW)
    res, data = run(root, "change")
    assert res.exit_code == 1  # h02: rescue failed too
    assert statuses(data, 0) == {"h00": "ok", "h01": "failed", "h02": "failed"}
    h01 = data["tasks"][0]["hosts"]["h01"]
    assert h01["ignored"] is True and h01["error"]["rescued"] is True
    assert statuses(data, 1) == {"h00": "ok", "h01": "skipped", "h02": "skipped"}
    assert data["tasks"][2]["hosts"]["h00"]["skip_reason"] == "no task of the block failed"
    assert statuses(data, 2) == {"h00": "skipped", "h01": "ok", "h02": "failed"}
    assert statuses(data, 3) == {"h00": "ok", "h01": "ok", "h02": "ok"}  # always: every host
    assert statuses(data, 4) == {"h00": "ok", "h01": "ok", "h02": "skipped"}
    assert data["rescued_hosts"] == ["h01"]
    assert data["failed_hosts"] == ["h02"]
    assert "1 rescued" in res.output


def test_all_rescued_is_exit_0(tmp_path: Path):
    root = make_project(tmp_path, hosts=2)
    workflow(
        root,
        "r",
        """\
        workflow:
          name: r
          tasks:
            - block:
                - block:
                    - {name: assert, args: {that: "host.data.n == 0"}}
                  always:
                    - {name: echo, args: {msg: inner always}}
              rescue:
                - {name: echo, args: {msg: rescued}}
        """,
    )
    res, data = run(root, "r")
    assert res.exit_code == 0, res.output
    assert data["rescued_hosts"] == ["h01"]
    assert statuses(data, 1) == {"h00": "ok", "h01": "ok"}  # the nested always
    assert statuses(data, 2) == {"h00": "skipped", "h01": "ok"}
    assert data["status"] == "ok"


def test_block_if_and_tags_reach_its_tasks(tmp_path: Path):
    root = make_project(tmp_path, hosts=2)
    workflow(
        root,
        "b",
        """\
        workflow:
          name: b
          tasks:
            - block:
                - {name: echo, args: {msg: x}, if: "host.data.n >= 0"}
              if: "host.data.n == 1"
        """,
    )
    res, data = run(root, "b")
    assert res.exit_code == 0
    assert statuses(data, 0) == {"h00": "skipped", "h01": "ok"}


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [("loop", "[1, 2]", "once per host"), ("set_to", "x", "no single result"), ("nope", "1", "not a key")],
)
def test_block_refuses_hooks_that_make_no_sense(tmp_path: Path, key: str, value: str, why: str):
    root = make_project(tmp_path, hosts=1)
    workflow(root, "b", f"workflow:\n  name: b\n  tasks:\n    - block: [echo]\n      {key}: {value}\n")
    res, _ = run(root, "b")
    assert res.exit_code == 3
    assert why in res.output and "b.yaml" in res.output and repr(key) in res.output


def test_empty_block_is_exit_3(tmp_path: Path):
    root = make_project(tmp_path, hosts=1)
    workflow(root, "b", "workflow:\n  name: b\n  tasks:\n    - block: []\n")
    res, _ = run(root, "b")
    assert res.exit_code == 3 and "non-empty list" in res.output


def test_run_all_keeps_failed_hosts_in_the_block(tmp_path: Path):
    root = make_project(tmp_path, hosts=2)
    workflow(
        root, "c", FLOW.replace("name: change\n  tasks", "name: c\n  failure_strategy: run-all\n  tasks")
    )
    res, data = run(root, "c")
    assert statuses(data, 1) == {"h00": "ok", "h01": "ok"}  # verify runs on h01 too under run-all
    assert data["rescued_hosts"] == ["h01"]
    assert res.exit_code == 0


def test_fail_fast_gives_the_rescue_its_chance(tmp_path: Path, impl):
    root = make_project(tmp_path, hosts=3)
    flow = FLOW.replace("name: change\n  tasks", "name: ff\n  failure_strategy: fail-fast\n  tasks")
    workflow(root, "ff", flow)
    res, data = run(root, "ff")
    assert res.exit_code == 1
    # h01 and h02 fail the block: no stop yet; h01 is rescued, h02's rescue fails: that stops the run
    assert statuses(data, 2) == {"h00": "skipped", "h01": "ok", "h02": "failed"}
    assert data["rescued_hosts"] == ["h01"]
    assert "fail-fast" in data["stopped"] and "h02" in data["stopped"]
    assert set(statuses(data, 3).values()) == {"not_run"}  # always did not start: the run stopped


def test_fail_fast_all_rescued_goes_on(tmp_path: Path):
    root = make_project(tmp_path, hosts=3)
    flow = FLOW.replace("name: change\n  tasks", "name: ff\n  failure_strategy: fail-fast\n  tasks")
    workflow(root, "ff", flow.replace('"host.data.n != 2"', '"true"'))
    res, data = run(root, "ff")
    assert res.exit_code == 0, res.output
    assert data["rescued_hosts"] == ["h01", "h02"] and data["stopped"] is None
    assert statuses(data, 4) == {"h00": "ok", "h01": "ok", "h02": "ok"}
