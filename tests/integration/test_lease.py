"""Leader election on a real Lease in the lab apiserver: one leader; a standby takes over only once the
leader has stopped renewing for a whole lease duration (by the standby's own clock), or at once when
the leader gives the Lease up; a leader that finds another holder stops leading."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.kube.lease import LeaderElector
from tests.fixtures.kube_lab import KubeLab
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration
LEASE_S = 3.0


def _pair(kube_lab: KubeLab) -> tuple[LeaderElector, LeaderElector]:
    ns = kube_lab.namespace("lease")

    def make(who: str) -> LeaderElector:
        return LeaderElector(kube_lab.admin, ns, "adapter", who, lease_s=LEASE_S, renew_s=0.2)

    return make("replica-a"), make("replica-b")


def test_one_leader_and_a_takeover_after_a_full_lease_duration(kube_lab: KubeLab) -> None:
    a, b = _pair(kube_lab)
    assert a.step() is True
    assert b.step() is False
    assert a.step() is True  # renews
    last_renew = time.monotonic()  # a dies here: it never renews again
    wait_until("replica-b takes the Lease", lambda: b.step() or None, LEASE_S * 4, interval=0.2)
    waited = time.monotonic() - last_renew
    assert waited >= LEASE_S, waited
    spec = _spec(a)  # the record says who holds it, and that it changed hands once
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("replica-b", 1)
    assert a.step() is False  # the old leader, back, finds another holder


def test_a_released_lease_is_taken_at_once_and_a_leader_that_lost_it_stops(kube_lab: KubeLab) -> None:
    a, b = _pair(kube_lab)
    stop_a = threading.Event()
    runner = threading.Thread(target=a.run, args=(stop_a,), daemon=True)
    runner.start()
    wait_until("replica-a leads", lambda: a.leading.is_set() or None, 10)
    stop_a.set()  # a graceful stop releases the Lease
    runner.join(10)
    assert not a.leading.is_set()
    started = time.monotonic()
    wait_until("replica-b takes the released Lease", lambda: b.step() or None, LEASE_S, interval=0.1)
    assert time.monotonic() - started < LEASE_S
    # a leader that finds another holder returns from run() with leading cleared
    b_stop = threading.Event()
    b_runner = threading.Thread(target=b.run, args=(b_stop,), daemon=True)
    b_runner.start()
    wait_until("replica-b leads", lambda: b.leading.is_set() or None, 10)
    _replace_holder(b, "replica-c")  # someone else holds it now (an operator, a split brain)
    b_runner.join(10)
    assert not b_runner.is_alive() and not b.leading.is_set()
    b_stop.set()


def _spec(e: LeaderElector) -> dict[str, object]:
    lease = e.leases.read_namespaced_lease(e.name, e.namespace)
    return {"holderIdentity": lease.spec.holder_identity, "leaseTransitions": lease.spec.lease_transitions}


def _replace_holder(e: LeaderElector, holder: str) -> None:
    lease = e.leases.read_namespaced_lease(e.name, e.namespace)
    lease.spec.holder_identity = holder
    e.leases.replace_namespaced_lease(e.name, e.namespace, lease)
