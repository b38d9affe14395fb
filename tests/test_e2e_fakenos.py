"""End to end through ``nornflow run`` (typer's CliRunner, in-process) against FakeNOS SSH devices.

The session lab (``tests.fakenos_fixtures``: r1, r2 = cisco_ios, sw1 = arista_eos, j1 = juniper_junos on
127.0.0.1) is driven by Netmiko through nornflow's hooks. Each workflow run is made once per module and
checked by several tests, because every SSH login costs up to a second.

Projects made here load their inventory through ``nornir_config_file`` (``InitNornir``); the last test
uses an ``inventory:`` section, where nornflow registers Nornir's connection plugins itself. Each run
starts from an empty connection-plugin registry, as a fresh ``nornflow`` process would.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("fakenos")
pytest.importorskip("nornir_netmiko")

from nornir.core.plugins.connections import ConnectionPluginRegister
from typer.testing import CliRunner
from typer.testing import Result as CliResult

from nornflow.cli.app import app
from nornflow.contrib.fakenos_lab import FakeLab

pytestmark = pytest.mark.fakenos

# Fixtures: fake_lab, fake_lab_inventory (session); one lab for the whole test session.
pytest_plugins = ["tests.fakenos_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fakenos-lab"
INVENTORY_FILES = ("hosts.yaml", "groups.yaml", "defaults.yaml")
REJECTS = "'Invalid input' in result or 'Unknown command' in result"

WORKFLOW = f"""\
workflow:
  name: lab_report
  description: Clock of every device over SSH, reused in later tasks and in a report per host.
  vars:
    report_dir: output
    clock_command: show clock
    junos_clock_command: show system uptime
  tasks:
    - name: nornir_netmiko.tasks.netmiko_send_command
      args:
        command_string: "{{{{ clock_command }}}}"
      if: "host.platform in ['cisco_ios', 'arista_eos']"
      set_to: clock
      failed_when: "{REJECTS}"
    - name: nornir_netmiko.tasks.netmiko_send_command
      args:
        command_string: "{{{{ junos_clock_command }}}}"
      when: {{platform: juniper_junos}}
      set_to: clock
      failed_when: "{REJECTS}"
    - name: echo
      args:
        msg: "{{{{ host.name }}}} time {{{{ clock | regex_search('[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}') }}}}"
      set_to: {{clock_time: result}}
    - name: echo
      args:
        msg: "leader {{{{ host.name }}}}: {{{{ clock_time }}}}"
      if: "host.platform != 'cisco_ios'"
      run_once: true
    - name: write_file
      args:
        filename: "{{{{ report_dir }}}}/{{{{ host.name }}}}.txt"
        content: |
          {{{{ host.name }}}} {{{{ host.platform }}}}
          {{{{ clock_time }}}}
          ---
          {{{{ clock }}}}
      output: false
"""

#: The first line of each platform's clock output; IOS and EOS give the device's (our) local time now.
CLOCK_LINE = {
    # '*05:23:03.000 UTC Tue Nov 24 2026'
    "cisco_ios": re.compile(r"\*(?P<time>\d{2}:\d{2}:\d{2})\.000 \S+ (?P<date>\w{3} \w{3} \d{2} \d{4})"),
    # 'Tue Nov 24 05:23:04 2026' (then blank lines, 'Timezone: ...', 'Clock source: local')
    "arista_eos": re.compile(r"(?P<date>\w{3} \w{3} \d{2}) (?P<time>\d{2}:\d{2}:\d{2}) (?P<year>\d{4})"),
    # Junos has no 'show clock'; FakeNOS' canned 'show system uptime' starts with the current time
    "juniper_junos": re.compile(r"Current time: (?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) \w+"),
}


@dataclass
class LabRun:
    """One ``nornflow run --json`` of a project and what it produced."""

    cli: CliResult
    data: dict[str, Any]
    reports: Path
    hosts: dict[str, Any]

    @property
    def console(self) -> str:
        """The human output (on stderr with ``--json``)."""
        return self.cli.stderr

    def task(self, index: int) -> dict[str, Any]:
        """Per-host results of task number ``index``."""
        return self.data["tasks"][index]["hosts"]


def _check_clock(platform: str, output: str) -> str:
    """Assert ``output`` is the platform's real clock output (IOS/EOS: now); return its first line."""
    first = output.strip().splitlines()[0]
    match = CLOCK_LINE[platform].fullmatch(first)
    assert match, (platform, output)
    if platform == "arista_eos":
        assert output.rstrip().endswith("Clock source: local"), output
        stamp = datetime.strptime(f"{match['date']} {match['year']} {match['time']}", "%a %b %d %Y %H:%M:%S")
    elif platform == "cisco_ios":
        stamp = datetime.strptime(f"{match['date']} {match['time']}", "%a %b %d %Y %H:%M:%S")
    else:
        assert "System booted:" in output, output
        return first
    assert abs(datetime.now() - stamp) < timedelta(minutes=5), (first, datetime.now())
    return first


@contextmanager
def _closed_port() -> Iterator[int]:
    """Yield a loopback port that is bound (nobody else gets it) but not listening: connect is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _copy_inventory(hosts_file: Path, directory: Path) -> Path:
    """Copy the lab's hosts/groups/defaults files into ``directory``; return the new hosts file."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in INVENTORY_FILES:
        shutil.copy(hosts_file.with_name(name), directory / name)
    return directory / "hosts.yaml"


def _inventory_files(hosts_file: Path) -> dict[str, str]:
    """``host_file``/``group_file``/``defaults_file`` options for the inventory next to ``hosts_file``."""
    keys = ("host_file", "group_file", "defaults_file")
    return {key: str(hosts_file.with_name(name)) for key, name in zip(keys, INVENTORY_FILES, strict=True)}


def _make_project(root: Path, hosts_file: Path) -> Path:
    """A project whose Nornir config file points at ``hosts_file`` (and its groups/defaults)."""
    (root / "workflows").mkdir(parents=True)
    (root / "workflows" / "lab_report.yaml").write_text(WORKFLOW, encoding="utf-8")
    nornir_config = {
        "inventory": {"plugin": "nornflow.YAMLInventory", "options": _inventory_files(hosts_file)},
        "logging": {"enabled": False},
    }
    (root / "nornir.yaml").write_text(yaml.safe_dump(nornir_config), encoding="utf-8")
    (root / "nornflow.yaml").write_text("nornir_config_file: nornir.yaml\n", encoding="utf-8")
    return root


def _run_json(project: Path, hosts_file: Path, *args: str) -> LabRun:
    """``nornflow run lab_report --json`` on ``project`` from a fresh connection-plugin registry."""
    reports = project / "reports"
    args = ("--vars", f"report_dir={reports}", *args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ConnectionPluginRegister, "available", {})
        cli = CliRunner().invoke(
            app,
            ["run", "lab_report", "--project", str(project), "--workers", "8", "--json", *args],
            catch_exceptions=False,
        )
    try:
        data = json.loads(cli.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON on stdout (exit {cli.exit_code}):\n{cli.stdout}\n{cli.stderr}")
    return LabRun(cli, data, reports, yaml.safe_load(hosts_file.read_text(encoding="utf-8")))


# -- a healthy run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_run(fake_lab_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> LabRun:
    """The workflow run once on the four healthy lab devices."""
    project = _make_project(tmp_path_factory.mktemp("lab_project"), fake_lab_inventory)
    return _run_json(project, fake_lab_inventory)


def test_run_completes_on_every_device(lab_run: LabRun) -> None:
    assert lab_run.cli.exit_code == 0, lab_run.console
    data = lab_run.data
    assert data["status"] == "ok" and data["exit_code"] == 0 and data["failed_hosts"] == []
    assert data["hosts"] == list(lab_run.hosts) == ["r1", "r2", "sw1", "j1"]
    counts = [task["counts"] for task in data["tasks"]]
    assert [(c["ok"], c["changed"], c["failed"], c["skipped"]) for c in counts] == [
        (3, 0, 0, 1),
        (1, 0, 0, 3),
        (4, 0, 0, 0),
        (1, 0, 0, 3),
        (0, 4, 0, 0),
    ]
    assert "workflow lab_report: 5 task(s) on 4 host(s)" in lab_run.console
    assert "OK 4 host(s): 4 ok, 0 failed" in lab_run.console


def test_if_and_when_pick_the_platform_command(lab_run: LabRun) -> None:
    ios_eos, junos = lab_run.task(0), lab_run.task(1)
    for name, host in lab_run.hosts.items():
        platform = host["platform"]
        ran, skipped = (junos, ios_eos) if platform == "juniper_junos" else (ios_eos, junos)
        assert ran[name]["status"] == "ok", ran[name]
        _check_clock(platform, ran[name]["result"])
        assert skipped[name]["status"] == "skipped" and skipped[name]["result"] is None
    assert ios_eos["j1"]["skip_reason"] == "if condition is false"
    assert junos["r1"]["skip_reason"] == "when condition is false"
    # the device's own reply, not something nornflow made up
    assert ios_eos["r1"]["result"].startswith("*") and junos["j1"]["result"].startswith("Current time: ")
    assert re.search(r"ok\s+r1: \*\d{2}:\d{2}:\d{2}\.000 ", lab_run.console)
    assert re.search(r"ok\s+j1: Current time: \d{4}-", lab_run.console)


def test_set_to_keeps_device_output_for_later_tasks(lab_run: LabRun) -> None:
    variables = lab_run.data["variables"]
    assert set(variables) == set(lab_run.hosts)
    for name, host in lab_run.hosts.items():
        command_task = lab_run.task(1 if host["platform"] == "juniper_junos" else 0)
        clock = variables[name]["clock"]
        assert clock == command_task[name]["result"]  # stored as the device sent it
        first = _check_clock(host["platform"], clock)
        time_of_day = re.search(r"\d{2}:\d{2}:\d{2}", first)
        assert time_of_day is not None
        # task 3 used the stored output in its args and stored its own result (set_to mapping form)
        assert variables[name]["clock_time"] == f"{name} time {time_of_day[0]}"
        assert lab_run.task(2)[name]["result"] == variables[name]["clock_time"]
    assert variables["j1"]["clock_time"] == "j1 time 12:29:34"  # FakeNOS' canned Junos uptime


def test_run_once_runs_on_the_first_eligible_host_only(lab_run: LabRun) -> None:
    once = lab_run.task(3)
    ran = [name for name, r in once.items() if r["status"] == "ok"]
    eligible = [name for name, host in lab_run.hosts.items() if host["platform"] != "cisco_ios"]
    assert ran == [eligible[0]] == ["sw1"]
    assert once["sw1"]["result"] == f"leader sw1: {lab_run.data['variables']['sw1']['clock_time']}"
    assert once["j1"]["skip_reason"] == "run_once: ran on another host"
    assert once["r1"]["skip_reason"] == once["r2"]["skip_reason"] == "if condition is false"


def test_reports_hold_the_device_output(lab_run: LabRun) -> None:
    written = lab_run.task(4)
    assert sorted(p.name for p in lab_run.reports.iterdir()) == ["j1.txt", "r1.txt", "r2.txt", "sw1.txt"]
    for name, host in lab_run.hosts.items():
        path = lab_run.reports / f"{name}.txt"
        assert written[name]["status"] == "changed"
        assert written[name]["result"]["path"].endswith(f"/reports/{name}.txt")
        header, clock_time, separator, *output = path.read_text(encoding="utf-8").splitlines()
        assert header == f"{name} {host['platform']}"
        assert clock_time == lab_run.data["variables"][name]["clock_time"]
        assert separator == "---"
        _check_clock(host["platform"], "\n".join(output))
    junos = (lab_run.reports / "j1.txt").read_text(encoding="utf-8")
    assert "Current time: 2021-08-31 12:29:34" in junos and "by admin" in junos
    # the CLI masks the device password ('admin') in what it prints, not in what tasks write
    assert "by ********" in lab_run.task(1)["j1"]["result"]
    # output: false hides write_file's summary but not its status
    assert re.search(r"changed\s+r1\n", lab_run.console) and str(lab_run.reports) not in lab_run.console


# -- failures over the wire --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failure_run(fake_lab_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> LabRun:
    """The same workflow on a copy of the inventory with broken hosts, in one run.

    r2: wrong password; sw1: a port with nothing listening; j1: a command the device rejects (made a
    failure by ``failed_when``); r1 and r3 (a second login to r1's device) are healthy.
    """
    root = tmp_path_factory.mktemp("broken_lab")
    hosts_file = _copy_inventory(fake_lab_inventory, root / "inventory")
    hosts = yaml.safe_load(hosts_file.read_text(encoding="utf-8"))
    hosts["r2"]["password"] = "not-the-password"
    hosts["r3"] = copy.deepcopy(hosts["r1"])
    with _closed_port() as port:
        hosts["sw1"]["port"] = port
        hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")
        project = _make_project(root / "project", hosts_file)
        return _run_json(project, hosts_file, "--vars", "junos_clock_command=show system frobnicator")


def test_failures_fail_only_their_hosts_with_clear_errors(failure_run: LabRun) -> None:
    data = failure_run.data
    assert failure_run.cli.exit_code == 1 and data["exit_code"] == 1 and data["status"] == "failed"
    assert data["hosts"] == ["r1", "r2", "sw1", "j1", "r3"]
    assert data["failed_hosts"] == ["r2", "sw1", "j1"]
    ios_eos, junos = failure_run.task(0), failure_run.task(1)
    port = failure_run.hosts["sw1"]["port"]

    auth = ios_eos["r2"]["error"]
    assert auth["type"] == "NetmikoAuthenticationException"
    assert auth["message"].startswith("Authentication to device failed.")
    tcp = ios_eos["sw1"]["error"]
    assert tcp["type"] == "NetmikoTimeoutException"
    assert tcp["message"].startswith("TCP connection to device failed.")
    assert f"127.0.0.1:{port}" in tcp["message"]
    rejected = junos["j1"]
    assert rejected["status"] == "failed" and rejected["result"] == "Unknown command"  # the device's reply
    assert rejected["error"] == {
        "type": "ConditionFailed",
        "message": f"failed_when condition is true: {REJECTS}",
        "hook": "failed_when",
    }
    assert ios_eos["j1"]["status"] == "skipped"

    for name in ("r1", "r3"):  # the healthy hosts go through every task
        _check_clock("cisco_ios", ios_eos[name]["result"])
        assert [failure_run.task(i)[name]["status"] for i in range(5)] == [
            "ok",
            "skipped",
            "ok",
            "skipped",
            "changed",
        ]
    for name in data["failed_hosts"]:  # failed hosts are left out of the later tasks
        assert {failure_run.task(i)[name]["skip_reason"] for i in (2, 3, 4)} == {"failed in an earlier task"}
    assert failure_run.data["tasks"][3]["counts"]["ok"] == 0  # run_once: every eligible host had failed
    assert sorted(p.name for p in failure_run.reports.iterdir()) == ["r1.txt", "r3.txt"]


def test_failures_are_named_on_the_console(failure_run: LabRun) -> None:
    console = failure_run.console
    assert re.search(r"failed\s+r2: NetmikoAuthenticationException: Authentication to device failed", console)
    assert re.search(r"failed\s+sw1: NetmikoTimeoutException: TCP connection to device failed", console)
    hook_line = r"failed\s+j1 \[hook failed_when\]: ConditionFailed: failed_when condition is true"
    assert re.search(hook_line, console)
    assert "FAILED 5 host(s): 2 ok, 3 failed" in console
    assert "not-the-password" not in console + failure_run.cli.stdout  # secrets stay masked


# -- the example project ------------------------------------------------------------------------------


@pytest.mark.source_tree  # reads examples/fakenos-lab
def test_example_project_runs_against_the_lab(
    fake_lab: FakeLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    assert "python -m nornflow.contrib.fakenos_lab --inventory-dir examples/fakenos-lab/inventory" in readme
    assert "nornflow run lab_report" in readme
    ignored = (EXAMPLE / ".gitignore").read_text(encoding="utf-8").split()
    assert "/inventory/" in ignored and "/output/" in ignored
    settings = yaml.safe_load((EXAMPLE / "nornflow.yaml").read_text(encoding="utf-8"))
    assert settings["inventory"]["host_file"] == "inventory/hosts.yaml"

    project = tmp_path / "fakenos-lab"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("inventory", "output", "__pycache__"))
    fake_lab.write_inventory(project / "inventory")
    monkeypatch.chdir(project)  # as the README says: cd examples/fakenos-lab
    monkeypatch.setattr(ConnectionPluginRegister, "available", {})  # as in a fresh process
    runner = CliRunner()
    validated = runner.invoke(app, ["validate", "lab_report"], catch_exceptions=False)
    assert validated.exit_code == 0 and "valid" in validated.stdout, validated.output
    result = runner.invoke(app, ["run", "lab_report"], catch_exceptions=False)

    out = result.stdout
    assert result.exit_code == 0, result.output
    assert "workflow lab_report: 5 task(s) on 4 host(s)" in out
    assert "OK 4 host(s): 4 ok, 0 failed" in out
    assert re.search(r"ok\s+sw1: reference clock taken from sw1 \(arista_eos\): \w{3} \w{3} ", out)
    assert re.search(r"ok\s+j1: Current time: 2021-08-31 12:29:34", out)
    for device in fake_lab.devices:
        report = (project / "output" / f"{device['name']}.txt").read_text(encoding="utf-8")
        head, _, output = report.partition("\n\n")
        assert f"address: 127.0.0.1:{device['port']}" in head
        first = _check_clock(device["platform"], output)
        assert f"clock: {first}" in head


# -- inventory section projects ----------------------------------------------------------------------


def test_inventory_section_projects_can_use_netmiko(
    fake_lab_inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"inventory": _inventory_files(fake_lab_inventory)}
    (tmp_path / "nornflow.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "lab_report.yaml").write_text(WORKFLOW, encoding="utf-8")
    monkeypatch.setattr(ConnectionPluginRegister, "available", {})  # as in a fresh process
    args = [
        "run",
        "lab_report",
        "-C",
        str(tmp_path),
        "-f",
        "hosts=r1",
        "-e",
        f"report_dir={tmp_path}",
        "--json",
    ]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    r1 = json.loads(result.stdout)["tasks"][0]["hosts"]["r1"]
    assert "PluginNotRegistered" not in json.dumps(r1)
    assert result.exit_code == 0 and r1["status"] == "ok", r1
    _check_clock("cisco_ios", r1["result"])
