"""Kubernetes Events on the bridge's Jobs (pure builder): the transitions a user or admin reading
`kubectl describe job` wants to see next to the pod's own events - the batch system told the pod runs,
the outcome written to the batch record, a Job adopted after a restart or a failover."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from bridge.kube.objects import Obj

COMPONENT: Final = "batch-bridge"
MESSAGE_MAX: Final = 1024  # the apiserver's limit for an Event message


def job_event(namespace: str, name: str, uid: str, reason: str, message: str, kind: str = "Normal",
              now: datetime | None = None) -> Obj:  # fmt: skip
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name[:200]}.", "namespace": namespace},
        "involvedObject": {"apiVersion": "batch/v1", "kind": "Job", "namespace": namespace, "name": name, "uid": uid},
        "reason": reason,
        "message": message[:MESSAGE_MAX],
        "type": kind,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
