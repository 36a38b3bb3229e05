"""A managed job's ad, as the bridge reads it (pure): its phase for the shared state machine, and the
edits that move it.

The bridge keeps its own record in the ad, in attributes only it can write (PROTECTED_JOB_ATTRS,
stripped at submit by the site's first transform): ``BridgeState`` (claimed, running, done, held,
removed), ``BridgeRun`` (one more at every hold: each run has its own Kubernetes Job), ``BridgeStarts``
and ``BridgeHolds`` (how many execute and held events the user log should hold), ``BridgeStartDate``,
``BridgeNode`` and ``BridgeOutcome``. The phase comes from that record first and from JobStatus only
for what users do (condor_rm -> 3, condor_hold -> 5, condor_release -> 1): the owner can still edit
JobStatus or ExitCode of a managed job, and that must not become the truth.

| JobStatus \\ BridgeState | none     | claimed  | running  | done    | held    | removed |
|--------------------------|----------|----------|----------|---------|---------|---------|
| 1 idle                   | WAITING  | READY    | RELEASED | FINAL+  | WAITING | FINAL+  |
| 2 running                | WAITING  | RELEASED | RELEASED | FINAL+  | FINAL+  | FINAL+  |
| 3 removed                | FINAL    | FINAL    | FINAL    | FINAL+  | FINAL   | FINAL+  |
| 4 completed              | FINAL    | READY    | RELEASED | FINAL+  | FINAL+  | FINAL+  |
| 5 held                   | WAITING  | FINAL    | FINAL    | FINAL+  | FINAL+  | FINAL+  |

FINAL+ = FINAL with the bridge's outcome written. An idle job not yet claimed (none, or held and
released since) is WAITING: the claim, one atomic constraint edit per poll, moves it to claimed.
A removed job, or one the user held, is FINAL without an outcome: its Kubernetes Job is deleted
(DELETE), then the removal is finished (aborted event, ``Managed = "ScheddDone"``) or the hold
acknowledged (held event, a new run) by the port's ``audit``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any, Final

from bridge.domain.lifecycle import BatchPhase


class Status(IntEnum):
    """HTCondor's JobStatus values a managed job can have."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5


class State(StrEnum):
    """BridgeState: the bridge's own record (NONE: the attribute is undefined)."""

    NONE = ""
    CLAIMED = "claimed"
    RUNNING = "running"
    DONE = "done"
    HELD = "held"
    REMOVED = "removed"


_W, _R, _L, _F = BatchPhase.WAITING, BatchPhase.READY, BatchPhase.RELEASED, BatchPhase.FINAL
# (phase, outcome written) per JobStatus, columns in State order.
_ROWS: Final[Mapping[Status, tuple[tuple[BatchPhase, bool], ...]]] = {
    #                 NONE        CLAIMED      RUNNING      DONE        HELD         REMOVED
    Status.IDLE: ((_W, False), (_R, False), (_L, False), (_F, True), (_W, False), (_F, True)),
    Status.RUNNING: ((_W, False), (_L, False), (_L, False), (_F, True), (_F, True), (_F, True)),
    Status.REMOVED: ((_F, False), (_F, False), (_F, False), (_F, True), (_F, False), (_F, True)),
    Status.COMPLETED: ((_F, False), (_R, False), (_L, False), (_F, True), (_F, True), (_F, True)),
    Status.HELD: ((_W, False), (_F, False), (_F, False), (_F, True), (_F, True), (_F, True)),
}
PHASES: Final[Mapping[tuple[Status, State], tuple[BatchPhase, bool]]] = MappingProxyType(
    {(s, st): _ROWS[s][i] for s in Status for i, st in enumerate(State)}
)

# What the poll reads of every managed job (the whole ad only of jobs to take in).
KEEP: Final = (
    "ClusterId", "ProcId", "Owner", "JobStatus", "Managed", "ManagedManager", "BridgeState", "BridgeRun",
    "BridgeStarts", "BridgeHolds", "BridgeStartDate", "BridgeNode", "KubernetesStatus", "UserLog", "Iwd",
    "HoldReason", "HoldReasonCode", "HoldReasonSubCode", "RemoveReason", "User", "DAGManNodesLog", "QDate",
)  # fmt: skip


@dataclass(frozen=True)
class CondorJob:
    """One job ad reduced to what the state machine and the actions read."""

    cluster: int
    proc: int
    status: Status | None
    state: State
    owner: str
    user: str = ""  # the authenticated user, Owner@UID_DOMAIN
    run: int = 0
    starts: int = 0
    holds: int = 0
    start_date: int | None = None
    node: str = ""
    reported: str = ""
    logs: tuple[str, ...] = ()  # the user log, and DAGMan's nodes log of a DAG node job
    hold_reason: str = ""
    hold_code: int = 0
    hold_subcode: int = 0
    remove_reason: str = ""
    submitted: int | None = None  # the schedd's QDate: only the latency metrics read it
    view: Any = None  # what view_of read of the whole ad (an AdView), only for a job to take in

    @property
    def job_id(self) -> str:
        return f"{self.cluster}.{self.proc}"

    @property
    def kube_id(self) -> str:
        """The id of this run's Kubernetes Job: a held and released job runs again as a new Job."""
        return self.job_id if self.run == 0 else f"{self.job_id}.r{self.run}"


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse(ad: Mapping[str, Any]) -> CondorJob | None:
    """The CondorJob of a queried ad; None when it lacks a valid id (never an exception on input)."""
    cluster, proc = ad.get("ClusterId"), ad.get("ProcId")
    if not isinstance(cluster, int) or not isinstance(proc, int) or cluster < 0 or proc < 0:
        return None
    status = _int(ad.get("JobStatus"))
    state = _str(ad.get("BridgeState"))
    iwd = _str(ad.get("Iwd"))
    logs = [_str(ad.get(k)) for k in ("UserLog", "DAGManNodesLog")]
    logs = [posixpath.normpath(p if p.startswith("/") else posixpath.join(iwd, p)) for p in logs if p]
    logs = [p for p in logs if p.startswith("/")]  # relative to no absolute Iwd: nowhere to write
    start = ad.get("BridgeStartDate")
    return CondorJob(
        cluster=cluster,
        proc=proc,
        status=Status(status) if status in Status._value2member_map_ else None,
        state=State(state) if state in State._value2member_map_ else State.NONE,
        owner=_str(ad.get("Owner")),
        user=_str(ad.get("User")),
        run=_int(ad.get("BridgeRun")),
        starts=_int(ad.get("BridgeStarts")),
        holds=_int(ad.get("BridgeHolds")),
        start_date=start if isinstance(start, int) and not isinstance(start, bool) else None,
        node=_str(ad.get("BridgeNode")),
        reported=_str(ad.get("KubernetesStatus")),
        logs=tuple(dict.fromkeys(logs)),
        hold_reason=_str(ad.get("HoldReason")),
        hold_code=_int(ad.get("HoldReasonCode")),
        hold_subcode=_int(ad.get("HoldReasonSubCode")),
        remove_reason=_str(ad.get("RemoveReason")),
        submitted=_int(ad.get("QDate")) or None,
    )


def phase(job: CondorJob) -> tuple[BatchPhase, bool]:
    """(phase, outcome written); a JobStatus the bridge never sets (suspended...) waits."""
    if job.status is None:
        return BatchPhase.WAITING, job.state in (State.DONE, State.REMOVED)
    return PHASES[(job.status, job.state)]


def claimable(manager: str) -> str:
    """Idle jobs selected for Kubernetes that nobody else manages and the bridge has not claimed:
    running, held, removed and already-claimed jobs cannot match, so the edit is atomic."""
    return (
        f"JobStatus == 1 && WantKubernetes =?= true && (BridgeState is undefined || BridgeState == {_q('held')})"
        f" && (Managed is undefined || (Managed == {_q('External')} && ManagedManager == {_q(manager)}))"
    )


def in_state(state: str) -> str:
    """The constraint of a job whose BridgeState is ``state`` ("" for none yet)."""
    return f"BridgeState == {_q(state)}" if state else "BridgeState is undefined"


def managed_by(manager: str) -> str:
    return f"ManagedManager == {_q(manager)}"


def _q(text: str) -> str:
    """A ClassAd string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
