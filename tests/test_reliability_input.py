"""Hostile or odd input to the settings file and to workflow lookup: always a located ``NornFlowError``
(exit 3, one line, no traceback), never a TypeError or OSError surfacing as an internal error (exit 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nornflow.cli.project import create_project
from nornflow.exceptions import SettingsError, WorkflowError
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from tests.cli_runner import cli

#: Longer than any file name component allows (255 bytes on common file systems).
LONG = "w" * 300


def assert_one_line_user_error(result, *fragments: str) -> str:
    """Exit 3 and a single ``error:`` line (no traceback, no 'internal error') holding ``fragments``."""
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    return tmp_path


# ---- settings keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_key", "shown"), [("1", "1"), ("true", "True"), ("null", "None"), ("2.5", "2.5")]
)
def test_a_settings_key_that_is_not_a_string_names_the_file_and_line(
    tmp_path: Path, yaml_key: str, shown: str
):
    path = tmp_path / "nornflow.yaml"
    path.write_text(f"workers: 4\n{yaml_key}: x\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(path)
    error = info.value
    assert error.file == str(path) and error.line == 2 and error.key == shown
    assert "keys must be strings" in error.message


@pytest.mark.parametrize("internal", ["base_dir", "source"])
def test_internal_fields_cannot_be_set_from_the_settings_file(tmp_path: Path, internal: str):
    """``base_dir`` and ``source`` say where the file is; a key of that name is just an unknown key."""
    path = tmp_path / "nornflow.yaml"
    path.write_text(f"dry_run: true\n{internal}: /etc\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(path)
    error = info.value
    assert error.file == str(path) and error.line == 2 and error.key == internal
    assert error.message.startswith("unknown key (valid keys: ") and "workers" in error.message
    assert "base_dir" not in error.message and "source," not in error.message


def test_from_mapping_refuses_internal_and_non_string_keys(tmp_path: Path):
    with pytest.raises(SettingsError, match="unknown key") as info:
        Settings.from_mapping({"base_dir": "/etc"}, base_dir=tmp_path, source="api")
    assert info.value.key == "base_dir" and info.value.file == "api"
    with pytest.raises(SettingsError, match="keys must be strings") as info:
        Settings.from_mapping({("a", 1): 1}, base_dir=tmp_path)
    assert info.value.key == "('a', 1)"
    # the API keyword still sets them
    assert Settings.from_mapping({}, base_dir=tmp_path, source="api").base_dir == tmp_path


@pytest.mark.parametrize("line", ["7: x", "base_dir: /etc", "source: elsewhere"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_cli_bad_settings_keys_exit_3_with_one_line(project: Path, line: str, command: str):
    settings = project / "nornflow.yaml"
    settings.write_text(settings.read_text() + line + "\n")
    last = len(settings.read_text().splitlines())
    assert_one_line_user_error(cli(project, command, "hello"), f"nornflow.yaml:{last}", line.split(":")[0])


def test_cli_settings_file_name_too_long_exits_3(project: Path):
    assert_one_line_user_error(
        cli(project, "validate", "hello", "--settings", str(project / LONG)), "settings file", "too long"
    )


def test_cli_project_directory_name_too_long_exits_3(project: Path):
    assert_one_line_user_error(
        cli(project, "validate", "hello", "--project", str(project / LONG)), "project directory", "too long"
    )


# ---- workflow references the file system cannot look up --------------------------------------------------


@pytest.mark.parametrize("ref", [LONG, LONG + ".yaml", f"workflows/{LONG}.yml", "x/" * 2100 + "w.yaml"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_cli_workflow_reference_too_long_exits_3_naming_it(project: Path, ref: str, command: str):
    line = assert_one_line_user_error(cli(project, command, ref), "cannot be looked up", "too long")
    assert ref[:40] in line and f"({len(ref)} characters)" in line and LONG not in line  # shortened


def test_engine_lookup_of_a_too_long_name_is_a_workflow_error(project: Path):
    nf = NornFlow(project / "nornflow.yaml")
    for call in (nf.find_workflow, nf.load_workflow, nf.validate):
        with pytest.raises(WorkflowError, match="cannot be looked up") as info:
            call(LONG)
        assert isinstance(info.value.__cause__, OSError)


def test_names_that_fit_still_resolve(project: Path):
    """The guard changes nothing for a normal name, a file path, or a task name."""
    nf = NornFlow(project / "nornflow.yaml")
    assert nf.find_workflow("hello") == nf.settings.resolve("workflows") / "hello.yaml"
    assert nf.find_workflow(str(project / "workflows" / "hello.yaml")) == project / "workflows" / "hello.yaml"
    assert nf.find_workflow("echo") is None and nf.load_workflow("echo").model.name == "echo"
