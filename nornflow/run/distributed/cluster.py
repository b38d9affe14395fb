"""The Dask side of a sharded run: a client of an existing scheduler, or a local cluster the run
starts and stops. ``distributed`` is imported here only, on first use (the ``dask`` extra)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from nornflow.exceptions import SettingsError
from nornflow.settings import ExecutorSettings

__all__ = ["Cluster", "import_distributed"]


def import_distributed() -> Any:
    """The ``distributed`` package, or a clear error (exit 3) naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise SettingsError(
            f"the dask executor needs Dask distributed: pip install 'nornir-yamlflow[dask]' ({exc})",
            key="executor",
        ) from None
    return distributed


@contextlib.contextmanager
def _children_ignore_terminal_signals() -> Iterator[None]:
    """While the local cluster starts its worker processes, SIGINT and SIGHUP are ignored, and the
    workers inherit that: a terminal's Ctrl-C (or hang-up) goes to the whole process group, and it is
    the driver's to handle (it stops the shards, which finish their running hosts). A Ctrl-C in
    these seconds is lost; signals handled in code (not SIG_DFL/SIG_IGN/Python's) are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ("SIGINT", "SIGHUP")
    previous = {}
    for sig in (getattr(signal, n) for n in names if hasattr(signal, n)):
        old = signal.getsignal(sig)
        if old is not None:
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Cluster:
    """A client connected to the run's scheduler; the local cluster too when the run started one."""

    def __init__(self, spec: ExecutorSettings) -> None:
        """``spec``: the scheduler address (None: a local cluster of ``shards`` processes) and TLS."""
        self.spec = spec
        self.client: Any = None
        self.local: Any = None

    def connect(self) -> list[str]:
        """Connect (or start the local cluster) and return the workers' addresses, sorted; an
        unreachable scheduler or one without workers is a clear error (exit 3)."""
        distributed = import_distributed()
        spec = self.spec
        timeout = spec.connect_timeout
        if spec.scheduler is None:
            n = spec.shards or os.cpu_count() or 1
            try:
                with _children_ignore_terminal_signals():
                    self.local = distributed.LocalCluster(
                        n_workers=n,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        scheduler_port=0,
                        dashboard_address=None,
                        worker_dashboard_address=None,
                        memory_limit=0,
                        silence_logs=logging.CRITICAL,  # shutdown chatter of the run's own workers
                    )
            except Exception as exc:
                raise SettingsError(
                    f"cannot start a local Dask cluster of {n} workers: {type(exc).__name__}: {exc}",
                    key="executor",
                ) from None
            address = self.local
        else:
            address = spec.scheduler
        try:
            # direct_to_workers: actor calls (the shards' specs, their rows) go straight to the worker,
            # never through the scheduler
            self.client = distributed.Client(
                address,
                timeout=timeout,
                security=self._security(distributed),
                set_as_default=False,
                direct_to_workers=True,
            )
        except Exception as exc:
            self.close()
            raise SettingsError(
                f"cannot reach the Dask scheduler {spec.scheduler or 'of the local cluster'} within "
                f"{timeout:g} s: {type(exc).__name__}: {exc}",
                key="executor.scheduler",
            ) from None
        try:
            if spec.shards:
                self.client.wait_for_workers(spec.shards if spec.scheduler is None else 1, timeout=timeout)
            workers = self.workers()
        except Exception as exc:
            self.close()
            raise SettingsError(
                f"the Dask scheduler {spec.scheduler or 'of the local cluster'} has no worker: "
                f"{type(exc).__name__}: {exc}",
                key="executor.scheduler",
            ) from None
        if not workers:
            self.close()
            raise SettingsError(
                f"the Dask scheduler {spec.scheduler} has no worker", key="executor.scheduler"
            )
        return sorted(workers)

    def _security(self, distributed: Any) -> Any:
        tls = self.spec.tls
        if tls is None:
            return None  # Dask's own configuration (distributed.comm.tls.*) applies
        return distributed.Security(
            tls_ca_file=tls.ca_file,
            tls_client_cert=tls.cert,
            tls_client_key=tls.key,
            require_encryption=True,
        )

    def workers(self) -> set[str]:
        """The addresses of the workers the scheduler knows now."""
        return set(self.client.scheduler_info(n_workers=-1)["workers"])

    def close(self, futures: list[Any] = ()) -> None:  # type: ignore[assignment]
        """Release ``futures`` (the shards' actors), close the client, stop a local cluster."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                if futures:
                    self.client.cancel(list(futures), force=True)
            with contextlib.suppress(Exception):
                self.client.close(timeout=10)
            self.client = None
        if self.local is not None:
            with contextlib.suppress(Exception):
                self.local.close(timeout=30)
            self.local = None
