"""The poll loop the batch backends share: one thread, one batched ``poll()`` per interval, at once
when a job is newly tracked; ``get`` waits for the first status of a job the poll finds."""

from __future__ import annotations

import contextlib
import threading
from typing import Final

from bridge.sdk.errors import BackendError, JobNotFound
from bridge.sdk.hub import StatusHub
from bridge.sdk.status import JobStatus

GET_TIMEOUT_S: Final = 30.0


class Polling:
    name: str
    interval: float

    def __init__(self) -> None:
        self.hub = StatusHub()
        self.polls = 0
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def _add(self, job_id: str) -> bool:
        """Start tracking ``job_id`` (called under the lock); True when it is new."""
        raise NotImplementedError

    def poll(self) -> None:
        raise NotImplementedError

    def track(self, job_id: str) -> None:
        with self._lock:
            new = self._add(job_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"sdk-{self.name}-poll", daemon=True)
                self._thread.start()
        if new:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with contextlib.suppress(BackendError):  # the batch system away a while: the next interval tries again
                self.poll()
            self._wake.wait(self.interval)

    def get(self, job_id: str) -> JobStatus:
        self.track(job_id)
        status = self.hub.wait(job_id, lambda s: True, GET_TIMEOUT_S)
        if status is None:
            raise JobNotFound(f"no {self.name} job {job_id} of yours")
        return status

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
