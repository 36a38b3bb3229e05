"""Events leave the reconcile path: queued, written by their own threads, dropped (counted) when full."""

from __future__ import annotations

import threading
from typing import Any, cast

from bridge.kube.client import Kube
from bridge.kube.event_sink import EventSink
from tests.fixtures.waiting import wait_until


class _SlowKube:
    """Stands in for the client only: the sink's contract is about queueing, not the apiserver."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.written: list[str] = []

    def record_event(self, event: dict[str, Any]) -> bool:
        self.gate.wait(10)
        self.written.append(event["reason"])
        return bool(event["reason"] != "refused")


def test_offer_never_waits_and_a_full_queue_drops_and_counts() -> None:
    kube = _SlowKube()
    written: list[int] = []
    sink = EventSink(cast(Kube, kube), writers=1, capacity=2, on_written=lambda: written.append(1))
    sink.start()
    assert sink.offer({"reason": "a"})
    wait_until("the writer to hold the first", lambda: sink.pending() == 0 or None, timeout=5)
    assert [sink.offer({"reason": r}) for r in ("b", "refused", "d")] == [True, True, False]  # never waits
    assert sink.dropped == 1
    kube.gate.set()
    sink.close()
    wait_until("the queue to drain", lambda: sink.pending() == 0 or None, timeout=5)
    wait_until("the writes", lambda: len(kube.written) >= 3 or None, timeout=5)
    assert kube.written[:3] == ["a", "b", "refused"]
    assert len(written) == len([r for r in kube.written if r != "refused"])  # only written Events count
