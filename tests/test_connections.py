"""Connection plugins are registered as Nornir's InitNornir would, but imported only when used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from nornir.core.plugins.connections import ConnectionPluginRegister

from nornflow.run.connections import LazyConnection, register_connection_plugins


@pytest.fixture
def empty_register(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A register as in a fresh process."""
    available: dict = {}
    monkeypatch.setattr(ConnectionPluginRegister, "available", available)
    return available


def test_plugins_are_registered_lazily_and_replaced_by_their_class_on_first_use(
    empty_register: dict,
) -> None:
    register_connection_plugins()
    lazy = empty_register["netmiko"]
    assert isinstance(lazy, LazyConnection)
    connection = ConnectionPluginRegister.get_plugin("netmiko")()  # what Host.open_connection does
    from nornir_netmiko.connections import Netmiko

    assert isinstance(connection, Netmiko)
    assert empty_register["netmiko"] is Netmiko
    assert lazy == Netmiko and lazy.load() is Netmiko


def test_a_later_init_nornir_auto_register_sees_no_conflict(empty_register: dict) -> None:
    register_connection_plugins()
    assert isinstance(empty_register["netmiko"], LazyConnection)
    ConnectionPluginRegister.auto_register()  # InitNornir's: same plugins, so no PluginAlreadyRegistered
    assert ConnectionPluginRegister.get_plugin("netmiko")() is not None


def test_a_run_that_opens_no_connection_imports_no_connection_plugin(tmp_path: Path) -> None:
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "hosts.yaml").write_text("r1:\n  hostname: 10.0.0.1\n")
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "w.yaml").write_text(
        "workflow:\n  name: w\n  tasks:\n    - name: echo\n      args: {msg: hi}\n"
    )
    (tmp_path / "nornflow.yaml").write_text("inventory:\n  host_file: inventory/hosts.yaml\n")
    script = textwrap.dedent(
        """
        import json, sys
        from nornflow.run.api import NornFlow
        result = NornFlow("nornflow.yaml").run("w", journal=False)
        print(json.dumps({"exit": result.exit_code,
                          "netmiko": "netmiko" in sys.modules,
                          "napalm": "napalm" in sys.modules}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"exit": 0, "netmiko": False, "napalm": False}
