"""The work queue: one worker per key, no lost re-adds, delayed retries."""

from __future__ import annotations

from bridge.engine.workqueue import WorkQueue


def test_a_key_is_queued_once() -> None:
    q = WorkQueue()
    q.add("a")
    q.add("a")
    assert len(q) == 1


def test_a_key_added_while_active_comes_back_after_done() -> None:
    q = WorkQueue()
    q.add("a")
    assert q.get(0.1) == "a"
    q.add("a")  # while a worker holds it
    assert q.get(0.05) is None  # not handed to a second worker
    q.done("a")
    assert q.get(0.1) == "a"


def test_add_after_and_retry_back_off() -> None:
    q = WorkQueue(base_delay_s=0.01, max_delay_s=0.05)
    q.add_after("b", 0.02)
    assert q.get(0.005) is None
    assert q.get(1.0) == "b"
    q.done("b")
    delays = [q.retry("c") for _ in range(6)]
    assert all(d <= 0.05 * 1.5 for d in delays)
    assert delays[-1] > delays[0] / 2
