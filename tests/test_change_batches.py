"""Rolling batches: serial (number, percentage, list), --serial, max_fail_percentage, run_once per batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from nornflow.models.serial import batch_sizes, parse_serial
from tests.change_control import make_project, run, statuses, workflow


def test_batch_sizes():
    assert batch_sizes(parse_serial([1, "10%", "100%"]), 20) == [1, 2, 17]
    assert batch_sizes(parse_serial(3), 7) == [3, 3, 1]
    assert batch_sizes(parse_serial("50%"), 5) == [2, 2, 1]
    assert batch_sizes(parse_serial("1%"), 5) == [1, 1, 1, 1, 1]  # at least one host
    with pytest.raises(ValueError):
        parse_serial(0)
    with pytest.raises(ValueError):
        parse_serial("150%")


CANARY = """\
workflow:
  name: canary
  serial: [1, "50%"]
  max_fail_percentage: 0
  tasks:
    - {name: assert, args: {that: "host.data.n != 0"}}
    - {name: echo, args: {msg: done}}
"""


def test_canary_failure_stops_the_waves(tmp_path: Path, impl):
    root = make_project(tmp_path, hosts=5)
    workflow(root, "canary", CANARY)
    res, data = run(root, "canary")
    assert res.exit_code == 1
    assert data["batches"] == [["h00"], ["h01", "h02"], ["h03", "h04"]]
    assert statuses(data, 0) == {
        "h00": "failed",
        "h01": "not_run",
        "h02": "not_run",
        "h03": "not_run",
        "h04": "not_run",
    }
    assert data["not_run_hosts"] == ["h01", "h02", "h03", "h04"]
    assert "max_fail_percentage 0% exceeded" in data["stopped"]
    assert data["tasks"][0]["hosts"]["h03"]["skip_reason"].startswith("max_fail_percentage")
    assert "max_fail_percentage 0% exceeded" in res.output
    assert "run stopped before this host" not in res.output  # later batches are not "stopped" hosts


def test_healthy_canary_runs_every_wave_task_by_task(tmp_path: Path):
    root = make_project(tmp_path, hosts=5)
    workflow(root, "canary", CANARY.replace("!= 0", ">= 0"))
    res, data = run(root, "canary")
    assert res.exit_code == 0
    assert data["host_counts"]["ok"] == 5
    assert res.output.count("batch ") >= 3  # batch 1/3, 2/3, 3/3


def test_cli_serial_overrides_and_run_once_is_once_per_batch(tmp_path: Path):
    root = make_project(tmp_path, hosts=4)
    workflow(
        root,
        "once",
        "workflow:\n  name: once\n  tasks:\n    - {name: echo, args: {msg: x}, run_once: true}\n",
    )
    res, data = run(root, "once", "--serial", "2")
    assert res.exit_code == 0
    assert data["batches"] == [["h00", "h01"], ["h02", "h03"]]
    assert statuses(data, 0) == {"h00": "ok", "h01": "skipped", "h02": "ok", "h03": "skipped"}


def test_fail_percentage_under_the_limit_goes_on(tmp_path: Path):
    root = make_project(tmp_path, hosts=4)
    flow = "workflow:\n  name: m\n  serial: 2\n  max_fail_percentage: 50\n  tasks:\n"
    flow += '    - {name: assert, args: {that: "host.data.n not in (0, 2, 3)"}}\n'
    workflow(root, "m", flow)
    res, data = run(root, "m")
    # batch 1: 1 of 2 failed (50%, not over); batch 2: 2 of 2 failed (over, but no batch is left)
    assert statuses(data, 0) == {"h00": "failed", "h01": "ok", "h02": "failed", "h03": "failed"}
    assert res.exit_code == 1


@pytest.mark.parametrize("value", ["0", "'abc'", "'200%'", "[]"])
def test_bad_serial_is_exit_3(tmp_path: Path, value: str):
    root = make_project(tmp_path, hosts=2)
    workflow(root, "s", f"workflow:\n  name: s\n  serial: {value}\n  tasks: [echo]\n")
    res, _ = run(root, "s")
    assert res.exit_code == 3 and "serial" in res.output and "s.yaml" in res.output


def test_bad_cli_serial_and_max_fail_are_exit_3(tmp_path: Path):
    root = make_project(tmp_path, hosts=2)
    workflow(root, "s", "workflow:\n  name: s\n  max_fail_percentage: 120\n  tasks: [echo]\n")
    res, _ = run(root, "s")
    assert res.exit_code == 3 and "max_fail_percentage" in res.output
    workflow(root, "t", "workflow:\n  name: t\n  tasks: [echo]\n")
    res, _ = run(root, "t", "--serial", "x%")
    assert res.exit_code == 3 and "serial" in res.output


def test_max_fail_percentage_without_serial_stops_the_later_tasks(tmp_path: Path, impl):
    root = make_project(tmp_path, hosts=4)
    flow = "workflow:\n  name: m\n  max_fail_percentage: 30\n  tasks:\n"
    flow += '    - {name: assert, args: {that: "host.data.n > 1"}}\n'
    flow += "    - {name: echo, args: {msg: push}}\n"
    workflow(root, "m", flow)
    res, data = run(root, "m")
    assert res.exit_code == 1
    assert statuses(data, 0) == {"h00": "failed", "h01": "failed", "h02": "ok", "h03": "ok"}
    assert set(statuses(data, 1).values()) == {"not_run"}  # 50% > 30%: nobody goes on
    assert "max_fail_percentage 30% exceeded: 2 of 4" in data["stopped"]
    assert data["tasks"][1]["hosts"]["h02"]["skip_reason"].startswith("max_fail_percentage")


def test_a_rescued_host_does_not_count_against_max_fail_percentage(tmp_path: Path):
    root = make_project(tmp_path, hosts=2)
    workflow(
        root,
        "r",
        """\
        workflow:
          name: r
          serial: 1
          max_fail_percentage: 0
          tasks:
            - block: [{name: assert, args: {that: "host.data.n == 1"}}]
              rescue: [{name: echo, args: {msg: rolled back}}]
            - {name: echo, args: {msg: next}}
        """,
    )
    res, data = run(root, "r")
    assert res.exit_code == 0, res.output
    assert data["rescued_hosts"] == ["h00"]
    assert statuses(data, 2) == {"h00": "ok", "h01": "ok"}
    assert data["stopped"] is None
