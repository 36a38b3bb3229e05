"""A de-duplicating work queue with delayed re-adds (the controller pattern).

A key is queued at most once; a key added while a worker holds it is queued again when the worker is
done, so no change is lost and no key is worked on by two workers at once. Retries back off
exponentially with jitter per key.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import deque


class WorkQueue:
    def __init__(self, base_delay_s: float = 0.2, max_delay_s: float = 30.0) -> None:
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._later: list[tuple[float, str]] = []
        self._failures: dict[str, int] = {}
        self._base, self._max = base_delay_s, max_delay_s
        self.closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def _enqueue(self, key: str) -> None:
        """Queue ``key`` unless it is queued; while a worker holds it, mark it for after. Lock held."""
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.append(key)
            self._cond.notify()

    def add(self, key: str) -> None:
        with self._cond:
            self._enqueue(key)

    def add_after(self, key: str, delay_s: float) -> None:
        with self._cond:
            heapq.heappush(self._later, (time.monotonic() + delay_s, key))
            self._cond.notify()

    def retry(self, key: str) -> float:
        """Queue ``key`` again after its next backoff delay; returns the delay."""
        with self._cond:
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
        delay: float = min(self._base * 2.0 ** (n - 1), self._max) * (0.5 + random.random())
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def get(self, timeout_s: float = 1.0) -> str | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    self._enqueue(heapq.heappop(self._later)[1])
                if self._queue:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._active.add(key)
                    return key
                if self.closed or now >= deadline:
                    return None
                wake = min(deadline, self._later[0][0]) if self._later else deadline
                self._cond.wait(max(wake - now, 0.001))

    def done(self, key: str) -> None:
        with self._cond:
            self._active.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._enqueue(key)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
