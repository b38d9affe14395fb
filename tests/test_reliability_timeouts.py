"""The ``timeout`` hook does not leak threads (issue 13, item 15): a timed-out attempt's host has its
connections closed (which ends a thread stuck on one), abandoned threads are counted, and past
``max_abandoned_threads`` new attempts fail at once with a clear error, so threads stay bounded however
many hosts and runs time out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from nornir.core.task import Result, Task

from nornflow.hooks.builtins import execution
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings

RELEASE = threading.Event()


def stuck(task: Task) -> Result:
    """Blocks until the test releases it: a call stuck where closing a connection cannot reach."""
    RELEASE.wait()
    return Result(host=task.host, result="late")


class FakeConnection:
    """A connection whose reader blocks until it is closed, as a socket read does."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


OPENED: dict[str, FakeConnection] = {}


def open_connection(task: Task) -> Result:
    task.host.connections["fake"] = OPENED[task.host.name] = FakeConnection()
    return Result(host=task.host, result="connected")


def was_closed(task: Task) -> Result:
    """Whether the host's connection is closed by now (a later task of the same run)."""
    return Result(host=task.host, result=OPENED[task.host.name].closed.is_set())


def read_forever(task: Task) -> Result:
    connection = task.host.connections["fake"]
    connection.closed.wait()
    raise ConnectionError("connection closed while reading")


HERE = __name__


def helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nornflow-timeout-") and t.is_alive()]


@pytest.fixture
def abandoned(monkeypatch: pytest.MonkeyPatch) -> Iterator[execution.AbandonedThreads]:
    """A fresh process-wide count (other tests' naps may still be running); stuck threads released
    and joined afterwards."""
    fresh = execution.AbandonedThreads()
    monkeypatch.setattr(execution, "ABANDONED", fresh)
    before = set(helpers())
    RELEASE.clear()
    yield fresh
    RELEASE.set()
    for thread in set(helpers()) - before:
        thread.join()


def engine(n: int, workers: int, **settings: Any) -> NornFlow:
    hosts = {f"h{i:03d}": {} for i in range(n)}
    return NornFlow(Settings(**settings), inventory=inventory_from_data(hosts), workers=workers)


def stuck_flow(timeout: float = 0.02) -> dict[str, Any]:
    tasks = [{"name": f"{HERE}.stuck", "timeout": timeout}, {"name": "echo", "args": {"msg": "x"}}]
    return {"workflow": {"name": "stuck", "failure_strategy": "run-all", "tasks": tasks}}


def test_abandoned_threads_stay_bounded_across_hosts_and_runs(impl, abandoned):
    nf = engine(30, workers=1, max_abandoned_threads=5)
    before = len(helpers())
    for run in range(3):
        result = nf.run(stuck_flow())
        errors = [result.tasks[0][h].error for h in result.hosts]
        types = [e.type if e else None for e in errors]
        if run == 0:  # the first 5 hosts time out; then no new thread is started
            assert types == ["TaskTimeoutError"] * 5 + ["AbandonedThreadsError"] * 25
        else:
            assert types == ["AbandonedThreadsError"] * 30
        assert result.tasks[1].counts()["ok"] == 30  # later tasks still run on every host
        assert result.exit_code == 1
        assert abandoned.count() == 5 and len(helpers()) - before == 5
    message = errors[0].message  # type: ignore[union-attr]
    assert "5 timed-out attempt(s) are still running in abandoned threads" in message
    assert "max_abandoned_threads: 5" in message
    RELEASE.set()  # the stuck calls return: their threads end and stop counting
    for thread in helpers():
        thread.join()
    assert abandoned.count() == 0
    assert nf.run(stuck_flow(timeout=30)).exit_code == 0  # attempts start again


def test_with_many_workers_the_bound_is_overshot_by_at_most_the_workers(impl, abandoned):
    nf = engine(200, workers=8, max_abandoned_threads=10, runner="threaded")
    before = len(helpers())
    result = nf.run(stuck_flow())
    failed = result.tasks[0].counts()["failed"]
    assert failed == 200
    assert 10 <= abandoned.count() <= 10 + 8 and len(helpers()) - before == abandoned.count()


def test_a_timeout_closes_the_host_connections_so_the_stuck_thread_ends(impl, abandoned):
    nf = engine(10, workers=4)
    tasks = [
        {"name": f"{HERE}.open_connection"},
        {"name": f"{HERE}.read_forever", "timeout": 0.05},
        {"name": f"{HERE}.was_closed"},
    ]
    result = nf.run({"workflow": {"name": "io", "failure_strategy": "run-all", "tasks": tasks}})
    assert [result.tasks[2][h].result for h in result.hosts] == [True] * 10  # closed at the timeout
    assert [result.tasks[1][h].error.type for h in result.hosts] == ["TaskTimeoutError"] * 10  # type: ignore[union-attr]
    for thread in helpers():
        thread.join()  # each read ended when its connection was closed: no thread is left behind
    assert abandoned.count() == 0
    assert all(not nf.inventory.hosts[h].connections for h in result.hosts)
