"""Retry files: ``--failed-hosts FILE`` writes the names of the hosts that failed, and
``--limit @FILE`` (or ``--filter hosts=@FILE``) re-runs exactly those."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from nornflow.cli.project import create_project
from nornflow.exceptions import UsageError
from nornflow.inventory.filters import parse_filters, parse_limit
from tests.cli_runner import cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    (tmp_path / "tasks" / "picky.py").write_text(
        textwrap.dedent(
            """\
            from nornir.core.task import Result, Task


            def picky(task: Task) -> Result:
                if task.host.get("role") in ("edge", "firewall"):
                    raise RuntimeError("Authentication failed")
                return Result(host=task.host, result="fine")
            """
        )
    )
    return tmp_path


def _hosts(result) -> list[str]:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["hosts"]


def test_failed_hosts_file_then_limit_reruns_exactly_those(project: Path):
    retry = project / "retry" / "failed.txt"
    first = cli(project, "run", "picky", "--failed-hosts", str(retry))
    assert first.exit_code == 1
    lines = retry.read_text().splitlines()
    assert lines[0].startswith("# nornflow run picky: 2 failed host(s)")
    assert lines[1:] == ["r2", "fw1"]
    assert _hosts(cli(project, "run", "picky", "--limit", f"@{retry}", "--json")) == ["r2", "fw1"]
    assert _hosts(cli(project, "run", "picky", "--filter", f"hosts=@{retry}", "--json")) == ["r2", "fw1"]
    # names and files mix, as any other filter values
    assert _hosts(cli(project, "run", "picky", "-l", f"r1,@{retry}", "--json")) == ["r1", "r2", "fw1"]


def test_a_run_without_failures_writes_an_empty_retry_file_that_says_so(project: Path):
    retry = project / "failed.txt"
    assert cli(project, "run", "echo", "--failed-hosts", str(retry)).exit_code == 0
    assert retry.read_text() == "# nornflow run echo: 0 failed host(s); rerun them with --limit @FILE\n"
    result = cli(project, "run", "picky", "--limit", f"@{retry}")
    assert result.exit_code == 2 and "failed.txt" in result.output and "lists no name" in result.output


def test_names_files_ignore_comments_and_blank_lines(tmp_path: Path):
    names = tmp_path / "names.txt"
    names.write_text("# a retry file\n\nr1\n  sw1   # the access switch\n\\#not-a-comment\n")
    assert parse_limit([f"@{names}"]) == ["r1", "sw1", "\\#not-a-comment"]
    assert parse_filters([f"hosts=@{names},fw1"]) == {"hosts": ["r1", "sw1", "\\#not-a-comment", "fw1"]}
    assert parse_filters(["tag=\\@literal"]) == {"tag": ["@literal"]}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "a directory, not a file of names"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00r1"), "not a UTF-8 text file"),
        (lambda p: p.write_text("# only a comment\n"), "lists no name"),
    ],
    ids=["missing", "directory", "binary", "empty"],
)
def test_a_bad_names_file_is_a_usage_error_naming_it(tmp_path: Path, make, message: str):
    path = tmp_path / "hosts.txt"
    make(path)
    for call in (lambda: parse_limit([f"@{path}"]), lambda: parse_filters([f"hosts=@{path}"])):
        with pytest.raises(UsageError) as info:
            call()
        assert info.value.exit_code == 2 and message in info.value.message
        assert info.value.file == str(path)


def test_a_retry_file_naming_unknown_hosts_selects_none_and_exits_2(project: Path):
    retry = project / "stale.txt"
    retry.write_text("r99\n")
    result = cli(project, "run", "picky", "--limit", f"@{retry}")
    assert result.exit_code == 2 and "no host 'r99' in the inventory" in result.output
