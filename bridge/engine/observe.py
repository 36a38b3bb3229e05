"""What the watch shows of one batch job, reduced to the few facts the state machine needs (pure).

``summarise_job``/``summarise_pod``/``summarise_event`` keep a handful of fields of each object (the
reflectors store only these), ``observe`` combines a Job and its pod into one Observation, and ``outcome_of`` turns a
terminal Observation into the Outcome the batch system is told. The pod's own status decides first
(it arrives before the Job controller's condition); the Job's conditions cover pods already gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from bridge.domain import wellknown as wk
from bridge.domain.lifecycle import KubePhase, Outcome
from bridge.domain.states import JobState, from_kube

Obj = dict[str, Any]
CONTAINER = "job"
# Waiting reasons that never fix themselves: after `image_pull_timeout_s` they fail the job.
IMAGE_WAIT_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError"}
)
_HOPELESS_AT_ONCE = frozenset({"InvalidImageName", "ErrImageNeverPull"})
# Admission refusals name the policy first and say why last: keep the whole of a typical one.
EVENT_TEXT = 400


@dataclass(frozen=True)
class JobSummary:
    namespace: str
    name: str
    uid: str
    source_id: str
    conditions: tuple[str, ...]  # types with status True
    reasons: tuple[str, ...]  # their reasons
    message: str
    requeue: bool
    deleting: bool
    created: str


@dataclass(frozen=True)
class PodSummary:
    namespace: str
    name: str
    job_name: str
    index: int | None
    phase: str
    node: str | None
    created: str
    waiting: str | None = None  # container waiting reason (ImagePullBackOff...)
    message: str = ""  # why it waits or failed, short
    unschedulable: bool = False
    disrupted: bool = False
    exit_code: int | None = None
    term_reason: str | None = None
    started: str | None = None
    finished: str | None = None


@dataclass(frozen=True)
class EventSummary:
    """A Warning event about one of the bridge's Jobs or pods: why a pod is not created or not starting
    (FailedCreate from an admission policy or a quota, FailedMount of site storage) shows nowhere else."""

    namespace: str
    kind: str  # "Job" or "Pod"
    name: str  # the object's name
    reason: str
    message: str
    at: str


@dataclass(frozen=True)
class Observation:
    phase: KubePhase
    reason: str = ""
    job: JobSummary | None = None
    pod: PodSummary | None = None
    extra: dict[str, str] = field(default_factory=dict)
    routine: bool = False  # the pending reason is a step every starting pod passes, not a problem


def _true_conditions(status: Obj) -> list[Obj]:
    return [c for c in status.get("conditions") or [] if c.get("status") == "True"]


def summarise_job(obj: Obj) -> JobSummary:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    ann = meta.get("annotations") or {}
    conds = _true_conditions(status)
    return JobSummary(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        source_id=ann.get(wk.ANN_SOURCE_ID, ""),
        conditions=tuple(c.get("type", "") for c in conds),
        reasons=tuple(c.get("reason", "") for c in conds if c.get("reason")),
        message="; ".join(c.get("message", "") for c in conds if c.get("message"))[:300],
        requeue=ann.get(wk.ANN_REQUEUE) == "true",
        deleting=bool(meta.get("deletionTimestamp")),
        created=meta.get("creationTimestamp", ""),
    )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarise_pod(obj: Obj) -> PodSummary:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    labels, ann = meta.get("labels") or {}, meta.get("annotations") or {}
    index = ann.get("batch.kubernetes.io/job-completion-index")
    out: dict[str, Any] = {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            out["unschedulable"] = cond.get("reason") == "Unschedulable"
            out["message"] = _short(cond.get("message") or cond.get("reason") or "")
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            out["disrupted"] = True
            out["message"] = _short(f"{cond.get('reason', '')}: {cond.get('message', '')}")
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") != CONTAINER:
            continue
        state = cs.get("state") or {}
        if "waiting" in state:
            out["waiting"] = state["waiting"].get("reason")
            out["message"] = _short(state["waiting"].get("message") or "")
        if "running" in state:
            out["started"] = state["running"].get("startedAt")
        if "terminated" in state:
            term = state["terminated"]
            out.update(
                exit_code=term.get("exitCode"),
                term_reason=term.get("reason"),
                started=term.get("startedAt"),
                finished=term.get("finishedAt"),
            )
            if term.get("message"):
                out["message"] = _short(term["message"])
    if status.get("reason") and "message" not in out:  # Evicted and friends, at pod level
        out["message"] = _short(f"{status['reason']}: {status.get('message', '')}")
        out["term_reason"] = out.get("term_reason") or status["reason"]
    return PodSummary(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        job_name=labels.get("batch.kubernetes.io/job-name") or labels.get("job-name", ""),
        index=int(index) if index is not None and index.isdigit() else None,
        phase=status.get("phase") or "Pending",
        node=spec.get("nodeName"),
        created=meta.get("creationTimestamp", ""),
        **out,
    )


def summarise_event(obj: Obj, prefix: str) -> EventSummary | None:
    """The event if it is a Warning about a Job or pod named ``prefix``... (the bridge's names), else None."""
    target = obj.get("involvedObject") or {}
    name = str(target.get("name") or "")
    if obj.get("type") != "Warning" or target.get("kind") not in ("Job", "Pod") or not name.startswith(prefix):
        return None
    meta = obj.get("metadata") or {}
    return EventSummary(
        namespace=str(target.get("namespace") or meta.get("namespace") or ""),
        kind=str(target["kind"]),
        name=name,
        reason=str(obj.get("reason") or ""),
        message=_short(str(obj.get("message") or obj.get("note") or ""), EVENT_TEXT),
        at=str(obj.get("lastTimestamp") or obj.get("eventTime") or meta.get("creationTimestamp") or ""),
    )


def _age_s(stamp: str, now: datetime) -> float:
    try:
        return (now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return 0.0


def _pending_reason(pod: PodSummary | None, warning: EventSummary | None) -> tuple[str, bool]:
    """The pending reason, and whether it is a routine step every starting pod passes (no problem)."""
    said = f": {warning.reason}: {warning.message}" if warning else ""
    if pod is None:
        if said:
            return _short(f"k8s Pending: no pod yet{said}", EVENT_TEXT), False
        return "k8s Pending: waiting for the pod to be created", True
    if pod.waiting:
        detail = f": {pod.message}" if pod.message else said
        routine = pod.waiting == "ContainerCreating" and not detail
        return _short(f"k8s Pending: {pod.waiting}{detail}", EVENT_TEXT), routine
    if pod.unschedulable:
        return _short(f"k8s Pending: {pod.message}"), False
    if pod.node:
        return f"k8s Pending: starting on {pod.node}", True
    return "k8s Pending: waiting for a node", True


# Job failure reasons that follow from a pod's own end (not a deadline the job controller enforces).
_POD_DRIVEN: Final = frozenset(
    {"BackoffLimitExceeded", "PodFailurePolicy", "FailedIndexes", "MaxFailedIndexesExceeded"}
)


def _pod_end_unseen(job: JobSummary, pod: PodSummary | None) -> bool:
    """The Job ended because its pod did, and this view still shows that pod running or pending: Jobs
    and pods are two watches, and a relist after a restart can see the Job's end first. Its exit code
    is the pod's, so wait for the pod's own update rather than write exit code 1. A disrupted pod's end
    is the platform's (its exit code is the kill's, not the user's), so the Job's end is final."""
    if pod is None or pod.disrupted or pod.phase not in ("Pending", "Running"):
        return False
    if "Complete" in job.conditions or "SuccessCriteriaMet" in job.conditions:
        return True
    return bool(job.reasons) and set(job.reasons) <= _POD_DRIVEN


def observe(
    job: JobSummary | None,
    pod: PodSummary | None,
    now: datetime,
    image_pull_timeout_s: float,
    warning: EventSummary | None = None,
) -> Observation:
    """The phase of one batch job (or array task) from its Job, its newest pod and the newest Warning
    event about either (for the pending reason only)."""
    if job is None or (job.deleting and not job.conditions):
        return Observation(KubePhase.ABSENT)
    if pod is not None and pod.phase == "Succeeded":
        return Observation(KubePhase.SUCCEEDED, job=job, pod=pod)
    if pod is not None and pod.phase == "Failed" and not (pod.disrupted and job.requeue):
        return Observation(KubePhase.FAILED, job=job, pod=pod)
    if not _pod_end_unseen(job, pod):
        if "Complete" in job.conditions or "SuccessCriteriaMet" in job.conditions:
            return Observation(KubePhase.SUCCEEDED, job=job, pod=pod)
        if "Failed" in job.conditions or "FailureTarget" in job.conditions:
            return Observation(KubePhase.FAILED, job=job, pod=pod)
    if pod is not None and pod.phase == "Running":
        return Observation(KubePhase.RUNNING, f"k8s Running on {pod.node}", job=job, pod=pod)
    if pod is not None and pod.waiting in IMAGE_WAIT_REASONS:
        age = _age_s(pod.created, now)
        if pod.waiting in _HOPELESS_AT_ONCE or age >= image_pull_timeout_s:
            why = f"{pod.waiting} for {int(age)} s" if pod.waiting not in _HOPELESS_AT_ONCE else pod.waiting
            return Observation(KubePhase.FAILED, f"image could not be used ({why}): {pod.message}", job, pod)
    reason, routine = _pending_reason(pod, warning)
    return Observation(KubePhase.PENDING, reason, job=job, pod=pod, routine=routine)


# Termination reasons -> the words the user reads first.
_REASON_TEXT = {
    JobState.TIMEOUT: "TIMEOUT: the Kubernetes deadline (activeDeadlineSeconds) was reached",
    JobState.OUT_OF_MEMORY: "OUT_OF_MEMORY: the pod exceeded its memory limit and was OOMKilled",
    JobState.NODE_FAIL: "NODE_FAIL: the pod was lost to a platform failure (evicted, node lost or preempted)",
    JobState.PREEMPTED: "PREEMPTED: the pod was preempted by a higher-priority pod",
}


_PLATFORM: Final = frozenset({JobState.NODE_FAIL, JobState.PREEMPTED})


def outcome_of(obs: Observation) -> Outcome:
    """The Outcome of a terminal observation (SUCCEEDED or FAILED)."""
    job, pod = obs.job, obs.pod
    reasons = [r for r in (pod.term_reason if pod else None, *(job.reasons if job else ())) if r]
    if pod is not None and pod.disrupted:
        reasons.insert(0, "DisruptionTarget")
    state = (
        JobState.SUCCEEDED
        if obs.phase is KubePhase.SUCCEEDED
        else from_kube(["Failed"], reasons, pod.phase if pod else None)
    )
    platform = pod is not None and pod.disrupted and state in _PLATFORM
    # A platform failure's exit code is the kill's, not the user's: 1 whichever watch told first.
    code = 1 if platform else _exit_code(pod, state)
    signal = 9 if state is JobState.OUT_OF_MEMORY else 0
    if state is JobState.SUCCEEDED:
        reason = f"COMPLETED: exit code 0 on {pod.node if pod else 'Kubernetes'}"
    elif state in _REASON_TEXT:
        reason = _REASON_TEXT[state]
    else:
        reason = obs.reason or f"FAILED: exit code {code}" + (
            f" ({pod.term_reason})" if pod and pod.term_reason else ""
        )
    if pod is not None and pod.message and state is not JobState.SUCCEEDED and pod.message not in reason:
        reason = f"{reason}; {pod.message}"
    detail = _detail(job, pod)
    return Outcome(state=state, exit_code=max(0, min(int(code), 255)), signal=signal, reason=reason, detail=detail)


def _exit_code(pod: PodSummary | None, state: JobState) -> int:
    if pod is not None and pod.exit_code is not None:
        return pod.exit_code
    return 0 if state is JobState.SUCCEEDED else 1


def _detail(job: JobSummary | None, pod: PodSummary | None) -> tuple[tuple[str, str], ...]:
    items = [
        ("job", f"{job.namespace}/{job.name}" if job else None),
        ("pod", pod.name if pod else None),
        ("node", pod.node if pod else None),
        ("start", pod.started if pod else None),
        ("end", pod.finished if pod else None),
        ("exit", str(pod.exit_code) if pod and pod.exit_code is not None else None),
        ("term", pod.term_reason if pod else None),
        ("job_reason", ",".join(job.reasons) if job and job.reasons else None),
    ]
    return tuple((k, v) for k, v in items if v)
