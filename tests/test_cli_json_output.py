"""``--json``: stdout carries the JSON document and nothing else, whatever the tasks print; and
``--json-file PATH`` writes the same document to a file while the console stays on stdout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nornflow.cli.project import create_project

N_HOSTS = 200

CHATTY = """\
import sys
import threading
import time

from nornir.core.task import Result, Task


def chatty(task: Task) -> Result:
    time.sleep(0.002)  # a host that waits: the work-queue runner starts its other workers
    print(f"printed by {task.host.name} on {threading.current_thread().name}")
    sys.stdout.write("written to sys.stdout\\n")
    return Result(host=task.host, result=task.host.name)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("json-output")
    create_project(root)
    hosts = {f"h{i:03d}": {} for i in range(N_HOSTS)}
    (root / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (root / "tasks" / "chatty.py").write_text(CHATTY)
    flow = {"workflow": {"name": "chatty", "tasks": [{"name": "chatty"}]}}
    (root / "workflows" / "chatty.yaml").write_text(yaml.safe_dump(flow))
    return root


def nornflow(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "nornflow", "run", "chatty", "--project", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _without_durations(data: dict) -> dict:
    data.pop("duration")
    for task in data["tasks"]:
        task.pop("duration")
        for host in task["hosts"].values():
            host.pop("duration")
    return data


def test_json_stdout_is_only_the_document_when_tasks_print_from_many_threads(project: Path, tmp_path: Path):
    target = tmp_path / "run.json"
    proc = nornflow(project, "--json", "--json-file", str(target), "--workers", "8")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing but the document
    # --json-file writes the same document
    assert _without_durations(json.loads(target.read_text())) == _without_durations(json.loads(proc.stdout))
    assert data["status"] == "ok" and data["host_counts"]["ok"] == N_HOSTS
    # what the tasks printed went to stderr, all of it (print() from several threads may interleave
    # a line with the next one's newline, as it does on any stream)
    printed = re.findall(r"printed by (h\d{3}) on (MainThread|nornflow-worker-\d+)", proc.stderr)
    assert sorted(host for host, _ in printed) == [f"h{i:03d}" for i in range(N_HOSTS)]
    threads = {thread for _, thread in printed}
    assert len(threads) > 1, "the tasks ran on one thread only: the test proves nothing"
    assert proc.stderr.count("written to sys.stdout") == N_HOSTS
    assert "recap" in proc.stderr  # the console went to stderr too


def test_json_file_keeps_the_console_on_stdout(project: Path, tmp_path: Path):
    target = tmp_path / "reports" / "run.json"
    proc = nornflow(project, "--json-file", str(target), "--workers", "4")
    assert proc.returncode == 0, proc.stderr
    assert "recap" in proc.stdout and f"OK {N_HOSTS} host(s)" in proc.stdout
    data = json.loads(target.read_text())
    assert data["workflow"] == "chatty" and len(data["tasks"][0]["hosts"]) == N_HOSTS
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]  # no temporary file left


def test_json_file_that_is_a_directory_is_a_usage_error(project: Path, tmp_path: Path):
    proc = nornflow(project, "--json-file", str(tmp_path))
    assert proc.returncode == 2
    assert "--json-file" in proc.stderr and "is a directory" in proc.stderr
    assert "Traceback" not in proc.stderr
