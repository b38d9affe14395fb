"""``nornflow show workflows`` lists every workflow by the name ``run`` takes (same-named files in
different folders included); ``nornflow show settings`` prints YAML that loads back as the same
settings."""

from __future__ import annotations

from pathlib import Path

import yaml

from nornflow.cli.project import create_project
from nornflow.settings import Settings
from tests.cli_runner import cli


def _flow(path: Path, description: str, tasks: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"name": path.stem, "description": description, "tasks": ["echo"] * tasks}
    path.write_text(yaml.safe_dump({"workflow": body}))


def test_show_workflows_lists_same_named_workflows_by_relative_path(tmp_path: Path):
    create_project(tmp_path)
    _flow(tmp_path / "workflows" / "site_a" / "backup.yaml", "backup of site A", 2)
    _flow(tmp_path / "workflows" / "site_b" / "backup.yaml", "backup of site B", 3)
    _flow(tmp_path / "workflows" / ".drafts" / "backup.yaml", "a hidden draft")
    result = cli(tmp_path, "show", "workflows")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if "backup" in line}
    assert set(rows) == {"site_a/backup", "site_b/backup"}
    assert (
        "backup of site A" in rows["site_a/backup"]
        and "workflows/site_a/backup.yaml" in rows["site_a/backup"]
    )
    assert "backup of site B" in rows["site_b/backup"] and " 3 " in rows["site_b/backup"]
    assert "hello" in result.output and "draft" not in result.output
    # each listed name runs that file
    for name, n_tasks in (("site_a/backup", 2), ("site_b/backup", 3)):
        run = cli(tmp_path, "run", name)
        assert run.exit_code == 0 and f"{n_tasks} task(s)" in run.output


def test_show_workflows_says_which_file_wins_when_two_dirs_have_a_name(tmp_path: Path):
    create_project(tmp_path)
    (tmp_path / "nornflow.yaml").write_text("workflow_dirs: [workflows, more]\n")
    _flow(tmp_path / "more" / "hello.yaml", "shadowed")
    out = cli(tmp_path, "show", "workflows").output
    shadowed = [line for line in out.splitlines() if "more/hello.yaml" in line]
    assert len(shadowed) == 1 and "not run: workflows/hello.yaml wins" in shadowed[0]


def test_show_settings_prints_yaml_that_loads_back(tmp_path: Path):
    create_project(tmp_path)
    (tmp_path / "nornflow.yaml").write_text(
        "workers: 7\nfailure_strategy: fail-fast\ntask_dirs: tasks\n"
        "processors:\n  - class: nornflow.run.processors.GuardedProcessors\n    args: {}\n"
        "runner_options: {num_workers: 3}\n"
    )
    result = cli(tmp_path, "show", "settings")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"# project directory: {tmp_path}")
    data = yaml.safe_load(result.output)  # comments aside, plain YAML
    pasted = tmp_path / "pasted"
    pasted.mkdir()
    (pasted / "nornflow.yaml").write_text(result.output)
    again = Settings.load(pasted / "nornflow.yaml")  # no unknown key: it pastes back
    original = Settings.load(tmp_path / "nornflow.yaml")
    assert again.model_dump() | {"base_dir": None} == original.model_dump() | {"base_dir": None}
    assert (
        data["workers"] == 7 and data["processors"][0]["class"] == "nornflow.run.processors.GuardedProcessors"
    )
