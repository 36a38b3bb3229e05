"""The latest status of every tracked job, and the subscribers waiting for the next one.

Backends publish from their watch or poll thread; ``Job.wait``/``watch`` read here, in threads or in
an asyncio loop (a sink is any callable: a queue's put, or a loop's call_soon_threadsafe). A status
equal to the last one is not published again, so a replayed watch event wakes nobody.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from bridge.sdk.status import JobStatus

Sink = Callable[[JobStatus], None]


class StatusHub:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._latest: dict[str, JobStatus] = {}
        self._sinks: defaultdict[str, list[Sink]] = defaultdict(list)
        self.published = 0

    def publish(self, status: JobStatus) -> None:
        with self._cond:
            if self._latest.get(status.job_id) == status:
                return
            self._latest[status.job_id] = status
            self.published += 1
            sinks = list(self._sinks.get(status.job_id, ()))
            self._cond.notify_all()
        for sink in sinks:
            sink(status)

    def latest(self, job_id: str) -> JobStatus | None:
        with self._cond:
            return self._latest.get(job_id)

    def forget(self, job_id: str) -> None:
        with self._cond:
            self._latest.pop(job_id, None)

    def wait(self, job_id: str, done: Callable[[JobStatus], bool], timeout: float | None) -> JobStatus | None:
        """The first status of ``job_id`` for which ``done`` holds, or None at the deadline."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                status = self._latest.get(job_id)
                if status is not None and done(status):
                    return status
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)

    def subscribe(self, job_id: str, sink: Sink) -> None:
        """Call ``sink`` with the current status (if any) and every later one."""
        with self._cond:
            self._sinks[job_id].append(sink)
            current = self._latest.get(job_id)
        if current is not None:
            sink(current)

    def unsubscribe(self, job_id: str, sink: Sink) -> None:
        with self._cond:
            sinks = self._sinks.get(job_id, [])
            if sink in sinks:
                sinks.remove(sink)
            if not sinks:
                self._sinks.pop(job_id, None)
