"""``WorkQueueRunner``: nornflow's default Nornir runner, built for fleets of 100,000 hosts.

Why not Nornir's ``ThreadedRunner``: it submits one ``Future`` per host to a ``ThreadPoolExecutor``, and
each Future brings its own ``Condition``, work item and queue round-trip. For a no-op task that overhead
dominates: 43 us per host-task threaded versus 8 us serial. Here ``W`` worker threads pop host *indices*
from one shared deque and write each ``MultiResult`` into a preallocated slot, so the per-host cost is
one atomic ``popleft()`` plus the task itself. The ``AggregatedResult`` is built after every worker is
joined, in inventory order (the order of ``hosts``), whatever order the hosts finished in.

``run_each(work, count)`` is the same machinery without any result object: it calls ``work(i)`` per
index. nornflow's engine uses it, since it records each host's outcome column-wise itself.

Adaptive (the default): under the GIL, threads only help while hosts *wait*, and every hand-off between
threads running Python costs (a 100,000-host no-op fan-out took ~60% longer on 20 threads than on one,
on this project's 2-core VM). So the calling thread starts on the hosts itself and the pool joins in
as soon as hosts wait (a host slow by over 2 ms, confirmed on the next slow host by its CPU time: it
spent the time not running, on a device) or nothing finished for 0.2 s (the caller is stuck, e.g. on a
barrier with other hosts). I/O-bound runs get every worker after their second host; CPU-bound ones
never pay for threads. Free-threaded builds (no GIL) always start every worker.

Errors: ``Task.start`` already turns an exception raised by the task into a failed ``Result``. An exception
raised outside that handling (e.g. by a processor) is kept for its host while the other hosts carry on;
once all workers are joined the first such exception in inventory order is re-raised, which is what
``ThreadedRunner`` does through ``Future.result()``. Before it is raised, the results of the hosts that did
complete are attached to it as ``aggregated_result`` and a note names the host, so nothing is lost.

A task raising ``SystemExit``/``KeyboardInterrupt`` also stops the scheduling of new hosts; in the calling
thread (inline path) it propagates at once, like ``SerialRunner``. Workers catch everything per host, so a
host cannot kill its worker, and the run only ever waits on ``Thread.join``: nothing can hang on a worker
that is gone. Workers are daemon threads so a device stuck in flight cannot block interpreter exit.

Stopping: when ``stop_event`` is set, workers take no new host; hosts in flight finish. Hosts that never
started are absent from the ``AggregatedResult`` and the caller reports them as skipped.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from nornir.core.task import AggregatedResult, MultiResult

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import Task

__all__ = ["WorkQueueRunner"]


#: Threads only pay off when hosts wait: with the GIL, threads running Python code take turns, and each
#: hand-off costs (a 100,000-host no-op fan-out took 60% longer on 20 threads than on one).
_GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
#: A host slower than this (seconds) hints that hosts wait; adaptive runs start their worker threads
#: when the next slow host confirms it (it spent over half of this not running).
SLOW_HOST = 0.002
#: ... or once the calling thread made no progress for this long (stuck on one host; a safety net that
#: wakes rarely, as every wake-up takes the GIL from the running host).
WATCH_PERIOD = 0.2


def _shared_indices(count: int) -> tuple[Callable[[], int | None], deque[int]]:
    """Return a thread-safe ``take()`` handing out 0..count-1 once each, then ``None``, and its queue.

    ``deque.popleft`` is atomic (no lock to be switched out while holding, which made 20 workers
    queue behind each other), also on free-threaded builds.
    """
    queue = deque(range(count))
    pop = queue.popleft

    def take() -> int | None:
        try:
            return pop()
        except IndexError:
            return None

    return take, queue


def _thread_cpu_clock() -> Callable[[], float] | None:
    """``time.thread_time`` where the platform has it (the calling thread's CPU time)."""
    try:
        time.thread_time()
    except (AttributeError, OSError):
        return None
    return time.thread_time


_THREAD_CPU = _thread_cpu_clock()
#: After a slow host, how many hosts are timed precisely (CPU and wall) before calling it a fluke.
_PROBES = 64


def _run_inline(
    work: Callable[[int], object],
    take: Callable[[], int | None],
    stopped: Callable[[], bool],
    errors: dict[int, BaseException],
    slow: float | None,
) -> bool:
    """Run hosts in the calling thread; True as soon as they turn out to wait, False when none is left.

    ``slow`` None: never look (the serial path). Otherwise each host costs one clock read, and a host
    slower than ``slow`` seconds is only a hint (a page fault, the machine busy elsewhere, another
    thread holding the GIL): the next hosts are then timed in CPU too (a system call each), and the
    first slow one that spent over half of ``slow`` *not* running settles it. A host that is slow
    because it computes does not count: threads would not help it.
    """
    clock, cpu = time.perf_counter, _THREAD_CPU
    probes = 0
    used = 0.0
    last = clock()
    while not stopped():
        index = take()
        if index is None:
            return False
        probing = probes > 0
        if probing:
            probes -= 1
            used = cpu() if cpu is not None else 0.0
        try:
            work(index)
        except (KeyboardInterrupt, SystemExit) as exc:
            errors[index] = exc
            raise
        except BaseException as exc:
            errors[index] = exc
        if slow is None:
            continue
        now = clock()
        if now - last > slow:
            if not probing:
                probes = _PROBES
            elif cpu is None or (now - last) - (cpu() - used) > slow / 2:
                return True
        last = now
    return False


def _never() -> bool:
    return False


def _start_workers(loop: Callable[[], None], numbers: range, started: list[threading.Thread]) -> None:
    """Start a daemon thread on ``loop`` per number, into ``started``; stop at the first that fails
    ("can't start new thread": carry on with the workers there are)."""
    for number in numbers:
        thread = threading.Thread(target=loop, name=f"nornflow-worker-{number}", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            return
        started.append(thread)


class WorkQueueRunner:
    """Run a task over hosts with a fixed set of worker threads pulling from one shared work queue."""

    def __init__(
        self, num_workers: int = 20, stop_event: threading.Event | None = None, adaptive: bool = True
    ) -> None:
        """Validate ``num_workers`` (an int >= 1); keep the optional ``stop_event`` and ``adaptive``.

        ``adaptive``: the calling thread starts on the hosts itself, and the other workers start as
        soon as hosts turn out to wait (over :data:`SLOW_HOST` not running: a device, a sleep, a lock)
        or no host finishes for :data:`WATCH_PERIOD`; fan-outs that never wait run at single-thread
        speed. False starts every worker at once.
        """
        if isinstance(num_workers, bool) or not isinstance(num_workers, int):
            raise ValueError(f"num_workers must be an integer >= 1, got {num_workers!r}")
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self.num_workers = num_workers
        self.stop_event = stop_event
        self.adaptive = bool(adaptive)

    def __repr__(self) -> str:
        """Show the worker count, handy in logs."""
        return f"{type(self).__name__}(num_workers={self.num_workers}, adaptive={self.adaptive})"

    def run(self, task: Task, hosts: list[Host]) -> AggregatedResult:
        """Run ``task`` once per host and return the results in the order of ``hosts``."""
        results: list[MultiResult | None] = [None] * len(hosts)

        def one(index: int) -> None:
            results[index] = task.copy().start(hosts[index])

        errors = self.run_each(one, len(hosts))
        return self._collect(task, hosts, results, errors)

    def run_each(self, work: Callable[[int], object], count: int) -> dict[int, BaseException]:
        """Call ``work(i)`` once for each ``i`` in ``0..count-1`` on the workers; nothing is kept.

        The engine's entry point: it records each host's outcome itself, so it needs neither a
        ``MultiResult`` per host nor the ``AggregatedResult`` (at 100,000 hosts they were half of
        the run's time and memory). Indices are started in increasing order. Returns what ``work``
        raised, by index; ``KeyboardInterrupt``/``SystemExit`` also stop the scheduling and, raised
        in the calling thread, propagate at once.
        """
        errors: dict[int, BaseException] = {}
        workers = min(self.num_workers, count)
        if workers <= 1:  # fast path: no thread, no queue
            stopped = self.stop_event.is_set if self.stop_event is not None else _never
            _run_inline(work, functools.partial(next, iter(range(count)), None), stopped, errors, None)
            return errors
        abort = threading.Event()
        take, queue = _shared_indices(count)
        loop = self._make_worker(work, take, errors, abort)
        if self.adaptive and _GIL:
            self._run_adaptive(work, loop, take, queue, workers, errors, abort)
        else:
            self._run_threads(loop, workers, abort)
        return errors

    def _make_worker(
        self,
        work: Callable[[int], object],
        take: Callable[[], int | None],
        errors: dict[int, BaseException],
        abort: threading.Event,
    ) -> Callable[[], None]:
        """Build the loop each worker thread runs: take an index, call ``work`` with it, repeat."""
        stop = self.stop_event
        aborted = abort.is_set
        stopped = stop.is_set if stop is not None else aborted

        def loop() -> None:
            while not aborted() and not stopped():
                index = take()
                if index is None:
                    return
                try:
                    work(index)
                except (KeyboardInterrupt, SystemExit) as exc:
                    # keep it for the host, stop everybody, and let it end the run afterwards
                    errors[index] = exc
                    abort.set()
                    if threading.current_thread() is threading.main_thread():
                        raise
                except BaseException as exc:
                    errors[index] = exc

        return loop

    def _run_threads(self, work: Callable[[], None], workers: int, abort: threading.Event) -> None:
        """Start ``workers`` threads on ``work`` and join them; never leave them taking hosts on exit."""
        threads: list[threading.Thread] = []
        try:
            _start_workers(work, range(workers), threads)
            if not threads:
                work()  # not even one thread: run the hosts in the calling thread rather than fail
            for thread in threads:
                thread.join()
        finally:
            # normal exit: every worker is joined and this is a no-op. Ctrl-C while joining: the workers
            # still running take no new host and the hosts in flight finish on their own.
            abort.set()

    def _run_adaptive(
        self,
        work: Callable[[int], object],
        loop: Callable[[], None],
        take: Callable[[], int | None],
        queue: deque[int],
        workers: int,
        errors: dict[int, BaseException],
        abort: threading.Event,
    ) -> None:
        """Work the queue in the calling thread; start ``workers - 1`` more threads once hosts wait.

        Under the GIL, threads only help while hosts wait, and every hand-off between threads running
        Python costs: a no-op fan-out over 100,000 hosts took 60% longer on 20 threads than on one. So
        the calling thread runs hosts itself (:func:`_run_inline`) until they turn out to
        wait, or a watchdog sees no host taken for :data:`WATCH_PERIOD` (the calling thread stuck, e.g.
        on a barrier with the other hosts); then the pool starts and the calling thread carries on as
        one of its workers.
        """
        pool: list[threading.Thread] = []
        spawned = threading.Lock()
        done = threading.Event()

        def spawn() -> None:
            if spawned.acquire(blocking=False):  # else somebody else did, or is doing, it
                _start_workers(loop, range(1, workers), pool)

        def watch() -> None:
            left = len(queue)
            while not done.wait(WATCH_PERIOD):
                remaining = len(queue)
                if remaining and remaining == left:
                    spawn()
                    return
                left = remaining

        thread = threading.Thread(target=watch, name="nornflow-watchdog", daemon=True)
        watchdog: threading.Thread | None = thread
        try:
            thread.start()
        except RuntimeError:
            watchdog = None  # no thread to be had: the calling thread still does the work
        try:
            stopped = self.stop_event.is_set if self.stop_event is not None else abort.is_set
            if _run_inline(work, take, stopped, errors, SLOW_HOST):
                spawn()
                loop()  # the rest of the queue, side by side with the pool
            done.set()
            if watchdog is not None:
                watchdog.join()
            for thread in pool:
                thread.join()
        finally:
            # Ctrl-C in the calling thread: no new host starts; the hosts in flight finish on their own
            done.set()
            abort.set()

    @staticmethod
    def _collect(
        task: Task,
        hosts: list[Host],
        results: list[MultiResult | None],
        errors: dict[int, BaseException],
    ) -> AggregatedResult:
        """Fill the AggregatedResult in inventory order, then re-raise the first out-of-task error."""
        aggregated = AggregatedResult(task.name)
        for host, result in zip(hosts, results, strict=True):
            if result is not None:
                aggregated[host.name] = result
        if errors:
            index = min(errors)
            error = errors[index]
            with contextlib.suppress(AttributeError):  # an exception type without a __dict__
                error.aggregated_result = aggregated  # type: ignore[attr-defined]
            error.add_note(f"raised while running task {task.name!r} on host {hosts[index].name!r}")
            raise error
        return aggregated
