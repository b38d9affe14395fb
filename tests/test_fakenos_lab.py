"""End-to-end checks of nornflow.contrib.fakenos_lab: FakeNOS devices on 127.0.0.1 driven by Nornir."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

pytest.importorskip("fakenos")
pytest.importorskip("nornir_netmiko")

from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
from nornir.core import Nornir
from nornir.core.task import Result, Task
from nornir_netmiko.tasks import netmiko_send_command

from nornflow.contrib import fakenos_lab
from nornflow.contrib.fakenos_lab import (
    NETMIKO_EXTRAS,
    PLATFORMS,
    FakeLab,
    FakeLabError,
    default_devices,
)

pytestmark = pytest.mark.fakenos

# Fixtures: fake_lab, fake_lab_inventory (session), fake_nornir, nornir_factory (per test); one lab in all.
pytest_plugins = ["tests.fakenos_fixtures"]

ROOT = Path(__file__).resolve().parents[1]

CLOCK_OUTPUT = {
    # '*05:23:03.000 UTC Tue Nov 24 2026' (the real current time)
    "cisco_ios": re.compile(r"\A\*\d{2}:\d{2}:\d{2}\.\d{3} \S+ \w{3} \w{3} \d{2} \d{4}\Z"),
    # 'Tue Nov 24 05:23:04 2026\n\n...Timezone: UTC\nClock source: local'
    "arista_eos": re.compile(r"\A\w{3} \w{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\n(.|\n)*Clock source: local\Z"),
    # Junos has no 'show clock'; 'show system uptime' starts with the current time
    "juniper_junos": re.compile(r"\ACurrent time: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \w+\n"),
}

VERSION_OUTPUT = {
    "cisco_ios": "Cisco IOS XE Software, Version 17.03.01a",
    "arista_eos": "cEOSLab",
    "juniper_junos": "JUNOS EX  Software Suite [13.2X51-D35.3]",
}


def _send_clock(task: Task) -> Result:
    """Run the platform's clock-like command (valid in user mode)."""
    command = PLATFORMS[str(task.host.platform)].clock_command
    return Result(host=task.host, result=task.run(netmiko_send_command, command_string=command).result)


def _refused(host: str, port: int) -> bool:
    """Return True if nothing accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def _wait_for_threads(before: set[threading.Thread], timeout: float = 5.0) -> list[str]:
    """Wait until no thread started after ``before`` is alive; return the names still running."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(t.name for t in set(threading.enumerate()) - before if t.is_alive())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@contextmanager
def _closed_port() -> Iterator[int]:
    """Yield a loopback port that is bound (so nobody else gets it) but not listening: connect is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- the lab and its inventory ------------------------------------------------------------------------


def test_lab_devices_have_distinct_ports(fake_lab: FakeLab) -> None:
    assert fake_lab.running
    assert [(d["name"], d["platform"]) for d in fake_lab.devices] == [
        ("r1", "cisco_ios"),
        ("r2", "cisco_ios"),
        ("sw1", "arista_eos"),
        ("j1", "juniper_junos"),
    ]
    ports = [d["port"] for d in fake_lab.devices]
    assert len(set(ports)) == 4 and all(1024 < p < 65536 for p in ports)
    assert all(d["username"] == "admin" and d["password"] == "admin" for d in fake_lab.devices)


def test_inventory_files(fake_lab: FakeLab, fake_lab_inventory: Path) -> None:
    hosts = yaml.safe_load(fake_lab_inventory.read_text())
    groups = yaml.safe_load(fake_lab_inventory.with_name("groups.yaml").read_text())
    defaults = yaml.safe_load(fake_lab_inventory.with_name("defaults.yaml").read_text())
    assert fake_lab_inventory.name == "hosts.yaml"
    assert set(hosts) == {"r1", "r2", "sw1", "j1"}
    for device in fake_lab.devices:
        host = hosts[device["name"]]
        assert host["hostname"] == "127.0.0.1"
        assert host["port"] == device["port"]
        assert host["platform"] == device["platform"]
        assert host["username"] == host["password"] == "admin"
        assert host["groups"] == [PLATFORMS[device["platform"]].group]
        assert host["data"] == {"site": "lab", "role": PLATFORMS[device["platform"]].role}
        assert host["connection_options"]["netmiko"]["extras"] == NETMIKO_EXTRAS
    assert hosts["sw1"]["data"]["role"] == "switch"
    assert groups == {
        "ios": {"data": {"vendor": "cisco", "os": "ios"}},
        "eos": {"data": {"vendor": "arista", "os": "eos"}},
        "junos": {"data": {"vendor": "juniper", "os": "junos"}},
    }
    assert defaults == {"data": {"lab": "fakenos"}}


def test_nornir_loads_the_inventory(fake_nornir: Nornir) -> None:
    inventory = fake_nornir.inventory
    assert sorted(inventory.hosts) == ["j1", "r1", "r2", "sw1"]
    assert sorted(fake_nornir.filter(role="router").inventory.hosts) == ["j1", "r1", "r2"]
    assert inventory.hosts["sw1"]["vendor"] == "arista"  # group data
    assert inventory.hosts["r1"]["lab"] == "fakenos"  # defaults data


# -- commands -----------------------------------------------------------------------------------------


def test_clock_command_returns_device_output_on_every_host(fake_nornir: Nornir) -> None:
    results = fake_nornir.run(_send_clock)
    assert not results.failed, {h: r.exception for h, r in results.items()}
    for name, multi in results.items():
        platform = str(fake_nornir.inventory.hosts[name].platform)
        output = multi[0].result
        assert CLOCK_OUTPUT[platform].search(output), (name, output)
    assert results["r1"][0].result.startswith("*")  # the IOS clock is unsynchronised, as on a real router


def test_show_version_with_enable_on_every_host(fake_nornir: Nornir) -> None:
    results = fake_nornir.run(netmiko_send_command, command_string="show version", enable=True)
    assert not results.failed
    for name, multi in results.items():
        platform = str(fake_nornir.inventory.hosts[name].platform)
        assert VERSION_OUTPUT[platform] in multi[0].result, (name, multi[0].result[:200])
    # enable really switched the IOS/EOS prompt to privileged mode
    for name in ("r1", "sw1"):
        connection = fake_nornir.inventory.hosts[name].get_connection("netmiko", fake_nornir.config)
        assert connection.find_prompt() == f"{name}#"


def test_rejected_command_is_returned_as_plain_output(fake_nornir: Nornir) -> None:
    results = fake_nornir.run(netmiko_send_command, command_string="show frobnicator")
    # FakeNOS answers like the device would and Netmiko returns that text: no exception, not failed.
    assert not results.failed
    replies = {name: multi[0].result for name, multi in results.items()}
    assert replies == {
        "r1": "% Invalid input detected at '^' marker.",
        "r2": "% Invalid input detected at '^' marker.",
        "sw1": "% Invalid input",
        "j1": "Unknown command",
    }
    assert all(
        PLATFORMS[str(h.platform)].invalid_reply == replies[n] for n, h in fake_nornir.inventory.hosts.items()
    )


def test_privileged_command_without_enable_is_rejected(fake_nornir: Nornir) -> None:
    ios = fake_nornir.filter(platform="cisco_ios")
    results = ios.run(netmiko_send_command, command_string="show version")
    assert not results.failed
    assert {multi[0].result for multi in results.values()} == {"% Invalid input detected at '^' marker."}


# -- failures -----------------------------------------------------------------------------------------


def test_wrong_password_fails_only_that_host(fake_nornir: Nornir) -> None:
    fake_nornir.inventory.hosts["r2"].password = "not-the-password"
    started = time.monotonic()
    results = fake_nornir.run(netmiko_send_command, command_string="show version", enable=True)
    assert time.monotonic() - started < 10
    assert set(results.failed_hosts) == {"r2"}
    error = results["r2"][0].exception
    assert isinstance(error, NetmikoAuthenticationException)
    assert str(error).startswith("Authentication to device failed.")
    assert "Device settings: cisco_ios 127.0.0.1:" in str(error)
    for name in ("r1", "sw1", "j1"):
        platform = str(fake_nornir.inventory.hosts[name].platform)
        assert VERSION_OUTPUT[platform] in results[name][0].result


def test_closed_port_fails_fast_only_that_host(fake_nornir: Nornir) -> None:
    sw1 = fake_nornir.inventory.hosts["sw1"]
    with _closed_port() as port:
        sw1.port = port
        sw1.connection_options["netmiko"].extras["conn_timeout"] = 1
        started = time.monotonic()
        results = fake_nornir.run(netmiko_send_command, command_string="show version", enable=True)
        elapsed = time.monotonic() - started
    assert set(results.failed_hosts) == {"sw1"}
    error = results["sw1"][0].exception
    assert isinstance(error, NetmikoTimeoutException)
    assert str(error).startswith("TCP connection to device failed.")
    assert f"Device settings: arista_eos 127.0.0.1:{port}" in str(error)
    assert elapsed < 5  # the refused connection is immediate; the other hosts take ~1 s to log in
    for name in ("r1", "r2", "j1"):
        platform = str(fake_nornir.inventory.hosts[name].platform)
        assert VERSION_OUTPUT[platform] in results[name][0].result


# -- lifecycle ----------------------------------------------------------------------------------------


def test_own_lab_stop_frees_ports_and_leaves_no_threads(
    tmp_path: Path, nornir_factory: Callable[[Path], Nornir]
) -> None:
    before = set(threading.enumerate())
    devices = [("a1", "cisco_ios"), ("a2", "juniper_junos"), ("n1", "cisco_nxos")]
    lab = FakeLab(devices, username="u", password="p", site="dc2")
    assert lab.devices[0]["port"] is None and not lab.running
    with lab:
        ports = [d["port"] for d in lab.devices]
        nr = nornir_factory(lab.write_inventory(tmp_path))
        assert nr.inventory.hosts["n1"].groups[0].name == "nxos" and nr.inventory.hosts["n1"]["site"] == "dc2"
        results = nr.run(_send_clock)
        assert not results.failed
        assert CLOCK_OUTPUT["cisco_ios"].search(results["a1"][0].result)
        assert results["n1"][0].result == "18:57:38.347 UTC Mon Oct 19 2015"  # canned NX-OS output
        assert (
            "cisco Nexus 5596 Chassis"
            in nr.run(netmiko_send_command, command_string="show version")["n1"][0].result
        )
        # a failed login right before stop(): its server thread must not be left waiting for a channel
        nr.inventory.hosts["a1"].password = "wrong"
        nr.inventory.hosts["a1"].close_connection("netmiko")
        assert set(nr.run(_send_clock).failed_hosts) == {"a1"}
        # the a2 and n1 SSH sessions are still open when the lab stops
    assert not lab.running
    assert all(_refused("127.0.0.1", port) for port in ports)
    lab.stop()  # idempotent
    nr.close_connections()  # the servers are gone: closing must not raise
    assert _wait_for_threads(before) == []


def test_start_failure_stops_every_server(monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[int] = []

    def second_never_ready(host: str, port: int, deadline: float) -> None:
        waited.append(port)
        if len(waited) == 2:
            raise TimeoutError("simulated")

    monkeypatch.setattr(fakenos_lab, "_wait_for_ssh", second_never_ready)
    before = set(threading.enumerate())
    lab = FakeLab([("b1", "cisco_ios"), ("b2", "arista_eos"), ("b3", "cisco_ios")])
    with pytest.raises(FakeLabError, match=r"device 'b2' \(arista_eos\) did not accept SSH connections"):
        with lab:
            pytest.fail("the body must not run")
    assert not lab.running and len(waited) == 2
    assert all(_refused("127.0.0.1", d["port"]) for d in lab.devices)
    assert _wait_for_threads(before) == []


def test_start_retries_when_a_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    real_start_once = FakeLab._start_once
    calls: list[int] = []

    def flaky_start_once(self: FakeLab) -> None:
        calls.append(1)
        real_start_once(self)
        if len(calls) == 1:  # as if another process had grabbed a port in between
            raise OSError(errno.EADDRINUSE, "Address already in use")

    monkeypatch.setattr(FakeLab, "_start_once", flaky_start_once)
    with FakeLab([("c1", "cisco_ios")]) as lab:
        assert len(calls) == 2 and lab.running
        port = lab.devices[0]["port"]
        assert not _refused("127.0.0.1", port)
    assert _refused("127.0.0.1", port)


def test_invalid_lab_definitions_are_rejected() -> None:
    with pytest.raises(ValueError, match="not supported"):
        FakeLab([("x1", "commodore_64")])
    with pytest.raises(ValueError, match="duplicate"):
        FakeLab([("x1", "cisco_ios"), ("x1", "arista_eos")])
    with pytest.raises(ValueError, match="IPv4"):
        FakeLab(host="localhost")
    with pytest.raises(FakeLabError, match="start the lab"):
        FakeLab().write_inventory(Path("unused"))


def test_default_devices() -> None:
    assert default_devices() == [
        ("r1", "cisco_ios"),
        ("r2", "cisco_ios"),
        ("sw1", "arista_eos"),
        ("j1", "juniper_junos"),
    ]
    assert [name for name, _ in default_devices(6)] == ["r1", "r2", "sw1", "j1", "r3", "r4"]
    with pytest.raises(ValueError):
        default_devices(0)


def test_command_line_serves_until_ctrl_c(tmp_path: Path) -> None:
    inventory_dir = tmp_path / "inventory"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nornflow.contrib.fakenos_lab",
            "--inventory-dir",
            str(inventory_dir),
            "--devices",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(30, proc.kill)
    killer.start()
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert lines and lines[-1].startswith("Press Ctrl-C"), "".join(lines) + (
            proc.stderr.read() if proc.stderr else ""
        )
        assert lines[0].startswith("FakeNOS lab: 2 device(s) ready in ")
        hosts = yaml.safe_load((inventory_dir / "hosts.yaml").read_text())
        assert sorted(hosts) == ["r1", "r2"]
        ports = [hosts[name]["port"] for name in ("r1", "r2")]
        assert any(f"ssh://127.0.0.1:{ports[0]}" in line for line in lines)
        assert not _refused("127.0.0.1", ports[1])
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "FakeNOS lab stopped." in out
    assert all(_refused("127.0.0.1", port) for port in ports)
