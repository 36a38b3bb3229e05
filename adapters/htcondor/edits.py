"""The attributes each transition writes, in one edit (one schedd transaction) each (pure).

Every edit carries the bridge's own record with the values HTCondor users read, so a transition
re-asserts what the owner may have scribbled on (JobStatus, ExitCode...) since the last one. The
completion is written with ``Managed = "ScheddDone"`` in the same transaction: the schedd hands the
job back and moves it to history at its next sweep with exactly these values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Final

from adapters.htcondor.record import CondorJob, State, Status
from bridge.domain.lifecycle import Outcome
from bridge.domain.states import JobState

Edit = dict[str, object]
# HoldReasonCode 26 (SystemPolicy): the site's system, not the job's own policy, put it on hold.
HOLD_CODE: Final = 26


class HoldSub(IntEnum):
    """HoldReasonSubCode of a hold by the bridge (docs/admin/htcondor.md)."""

    REFUSED = 1  # the bridge refused the job: identity, a path outside site storage, image, limits
    KUBE_REFUSED = 2  # the apiserver refused the objects (quota, admission policy)
    IMAGE = 3  # the container image could not be pulled or used
    PLATFORM = 4  # node lost, pod evicted or preempted, the Kubernetes Job vanished
    MEMORY = 5  # the pod exceeded its memory request and was OOMKilled
    TIME = 6  # the job ran past its time limit (AllowedExecuteDuration)
    OTHER = 7  # the pod failed without an exit code, for another reason


# Outcomes that are the job's own result: completed, with the pod's exit code.
_OWN_RESULT: Final = frozenset({JobState.SUCCEEDED, JobState.FAILED})
_BY_STATE: Final[Mapping[JobState, HoldSub]] = {
    JobState.OUT_OF_MEMORY: HoldSub.MEMORY,
    JobState.TIMEOUT: HoldSub.TIME,
    JobState.NODE_FAIL: HoldSub.PLATFORM,
    JobState.PREEMPTED: HoldSub.PLATFORM,
}
_BY_REASON: Final = (
    ("refused by batch-bridge", HoldSub.REFUSED),
    ("Kubernetes refused", HoldSub.KUBE_REFUSED),
    ("image could not be used", HoldSub.IMAGE),
)


def hold_subcode(outcome: Outcome) -> HoldSub | None:
    """None when the outcome completes the job (the pod's own exit), else why it is held."""
    ran = any(k == "exit" for k, _ in outcome.detail)
    if outcome.state in _OWN_RESULT and (ran or outcome.state is JobState.SUCCEEDED):
        return None
    if outcome.state in _BY_STATE:
        return _BY_STATE[outcome.state]
    return next((sub for prefix, sub in _BY_REASON if outcome.reason.startswith(prefix)), HoldSub.OTHER)


@dataclass(frozen=True)
class Times:
    start: int
    end: int

    @property
    def wall(self) -> float:
        return float(max(self.end - self.start, 0))


def _epoch(stamp: str | None) -> int | None:
    if not stamp:
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def times(job: CondorJob, outcome: Outcome, now: int) -> Times:
    """Start and end of the run: the pod's own (from the outcome), else the bridge's record, else now."""
    detail = dict(outcome.detail)
    start = _epoch(detail.get("start")) or job.start_date or now
    end = _epoch(detail.get("end")) or now
    return Times(start, max(end, start))


def claim(manager: str, now: int) -> Edit:
    return {
        "Managed": "External",
        "ManagedManager": manager,
        "BridgeState": State.CLAIMED.value,
        "KubernetesSelection": "claimed by batch-bridge: runs as a Kubernetes Job",
        "KubernetesStatus": "k8s: claimed",
        "EnteredCurrentStatus": now,
    }


def running(job: CondorJob, host: str, node: str, text: str, now: int) -> Edit:
    """The pod runs (or, for a job already running, the same values again: a re-assertion)."""
    again = job.state is State.RUNNING
    start = (job.start_date if again else None) or now
    starts = job.starts if again else job.starts + 1
    edit: Edit = {
        "JobStatus": int(Status.RUNNING),
        "JobCurrentStartDate": start,
        "ShadowBday": start,
        "EnteredCurrentStatus": start,
        "NumJobStarts": starts,
        "RemoteHost": host,
        "LastRemoteHost": host,
        "KubernetesStatus": text,
        "BridgeState": State.RUNNING.value,
        "BridgeStarts": starts,
        "BridgeStartDate": start,
        "BridgeNode": node,
    }
    if starts == 1:
        edit["JobStartDate"] = start
    return edit


def completed(job: CondorJob, outcome: Outcome, now: int) -> Edit:
    t = times(job, outcome, now)
    by_signal = outcome.signal != 0
    edit: Edit = {
        "JobStatus": int(Status.COMPLETED),
        "ExitBySignal": by_signal,
        "ExitStatus": outcome.exit_code,
        "CompletionDate": t.end,
        "RemoteWallClockTime": t.wall,
        "CumulativeRemoteWallClockTime": t.wall,
        "CommittedTime": int(t.wall),
        "EnteredCurrentStatus": t.end,
        "JobCurrentStartDate": t.start,
        "ShadowBday": t.start,
        "KubernetesStatus": outcome.reason[:500],
        "BridgeState": State.DONE.value,
        "BridgeOutcome": _outcome_text(outcome),
        "Managed": "ScheddDone",
    }
    if by_signal:
        edit["ExitSignal"] = outcome.signal
    else:
        edit["ExitCode"] = outcome.exit_code
    if job.state is State.RUNNING and job.starts == 1:
        # The first run's start is the pod's own: the running edit had the bridge's clock, which can
        # be a second after a short pod's end (JobStartDate after CompletionDate; found by CI).
        edit["JobStartDate"] = t.start
    return edit | unseen_start(job, t.start)


def unseen_start(job: CondorJob, start: int) -> Edit:
    """A run that ended before the bridge saw its pod run (a short pod): its start is counted with its end."""
    if job.state is not State.CLAIMED:
        return {}
    starts = job.starts + 1
    edit: Edit = {"NumJobStarts": starts, "BridgeStarts": starts}
    if starts == 1:
        edit["JobStartDate"] = start
    return edit


def hold_reason(reason: str) -> str:
    """The HoldReason users read: who held the job, then why."""
    return (reason if "batch-bridge" in reason[:40] else f"batch-bridge: {reason}")[:1000]


def hold(job: CondorJob, reason: str, subcode: HoldSub, now: int) -> Edit:
    return {
        "JobStatus": int(Status.HELD),
        "HoldReason": hold_reason(reason),
        "HoldReasonCode": HOLD_CODE,
        "HoldReasonSubCode": int(subcode),
        "EnteredCurrentStatus": now,
        "NumHolds": job.holds + 1,
        "KubernetesStatus": f"held: {reason}"[:500],
        **between_runs(job),
    }


def rerun(job: CondorJob, reason: str, now: int) -> Edit:
    """A platform failure under the "rerun" policy: idle again, to be claimed for a new run."""
    return {
        "JobStatus": int(Status.IDLE),
        "EnteredCurrentStatus": now,
        "KubernetesStatus": f"re-run after a platform failure: {reason}"[:500],
        "BridgeState": State.HELD.value,
        "BridgeRun": job.run + 1,
    }


def between_runs(job: CondorJob) -> Edit:
    """A hold (the bridge's or the user's) ends this run: the next run gets a Kubernetes Job of its own."""
    return {"BridgeState": State.HELD.value, "BridgeRun": job.run + 1, "BridgeHolds": job.holds + 1}


def removed(text: str) -> Edit:
    return {"Managed": "ScheddDone", "BridgeState": State.REMOVED.value, "KubernetesStatus": text}


def _outcome_text(outcome: Outcome) -> str:
    detail = " ".join(f"{k}={v}" for k, v in outcome.detail)
    return f"state={outcome.state.value} exit={outcome.exit_code} signal={outcome.signal} {detail}".strip()[:1000]
