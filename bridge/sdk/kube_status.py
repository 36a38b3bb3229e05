"""A Kubernetes Job and its pods (as the watch keeps them) -> the SDK's JobStatus (pure).

One job: the engine's ``observe``/``outcome_of`` decide, as for both adapters, so a reason reads the
same whichever door a job came through. An array (one Indexed Job): the Job's own counters and
conditions decide, the newest pod supplies the pending reason and a failed task's exit code.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from bridge.domain import wellknown as wk
from bridge.domain.lifecycle import KubePhase
from bridge.domain.states import JobState
from bridge.engine.observe import JobSummary, Observation, PodSummary, observe, outcome_of, summarise_job
from bridge.sdk.status import JobStatus, parse_time

Obj = dict[str, Any]
_DONE: Final = ("Complete", "SuccessCriteriaMet")
_FAILED: Final = ("Failed", "FailureTarget")
_PHASE_STATE: Final = {
    KubePhase.PENDING: JobState.PENDING,
    KubePhase.RUNNING: JobState.RUNNING,
    KubePhase.ABSENT: JobState.CANCELLED,
}
CANCELLED_REASON: Final = "CANCELLED: the Kubernetes Job was deleted"


@dataclass(frozen=True)
class JobView:
    """What the SDK's watch keeps of one Job: the engine's summary plus counters and times."""

    base: JobSummary
    job_name: str  # the spec's name (the Job's is derived from the id)
    indexed: bool
    completions: int
    active: int
    succeeded: int
    failed: int
    started: str | None
    finished: str | None


def summarise(obj: Obj) -> JobView:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ended = [
        c.get("lastTransitionTime")
        for c in status.get("conditions") or []
        if c.get("status") == "True" and c.get("type") in (*_DONE, *_FAILED)
    ]
    return JobView(
        base=summarise_job(obj),
        job_name=((obj.get("metadata") or {}).get("annotations") or {}).get(wk.ANN_JOB_NAME, ""),
        indexed=spec.get("completionMode") == "Indexed",
        completions=int(spec.get("completions") or 1),
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        started=status.get("startTime"),
        finished=status.get("completionTime") or next((t for t in ended if t), None),
    )


def newest(pods: Collection[PodSummary]) -> PodSummary | None:
    return max(pods, key=lambda p: p.created, default=None)


def _single(job_id: str, view: JobView, pods: Collection[PodSummary], now: datetime, pull_s: float) -> JobStatus:
    pod = newest(pods)
    obs = observe(view.base, pod, now, pull_s)
    submitted = parse_time(view.base.created)
    if not obs.phase.terminal:
        reason = CANCELLED_REASON if obs.phase is KubePhase.ABSENT else obs.reason
        started = parse_time(pod.started) if pod and obs.phase is KubePhase.RUNNING else None
        return JobStatus(job_id, _PHASE_STATE[obs.phase], reason, submitted=submitted, started=started)
    outcome = outcome_of(obs)
    return JobStatus(
        job_id,
        outcome.state,
        outcome.reason,
        exit_code=outcome.exit_code,
        submitted=submitted,
        started=parse_time(pod.started if pod else None) or parse_time(view.started),
        finished=parse_time(pod.finished if pod else None) or parse_time(view.finished),
        detail=outcome.detail,
    )


def _array(job_id: str, view: JobView, pods: Collection[PodSummary], now: datetime, pull_s: float) -> JobStatus:
    n, ok, bad, running = view.completions, view.succeeded, view.failed, view.active
    tasks = {"succeeded": ok, "failed": bad, "running": running, "pending": max(0, n - ok - bad - running)}
    conditions = set(view.base.conditions)
    base = JobStatus(job_id, JobState.PENDING, tasks=tasks, submitted=parse_time(view.base.created))
    base = replace(base, started=parse_time(view.started))
    ended = replace(base, finished=parse_time(view.finished))
    if view.base.deleting and not conditions:
        return replace(base, state=JobState.CANCELLED, reason=CANCELLED_REASON)
    if conditions & set(_DONE):
        return replace(ended, state=JobState.SUCCEEDED, reason=f"COMPLETED: {ok} of {n} tasks succeeded", exit_code=0)
    if conditions & set(_FAILED):
        code = max((p.exit_code or 0 for p in pods if p.phase == "Failed"), default=1) or 1
        why = view.base.message or ",".join(view.base.reasons)
        reason = f"FAILED: {bad} of {n} tasks failed" + (f" ({why})" if why else "")
        return replace(ended, state=JobState.FAILED, reason=reason, exit_code=code)
    if running:
        return replace(base, state=JobState.RUNNING, reason=f"{running} of {n} tasks running")
    obs: Observation = observe(view.base, newest([p for p in pods if p.phase == "Pending"]), now, pull_s)
    return replace(base, reason=obs.reason)


def status_of(
    job_id: str, view: JobView, pods: Collection[PodSummary], now: datetime, image_pull_timeout_s: float
) -> JobStatus:
    """The status of one SDK job from its Job and its pods."""
    decide = _array if view.indexed else _single
    return replace(decide(job_id, view, pods, now, image_pull_timeout_s), name=view.job_name)


def gone(job_id: str, last: JobStatus | None) -> JobStatus:
    """The Job vanished: a final status stays (TTL clean-up), anything else was cancelled."""
    if last is not None and last.final:
        return last
    base = last or JobStatus(job_id, JobState.CANCELLED)
    return replace(base, state=JobState.CANCELLED, reason=CANCELLED_REASON, exit_code=None)
