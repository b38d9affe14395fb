"""Details of a run an operator trips over: a templated argument keeps its trailing newline (appended
reports stay one line per host), and a stock Nornir config file runs without Nornir's
ConflictingConfigurationWarning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from nornflow.cli.project import create_project
from nornflow.templating import CompiledArgs


def test_an_expression_with_text_around_it_renders_to_that_text():
    args = CompiledArgs(
        {
            "line": "{{ name }}\n",
            "padded": " {{ name }} ",
            "block": "{{ name }}\n{{ name }}\n",
            "typed": "{{ servers }}",
            "spaced": "{{ servers | length }}",
        }
    )
    rendered = args.render({"name": "r1", "servers": ["a", "b"]})
    assert rendered == {
        "line": "r1\n",
        "padded": " r1 ",
        "block": "r1\nr1\n",
        "typed": ["a", "b"],
        "spaced": 2,
    }


def test_appended_lines_stay_one_per_host(tmp_path: Path):
    create_project(tmp_path)
    report = tmp_path / "output" / "report.txt"
    flow = {
        "workflow": {
            "name": "report",
            "tasks": [
                {
                    "name": "write_file",
                    "args": {"filename": str(report), "content": "{{ host.name }}\n", "append": True},
                }
            ],
        }
    }
    (tmp_path / "workflows" / "report.yaml").write_text(yaml.safe_dump(flow))
    proc = subprocess.run(
        [sys.executable, "-m", "nornflow", "run", "report", "--project", str(tmp_path), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(report.read_text().splitlines()) == ["fw1", "r1", "r2", "sw1"]
    assert report.read_text().endswith("\n")


def test_a_stock_nornir_config_file_runs_without_the_conflicting_configuration_warning(tmp_path: Path):
    create_project(tmp_path)
    nornir_config = {
        "inventory": {
            "plugin": "SimpleInventory",
            "options": {
                "host_file": "inventory/hosts.yaml",
                "group_file": "inventory/groups.yaml",
                "defaults_file": "inventory/defaults.yaml",
            },
        },
        "logging": {"log_file": str(tmp_path / "nornir.log")},
    }
    (tmp_path / "nornir.yaml").write_text(yaml.safe_dump(nornir_config))
    (tmp_path / "nornflow.yaml").write_text("nornir_config_file: nornir.yaml\n")
    env = {**os.environ, "PYTHONWARNINGS": "always"}  # a warning shown once would still be shown
    proc = subprocess.run(
        [sys.executable, "-m", "nornflow", "run", "hello", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK 4 host(s)" in proc.stdout
    assert "ConflictingConfigurationWarning" not in proc.stderr
    assert "logging configuration has been detected" not in proc.stderr
