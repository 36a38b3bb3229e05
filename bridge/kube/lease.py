"""Leader election on a coordination.k8s.io/v1 Lease: of the replicas of one adapter, one acts.

The shape of client-go's leaderelection: the holder renews ``renewTime`` every ``renew_s``; another
replica takes the Lease over once it has seen the same record unchanged for ``lease_s`` by its *own*
clock (never comparing the holder's timestamps with its own, so clock skew cannot make two leaders),
with an update carrying the resourceVersion it read, so of two contenders one gets a 409. A leader
that cannot renew within ``deadline_s`` stops leading at once; the daemon then exits, and whoever
holds the Lease next re-reads everything from the batch system and the apiserver (the reconciler
keeps no state, so a takeover is safe).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from kubernetes import client
from kubernetes.client import ApiException

from bridge.kube.objects import Obj

log = logging.getLogger(__name__)
LEASE_RULES: Final[tuple[Obj, ...]] = (
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Seen:
    record: tuple[object, ...]  # holder, renewTime, transitions: what changes when a holder renews
    at: float  # our monotonic clock when it last changed


class LeaderElector:
    def __init__(
        self,
        api: Any,
        namespace: str,
        name: str,
        identity: str,
        lease_s: float = 15.0,
        renew_s: float = 2.0,
        deadline_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases: Any = client.CoordinationV1Api(api)  # raw JSON in and out, as everywhere in bridge.kube
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_s, self.renew_s, self.deadline_s, self.clock = lease_s, renew_s, deadline_s, clock
        self._seen: _Seen | None = None
        self.leading = threading.Event()

    def step(self) -> bool:
        """One try to acquire or renew; True while this replica holds the Lease."""
        try:
            lease: Obj = json.loads(
                self.leases.read_namespaced_lease(self.name, self.namespace, _preload_content=False).data
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            return self._create()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        now = self.clock()
        if self._seen is None or self._seen.record != record:
            self._seen = _Seen(record, now)
        expired = now - self._seen.at >= float(spec.get("leaseDurationSeconds") or self.lease_s)
        if holder and holder != self.identity and not expired:
            return False
        taking = holder != self.identity
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=int(self.lease_s), renewTime=_now())
        if taking:
            spec.update(acquireTime=spec["renewTime"], leaseTransitions=int(spec.get("leaseTransitions") or 0) + 1)
        lease["spec"] = spec
        try:
            self.leases.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            if exc.status == 409:  # another replica updated it first
                return False
            raise
        if taking:
            log.info("leader election: %s took Lease %s/%s from %r", self.identity, self.namespace, self.name, holder)
        return True

    def _create(self) -> bool:
        stamp = _now()
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_s),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        try:
            self.leases.create_namespaced_lease(self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        log.info("leader election: %s created Lease %s/%s", self.identity, self.namespace, self.name)
        return True

    def run(self, stop: threading.Event) -> None:
        """Acquire, then renew until ``stop`` (then release the Lease, so a standby takes over at
        once), or until leading is lost: another replica holds the Lease, or renewing failed for
        ``deadline_s``. Then ``leading`` is cleared and this returns: the caller stops acting."""
        renewed = 0.0
        while not stop.is_set():
            try:
                held, failed = self.step(), False
            except Exception as exc:  # the apiserver may be away: a leader keeps acting until the deadline
                log.warning("leader election: %s", exc)
                held, failed = False, True
            now = self.clock()
            if held:
                renewed = now
                self.leading.set()
            elif self.leading.is_set() and (not failed or now - renewed >= self.deadline_s):
                self.leading.clear()
                log.error("leader election: %s lost Lease %s/%s", self.identity, self.namespace, self.name)
                return
            stop.wait(self.renew_s)
        if self.leading.is_set():
            self.release()

    def release(self) -> None:
        """Give the Lease up (an empty holder): the standby need not wait for it to expire."""
        self.leading.clear()
        try:
            lease: Obj = json.loads(
                self.leases.read_namespaced_lease(self.name, self.namespace, _preload_content=False).data
            )
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"].update(holderIdentity="", leaseDurationSeconds=1, renewTime=_now())
                self.leases.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            log.warning("leader election: could not release Lease %s/%s: %s", self.namespace, self.name, exc)
