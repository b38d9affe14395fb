"""The FakeNOS end-to-end workflow sharded over two Dask workers: SSH sessions opened in the workers,
kept there across tasks, and the same results as the local run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

distributed = pytest.importorskip("distributed")
pytest.importorskip("fakenos")
pytest.importorskip("nornir_netmiko")

from tests.test_e2e_fakenos import WORKFLOW, _check_clock, _make_project, _run_json  # noqa: E402

pytestmark = [pytest.mark.fakenos, pytest.mark.dask]
pytest_plugins = ["tests.fakenos_fixtures"]

WHERE = '''\
import os

from nornir.core.task import Result, Task


def where(task: Task) -> Result:
    """The process this host runs in and the connections it holds there."""
    return Result(host=task.host, result={"pid": os.getpid(), "connections": sorted(task.host.connections)})
'''


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker LocalCluster for the module."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        memory_limit=0,
    ) as local:
        yield local.scheduler_address


def _project(root: Path, inventory: Path) -> Path:
    project = _make_project(root, inventory)
    (project / "tasks").mkdir()
    (project / "tasks" / "where.py").write_text(WHERE)
    workflow = yaml.safe_load(WORKFLOW)
    workflow["workflow"]["tasks"].append({"name": "where"})
    (project / "workflows" / "lab_report.yaml").write_text(yaml.safe_dump(workflow))
    return project


def _shape(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per task and host: what must not depend on where the host ran (clocks and times do)."""
    return [
        {name: (r["status"], r.get("skip_reason"), r.get("error")) for name, r in task["hosts"].items()}
        for task in data["tasks"]
    ]


def test_the_fakenos_workflow_sharded_over_two_workers(
    fake_lab_inventory: Path, scheduler: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    local = _run_json(_project(tmp_path_factory.mktemp("local"), fake_lab_inventory), fake_lab_inventory)
    project = _project(tmp_path_factory.mktemp("sharded"), fake_lab_inventory)
    sharded = _run_json(project, fake_lab_inventory, "--scheduler", scheduler, "--shards", "2")
    assert sharded.cli.exit_code == 0 == local.cli.exit_code, sharded.console
    assert sharded.data["hosts"] == ["r1", "r2", "sw1", "j1"]
    assert _shape(sharded.data) == _shape(local.data)
    assert list(sharded.data["variables"]) == list(local.data["variables"])
    # the device's own replies came back from the workers, and set_to kept them for later tasks
    for name, host in sharded.hosts.items():
        clock = sharded.data["variables"][name]["clock"]
        _check_clock(host["platform"], clock)
        assert (sharded.reports / f"{name}.txt").read_text().startswith(f"{name} {host['platform']}")
    # r1, r2 in shard 0 and sw1, j1 in shard 1: each opened its SSH session in its worker process and
    # still holds it in the last task
    where = sharded.data["tasks"][-1]["hosts"]
    pids = {name: where[name]["result"]["pid"] for name in where}
    assert pids["r1"] == pids["r2"] != pids["sw1"] == pids["j1"]
    assert all(where[name]["result"]["connections"] == ["netmiko"] for name in where)
    local_where = local.data["tasks"][-1]["hosts"]
    assert {r["result"]["pid"] for r in local_where.values()} - set(pids.values()) == {
        local_where["r1"]["result"]["pid"]
    }
