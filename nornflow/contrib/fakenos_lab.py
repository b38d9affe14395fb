"""A throw-away lab of simulated network devices (FakeNOS SSH servers) on the loopback interface.

``FakeLab`` starts one FakeNOS SSH server per device inside the current process (each server runs in
its own threads), on free ports of ``127.0.0.1``, and writes a Nornir ``SimpleInventory`` that points
at them.  Nothing leaves the machine: it is meant for tests, demos and example projects.

Library use::

    from pathlib import Path
    from nornir import InitNornir
    from nornir_netmiko.tasks import netmiko_send_command
    from nornflow.contrib.fakenos_lab import FakeLab

    with FakeLab() as lab:                      # r1, r2 (cisco_ios), sw1 (arista_eos), j1 (juniper_junos)
        hosts = lab.write_inventory(Path("inventory"))
        nr = InitNornir(
            inventory={"plugin": "SimpleInventory", "options": {
                "host_file": str(hosts),
                "group_file": str(hosts.with_name("groups.yaml")),
                "defaults_file": str(hosts.with_name("defaults.yaml")),
            }},
            logging={"enabled": False},
        )
        print(nr.run(netmiko_send_command, command_string="show version", enable=True))
        nr.close_connections()

Command line (runs until Ctrl-C)::

    python -m nornflow.contrib.fakenos_lab --inventory-dir inventory --devices 4

Only the platforms in ``PLATFORMS`` are offered: for them FakeNOS and Netmiko's device_type of the
same name were checked to work together (connect, commands, clean disconnect).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import itertools
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import yaml
from fakenos import FakeNOS
from fakenos.core.nos import Nos
from fakenos.plugins.nos import nos_plugins
from fakenos.plugins.servers.ssh_server_paramiko import ParamikoSshServer

__all__ = [
    "DEFAULT_DEVICES",
    "NETMIKO_EXTRAS",
    "PLATFORMS",
    "FakeLab",
    "FakeLabError",
    "PlatformProfile",
    "default_devices",
    "main",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformProfile:
    """What the lab knows about one FakeNOS platform (also its Netmiko device_type)."""

    group: str
    vendor: str
    role: str
    name_prefix: str
    clock_command: str
    version_command: str
    version_needs_enable: bool
    invalid_reply: str


#: Platforms checked to work with Netmiko's device_type of the same name.
#: ``clock_command`` works in user mode; ``version_command`` needs ``enable=True`` where flagged;
#: ``invalid_reply`` is the text the device answers to an unknown command (no exception is raised).
PLATFORMS: dict[str, PlatformProfile] = {
    "cisco_ios": PlatformProfile(
        group="ios",
        vendor="cisco",
        role="router",
        name_prefix="r",
        clock_command="show clock",
        version_command="show version",
        version_needs_enable=True,
        invalid_reply="% Invalid input detected at '^' marker.",
    ),
    "arista_eos": PlatformProfile(
        group="eos",
        vendor="arista",
        role="switch",
        name_prefix="sw",
        clock_command="show clock",
        version_command="show version",
        version_needs_enable=True,
        invalid_reply="% Invalid input",
    ),
    "juniper_junos": PlatformProfile(
        group="junos",
        vendor="juniper",
        role="router",
        name_prefix="j",
        clock_command="show system uptime",
        version_command="show version",
        version_needs_enable=False,
        invalid_reply="Unknown command",
    ),
    "cisco_nxos": PlatformProfile(
        group="nxos",
        vendor="cisco",
        role="switch",
        name_prefix="nx",
        clock_command="show clock",
        version_command="show version",
        version_needs_enable=False,
        invalid_reply="Unknown command",
    ),
}

#: The default lab: two IOS routers, an EOS switch and a Junos router.
DEFAULT_DEVICES: tuple[tuple[str, str], ...] = (
    ("r1", "cisco_ios"),
    ("r2", "cisco_ios"),
    ("sw1", "arista_eos"),
    ("j1", "juniper_junos"),
)

#: Netmiko ``ConnectHandler`` arguments written into every host's ``connection_options.netmiko.extras``.
#: Short timeouts make failures fast; keys, agent and ``~/.ssh/config`` are ignored so that the user's
#: SSH setup cannot interfere with the lab.
NETMIKO_EXTRAS: dict[str, Any] = {
    "fast_cli": True,
    "conn_timeout": 5,
    "auth_timeout": 5,
    "banner_timeout": 5,
    "timeout": 10,
    "session_timeout": 30,
    "use_keys": False,
    "allow_agent": False,
    "ssh_config_file": None,
}

_PLATFORM_CYCLE = ("cisco_ios", "cisco_ios", "arista_eos", "juniper_junos")
_READY_TIMEOUT = 10.0
_START_ATTEMPTS = 3
# FakeNOS binds its listening sockets with SO_REUSEPORT on Linux; there a port can stay reserved by
# our own (bound, never listening) socket until the server has taken it over.
_CAN_HOLD_PORTS = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


class FakeLabError(RuntimeError):
    """The lab could not be started or used."""


def default_devices(count: int = len(DEFAULT_DEVICES)) -> list[tuple[str, str]]:
    """Return ``count`` (name, platform) pairs cycling ios, ios, eos, junos (r1, r2, sw1, j1, r3, ...)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    numbers: dict[str, itertools.count[int]] = {}
    devices = []
    for platform in itertools.islice(itertools.cycle(_PLATFORM_CYCLE), count):
        prefix = PLATFORMS[platform].name_prefix
        number = next(numbers.setdefault(prefix, itertools.count(1)))
        devices.append((f"{prefix}{number}", platform))
    return devices


class _LabSshServer(ParamikoSshServer):
    """FakeNOS' Paramiko server, made quiet about aborted sessions and able to stop them all."""

    def connection_function(self, client: socket.socket, is_running: threading.Event) -> None:
        """Serve one client; a session that ends abnormally (failed login, probe) is only logged."""
        try:
            super().connection_function(client, is_running)
        except Exception as exc:
            log.debug("FakeNOS SSH session on port %s ended: %r", self.port, exc)

    def _close_active_connections(self) -> None:
        """Close every session and wake the workers still waiting for a channel.

        Paramiko does not notify ``Transport.accept()`` waiters when the transport is closed from
        another thread, so a worker whose client never opened a channel (e.g. a failed login) would
        otherwise block forever and leak its thread.
        """
        with self._active_sessions_lock:
            sessions = list(self._active_sessions)
        super()._close_active_connections()
        for session in sessions:
            condition = getattr(session, "server_accept_cv", None)
            if condition is not None:
                with condition:
                    condition.notify_all()


def _junos_nos() -> Nos:
    """Return FakeNOS' Junos model with real-looking prompts (``j1> ``) and paging replies."""
    nos = Nos(filename=nos_plugins["juniper_junos"])

    def spaced(prompt: str) -> str:
        return prompt if prompt.endswith(" ") else prompt + " "

    # Netmiko's Junos driver looks for "> "/"# " prompts; without the space its config-mode check
    # waits for its full read timeout on every disconnect.
    nos.name = "nornflow_juniper_junos"
    nos.initial_prompt = spaced(nos.initial_prompt)
    for command in nos.commands.values():
        prompt = command.get("prompt")
        if isinstance(prompt, str):
            command["prompt"] = spaced(prompt)
        elif isinstance(prompt, list):
            command["prompt"] = [spaced(item) for item in prompt]
        if command.get("new_prompt"):
            command["new_prompt"] = spaced(command["new_prompt"])
    all_prompts = ["{base_prompt}> ", "{base_prompt}# "]
    nos.commands["set cli complete-on-space off"] = {
        "output": "Disabling complete-on-space",
        "help": "Disable command completion on space",
        "prompt": all_prompts,
    }
    nos.commands["set cli screen-length 0"] = {
        "output": "Screen length set to 0",
        "help": "Disable paging",
        "prompt": all_prompts,
    }
    nos.validate()
    return nos


def _reserve_port(host: str) -> socket.socket:
    """Bind a socket to a free port of ``host`` (port 0) and return it, still bound."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if _CAN_HOLD_PORTS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _wait_for_ssh(host: str, port: int, deadline: float) -> None:
    """Block until ``host:port`` sends an SSH identification line, or raise ``TimeoutError``."""
    last_error: object = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(last_error)
        try:
            with socket.create_connection((host, port), timeout=min(1.0, remaining)) as sock:
                data = b""
                while b"\n" not in data and len(data) < 255:
                    chunk = sock.recv(255)
                    if not chunk:
                        break
                    data += chunk
            if data.startswith(b"SSH-"):
                return
            last_error = f"unexpected greeting {data[:40]!r}"
        except OSError as exc:
            last_error = exc
        time.sleep(0.02)


class FakeLab:
    """A set of FakeNOS SSH devices on free loopback ports; a context manager that always cleans up."""

    def __init__(
        self,
        devices: Sequence[tuple[str, str]] | None = None,
        *,
        username: str = "admin",
        password: str = "admin",
        host: str = "127.0.0.1",
        site: str = "lab",
        ready_timeout: float = _READY_TIMEOUT,
    ) -> None:
        """Describe the lab; nothing is started before ``start()`` or ``with``."""
        devices = list(DEFAULT_DEVICES if devices is None else devices)
        if not devices:
            raise ValueError("a lab needs at least one device")
        names = [name for name, _ in devices]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate device names: {duplicates}")
        for name, platform in devices:
            if platform not in PLATFORMS:
                raise ValueError(
                    f"device {name!r}: platform {platform!r} is not supported, use one of {sorted(PLATFORMS)}"
                )
        try:
            ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise ValueError(f"host must be an IPv4 address such as 127.0.0.1, not {host!r}") from exc
        self.username = username
        self.password = password
        self.host = host
        self.site = site
        self.ready_timeout = ready_timeout
        self._specs: list[tuple[str, str]] = [(str(name), str(platform)) for name, platform in devices]
        self._ports: dict[str, int] = {}
        self._net: FakeNOS | None = None
        self._lock = threading.RLock()

    # -- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> FakeLab:
        """Start the lab (``start()`` cleans up itself if it fails)."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop every server."""
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return self._net is not None

    def start(self) -> FakeLab:
        """Start every device on a free port and wait until all accept SSH; no-op if already running."""
        with self._lock:
            if self._net is not None:
                return self
            attempt = 0
            while True:
                attempt += 1
                try:
                    self._start_once()
                    return self
                except OSError as exc:
                    self.stop()
                    if exc.errno != errno.EADDRINUSE or attempt >= _START_ATTEMPTS:
                        raise FakeLabError(f"could not start the FakeNOS servers: {exc}") from exc
                    log.debug("port taken by someone else while starting (%s), retrying", exc)
                except BaseException:
                    self.stop()
                    raise

    def _start_once(self) -> None:
        """Reserve ports, start the servers and wait for them (one attempt; raises on failure)."""
        reservations = [_reserve_port(self.host) for _ in self._specs]
        try:
            self._ports = {
                name: sock.getsockname()[1] for (name, _), sock in zip(self._specs, reservations, strict=True)
            }
            if not _CAN_HOLD_PORTS:
                for sock in reservations:
                    sock.close()
            net = FakeNOS(inventory=self._fakenos_inventory(), plugins=[_junos_nos()])
            # The server plugin table is a per-instance copy: this does not affect other FakeNOS users.
            net.servers_plugins["ParamikoSshServer"] = _LabSshServer
            self._net = net
            net.start()
        finally:
            for sock in reservations:
                sock.close()
        deadline = time.monotonic() + self.ready_timeout
        for name, platform in self._specs:
            port = self._ports[name]
            try:
                _wait_for_ssh(self.host, port, deadline)
            except TimeoutError as exc:
                raise FakeLabError(
                    f"device {name!r} ({platform}) did not accept SSH connections on {self.host}:{port} "
                    f"within {self.ready_timeout:.1f}s (last error: {exc})"
                ) from None

    def _fakenos_inventory(self) -> dict[str, Any]:
        """Build the FakeNOS inventory for the current ports."""
        hosts: dict[str, Any] = {}
        for name, platform in self._specs:
            hosts[name] = {"port": self._ports[name], "platform": platform}
            if platform == "juniper_junos":
                hosts[name]["nos"] = {"plugin": "nornflow_juniper_junos"}
        return {
            "default": {
                "username": self.username,
                "password": self.password,
                "server": {
                    "plugin": "ParamikoSshServer",
                    "configuration": {"address": self.host, "timeout": 1, "watchdog_interval": 1},
                },
            },
            "hosts": hosts,
        }

    def stop(self) -> None:
        """Stop every server (in parallel, each waits up to ~2 s for its sessions); safe to call twice."""
        with self._lock:
            net, self._net = self._net, None
            if net is None:
                return
            errors: list[BaseException] = []

            def stop_host(name: str) -> None:
                try:
                    net.stop(hosts=name)
                except BaseException as exc:  # keep stopping the others
                    errors.append(exc)

            workers = [
                threading.Thread(target=stop_host, args=(name,), name=f"fakelab-stop-{name}")
                for name in net.hosts
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            if errors:
                raise FakeLabError(
                    f"{len(errors)} FakeNOS server(s) failed to stop: {errors[0]!r}"
                ) from errors[0]

    # -- description ---------------------------------------------------------------------------------

    @property
    def devices(self) -> list[dict[str, Any]]:
        """One dict per device: name, platform, port (None before the first start), username, password."""
        return [
            {
                "name": name,
                "platform": platform,
                "port": self._ports.get(name),
                "username": self.username,
                "password": self.password,
            }
            for name, platform in self._specs
        ]

    def write_inventory(self, directory: Path | str) -> Path:
        """Write SimpleInventory ``hosts.yaml``, ``groups.yaml``, ``defaults.yaml`` into ``directory``."""
        if not self._ports:
            raise FakeLabError("start the lab before writing its inventory (the ports are not known yet)")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        hosts: dict[str, Any] = {}
        groups: dict[str, Any] = {}
        for name, platform in self._specs:
            profile = PLATFORMS[platform]
            hosts[name] = {
                "hostname": self.host,
                "port": self._ports[name],
                "username": self.username,
                "password": self.password,
                "platform": platform,
                "groups": [profile.group],
                "data": {"site": self.site, "role": profile.role},
                "connection_options": {"netmiko": {"extras": dict(NETMIKO_EXTRAS)}},
            }
            groups[profile.group] = {"data": {"vendor": profile.vendor, "os": profile.group}}
        defaults = {"data": {"lab": "fakenos"}}
        hosts_file = directory / "hosts.yaml"
        for path, content in (
            (hosts_file, hosts),
            (directory / "groups.yaml", groups),
            (directory / "defaults.yaml", defaults),
        ):
            path.write_text(
                "# Generated by nornflow.contrib.fakenos_lab; ports change on every start.\n"
                + yaml.safe_dump(content, sort_keys=False, default_flow_style=False),
                encoding="utf-8",
            )
        return hosts_file


# -- command line --------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m nornflow.contrib.fakenos_lab",
        description="Run simulated network devices (FakeNOS) on 127.0.0.1 and write a Nornir inventory "
        "for them. Runs until Ctrl-C.",
    )
    parser.add_argument(
        "--inventory-dir", required=True, type=Path, help="where to write hosts/groups/defaults.yaml"
    )
    parser.add_argument(
        "--devices", type=int, default=len(DEFAULT_DEVICES), help="number of devices (default 4)"
    )
    parser.add_argument("--username", default="admin", help="login of every device (default admin)")
    parser.add_argument("--password", default="admin", help="password of every device (default admin)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show FakeNOS and Paramiko logs")
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error("--devices must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start the lab, write its inventory, print the devices and serve until Ctrl-C or SIGTERM."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if not args.verbose:
        # Clients that disconnect abruptly make FakeNOS and Paramiko log errors: expected in a lab.
        for noisy in ("fakenos", "paramiko"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)

    stop_requested = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    lab = FakeLab(default_devices(args.devices), username=args.username, password=args.password)
    try:
        started = time.monotonic()
        lab.start()
        elapsed = time.monotonic() - started
        hosts_file = lab.write_inventory(args.inventory_dir)
        print(f"FakeNOS lab: {len(lab.devices)} device(s) ready in {elapsed:.2f}s")
        for device in lab.devices:
            print(f"  {device['name']:<6} {device['platform']:<14} ssh://{lab.host}:{device['port']}")
        print(f"login {args.username}/{args.password}; inventory written to {hosts_file.parent.resolve()}")
        print("Press Ctrl-C to stop.", flush=True)
        while not stop_requested.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
        signal.signal(signal.SIGTERM, previous)
    print("FakeNOS lab stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
