"""Pytest fixtures that run a FakeNOS lab (simulated SSH network devices on 127.0.0.1) for a test session.

Fixtures: ``fake_lab`` (session: a started ``FakeLab`` with r1, r2 = cisco_ios, sw1 = arista_eos,
j1 = juniper_junos), ``fake_lab_inventory`` (session: path of its ``hosts.yaml``) and ``fake_nornir``
(per test: a fresh Nornir on that inventory, connections closed afterwards).  ``nornir_factory`` (per
test) makes such a Nornir for a lab of your own: ``nornir_factory(lab.write_inventory(tmp_path))``.

Use them from a test module in either way (``tests/conftest.py`` needs no change)::

    pytest_plugins = ["tests.fakenos_fixtures"]                          # preferred

    from tests.fakenos_fixtures import fake_lab, fake_nornir  # noqa: F401  # also works

Pytest registers an *imported* fixture once per importing module, so a session fixture imported into
several modules would normally run once per module.  The lab is therefore shared and reference-counted:
whichever way the fixtures are used, a single lab runs, started on first use and stopped at the end of
the session (also when tests fail).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fakenos")
pytest.importorskip("nornir_netmiko")

from nornir import InitNornir
from nornir.core import Nornir

from nornflow.contrib.fakenos_lab import FakeLab

__all__ = ["fake_lab", "fake_lab_inventory", "fake_nornir", "lab_nornir", "nornir_factory"]


class _SharedLab:
    """One reference-counted FakeLab for the whole session."""

    def __init__(self) -> None:
        """Hold no lab yet."""
        self._lock = threading.Lock()
        self._lab: FakeLab | None = None
        self._users = 0

    def acquire(self) -> FakeLab:
        """Return the session's lab, starting it on first use."""
        with self._lock:
            if self._lab is None:
                lab = FakeLab()  # r1, r2 (cisco_ios), sw1 (arista_eos), j1 (juniper_junos)
                lab.start()  # cleans up after itself if it fails
                self._lab = lab
            self._users += 1
            return self._lab

    def release(self) -> None:
        """Drop one reference and stop the lab when none is left."""
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._lab is not None:
                lab, self._lab = self._lab, None
                lab.stop()


_SHARED = _SharedLab()


def lab_nornir(hosts_file: Path, num_workers: int = 20) -> Nornir:
    """Return a Nornir (threaded runner, file logging off) on the inventory written by ``write_inventory``."""
    return InitNornir(
        runner={"plugin": "threaded", "options": {"num_workers": num_workers}},
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(hosts_file),
                "group_file": str(hosts_file.with_name("groups.yaml")),
                "defaults_file": str(hosts_file.with_name("defaults.yaml")),
            },
        },
        logging={"enabled": False},
    )


@pytest.fixture(scope="session")
def fake_lab() -> Iterator[FakeLab]:
    """A running 4-device FakeNOS lab shared by the whole test session; always stopped at the end."""
    lab = _SHARED.acquire()
    try:
        yield lab
    finally:
        _SHARED.release()


@pytest.fixture(scope="session")
def fake_lab_inventory(fake_lab: FakeLab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the ``hosts.yaml`` of a SimpleInventory for ``fake_lab`` (groups/defaults next to it)."""
    return fake_lab.write_inventory(tmp_path_factory.mktemp("fakenos_inventory"))


@pytest.fixture
def fake_nornir(fake_lab_inventory: Path) -> Iterator[Nornir]:
    """A fresh Nornir on the session lab for one test; its connections are closed afterwards."""
    nr = lab_nornir(fake_lab_inventory)
    try:
        yield nr
    finally:
        nr.close_connections()


@pytest.fixture
def nornir_factory() -> Iterator[Callable[[Path], Nornir]]:
    """``nornir_factory(hosts_file)`` -> Nornir for a lab of your own; connections closed after the test."""
    created: list[Nornir] = []

    def make(hosts_file: Path) -> Nornir:
        nr = lab_nornir(hosts_file)
        created.append(nr)
        return nr

    try:
        yield make
    finally:
        for nr in created:
            nr.close_connections()
