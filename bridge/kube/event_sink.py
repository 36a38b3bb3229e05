"""Kubernetes Events written off the reconcile path.

An Event costs the apiserver as much as a Job create (and an etcd lease): written by a reconcile
worker, the Events of the jobs that finish during a burst took 22% of the workers' time from the
creates of new ones (measured with py-spy in the 1,000-job intake benchmark). Events are best effort,
so they go through a bounded queue to their own writers; when the queue is full an Event is dropped
and counted, never waited for; what is queued when the daemon stops is lost.

Off the workers, the burst's Events still compete with its creates at the apiserver (one run of the
1,000-job intake without Events took 67/s, runs with them 40-53/s; the lab scatters, so a hint, not
a measure). The writers therefore yield while the reconciler has a backlog (``busy``), up to
``max_delay_s`` after the offer; an Event carries its own time, so a late one still tells when.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from bridge.kube.client import Kube
from bridge.kube.objects import Obj

log = logging.getLogger(__name__)


class EventSink:
    def __init__(
        self,
        kube: Kube,
        writers: int = 2,
        capacity: int = 2000,
        on_written: Callable[[], None] = lambda: None,
        busy: Callable[[], bool] = lambda: False,
        max_delay_s: float = 30.0,
    ) -> None:
        self.kube, self.writers, self.on_written = kube, writers, on_written
        self.busy, self.max_delay_s = busy, max_delay_s
        self._queue: queue.Queue[tuple[float, Obj] | None] = queue.Queue(maxsize=capacity)
        self._lock = threading.Lock()  # offer() runs in every reconcile worker
        self._closing = threading.Event()
        self.dropped = 0

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._run, name=f"events-{i}", daemon=True) for i in range(self.writers)]
        for t in threads:
            t.start()
        return threads

    def offer(self, event: Obj) -> bool:
        """Queue ``event`` for writing; False when the queue is full (the Event is dropped)."""
        try:
            self._queue.put_nowait((time.monotonic(), event))
        except queue.Full:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("Kubernetes Events dropped (the writers are behind): %d so far", dropped)
            return False
        return True

    def close(self) -> None:
        """The writers stop after what is queued (daemon threads: a process exit does not wait)."""
        self._closing.set()
        for _ in range(self.writers):
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            offered, event = item
            while self.busy() and time.monotonic() < offered + self.max_delay_s and not self._closing.is_set():
                self._closing.wait(0.05)
            if self.kube.record_event(event):
                self.on_written()
