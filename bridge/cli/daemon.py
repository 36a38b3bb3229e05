"""What every adapter daemon does around its reconciler: wait to lead (when leader election is on),
serve /metrics /healthz /readyz, run until SIGTERM/SIGINT or until leading is lost, log its status.

Exit codes: 0 on a signal, 1 when the Lease was lost (the process restarts as a standby: nothing is
kept in memory that the next leader would need, so exiting is the safe way to stop acting).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bridge.engine.reconciler import Reconciler
from bridge.engine.settings import EngineSettings
from bridge.kube.lease import LeaderElector
from bridge.observability.server import serve as serve_http

log = logging.getLogger("batch-bridge")
STATUS_EVERY_S = 60.0


def _trim() -> None:
    """Give freed heap back to the OS: a burst (a relist, 1,000 new jobs) leaves glibc holding what the
    JSON of its watch events took, and RSS would stay at the burst's peak."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _identity(settings: EngineSettings) -> str:
    """One per process, as client-go's controllers do: a container that crashed and restarted in
    the same pod is a new contender that waits for the Lease like any other, rather than resuming
    the dead process's term (the standby, which has watched the Lease all along, usually wins)."""
    if settings.leader.identity:
        return settings.leader.identity
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class _Readiness:
    """Ready: a standby always (it serves and waits); a leader once its watches synced and the batch
    system answered within the last few poll intervals."""

    def __init__(self, reconciler: Reconciler, settings: EngineSettings) -> None:
        self.reconciler, self.settings = reconciler, settings
        self.acting = False

    def __call__(self) -> tuple[bool, str]:
        if not self.acting:
            return True, ""
        if not self.reconciler.synced():
            return False, "watches not synced or no poll of the batch system yet"
        stale = time.monotonic() - self.reconciler.last_poll_ok
        if stale > max(10 * self.settings.poll_interval_s, 15.0):
            return False, f"the batch system has not answered for {stale:.0f} s"
        return True, ""


def _elector(name: str, reconciler: Reconciler, settings: EngineSettings, api: Any) -> LeaderElector | None:
    lc = settings.leader
    if not lc.enabled:
        return None
    lease = lc.lease_name or f"batch-bridge-{name}-{reconciler.port.cluster}"
    return LeaderElector(api, lc.namespace, lease, _identity(settings), lc.lease_s, lc.renew_s, lc.deadline_s)


def run_daemon(
    name: str,
    reconciler: Reconciler,
    settings: EngineSettings,
    api: Any,
    status: Callable[[], str],
    describe: str,
) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    elector = _elector(name, reconciler, settings, api)
    ready = _Readiness(reconciler, settings)
    server = (
        serve_http(reconciler.metrics, ready, settings.http_host, settings.http_port) if settings.http_port else None
    )
    lease = _Lease(elector)
    try:
        if not lease.wait_to_lead(stop):
            return 0
        return _act(name, reconciler, ready, lease, stop, status, describe)
    finally:
        lease.give_up()
        if server is not None:
            server.shutdown()


class _Lease:
    """The elector's thread; it is stopped (and the Lease released) only after the reconciler stopped."""

    def __init__(self, elector: LeaderElector | None) -> None:
        self.elector = elector
        self.stop = threading.Event()
        self.thread = (
            threading.Thread(target=elector.run, args=(self.stop,), name="leader", daemon=True) if elector else None
        )

    def wait_to_lead(self, stop: threading.Event) -> bool:
        if self.elector is None or self.thread is None:
            return True
        self.thread.start()
        log.info("leader election: waiting for Lease %s/%s as %s", self.elector.namespace, self.elector.name,
                 self.elector.identity)  # fmt: skip
        while not self.elector.leading.is_set() and not stop.wait(0.2):
            pass
        if self.elector.leading.is_set():
            log.info("leader election: %s leads", self.elector.identity)
        return self.elector.leading.is_set() and not stop.is_set()

    def lost(self) -> bool:
        return self.elector is not None and not self.elector.leading.is_set()

    def give_up(self) -> None:
        self.stop.set()
        if self.thread is not None and self.thread.is_alive():
            self.thread.join(10)  # it releases the Lease it holds: a standby need not wait for expiry


def _act(
    name: str,
    reconciler: Reconciler,
    ready: _Readiness,
    lease: _Lease,
    stop: threading.Event,
    status: Callable[[], str],
    describe: str,
) -> int:
    source = reconciler.port.source.value
    reconciler.metrics.leader.labels(source).set(1)
    ready.acting = True
    reconciler.start()
    log.info("batch-bridge %s adapter: %s", name, describe)
    while not reconciler.synced() and not stop.wait(0.1):
        pass
    log.info("ready: watches synced, first poll done (%s)", status())
    last, rc = time.monotonic(), 0
    while not stop.wait(1.0):
        if lease.lost():
            log.error("no longer the leader: stopping (a standby takes over)")
            rc = 1
            break
        if time.monotonic() - last >= STATUS_EVERY_S:
            _trim()
            log.info("status %s", status())
            last = time.monotonic()
    log.info("stopping: %s", status())
    reconciler.stop()
    reconciler.metrics.leader.labels(source).set(0)
    return rc
