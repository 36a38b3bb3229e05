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


def test_writers_yield_to_a_backlog_until_it_clears_or_the_event_is_old() -> None:
    kube = _SlowKube()
    kube.gate.set()
    backlog = threading.Event()
    backlog.set()
    asked: list[int] = []

    def busy() -> bool:
        asked.append(1)
        return backlog.is_set()

    sink = EventSink(cast(Kube, kube), writers=1, busy=busy, max_delay_s=60)
    sink.start()
    sink.offer({"reason": "released"})
    wait_until("the writer to wait on the backlog", lambda: len(asked) >= 3 or None, timeout=5)
    assert kube.written == []
    backlog.clear()
    wait_until("the write once the backlog clears", lambda: kube.written or None, timeout=5)
    old = EventSink(cast(Kube, kube), writers=1, busy=lambda: True, max_delay_s=0.2)
    old.start()
    old.offer({"reason": "final"})
    wait_until("an Event older than max_delay_s written anyway", lambda: "final" in kube.written or None, timeout=5)
    assert kube.written == ["released", "final"]
    sink.close()
    old.close()
