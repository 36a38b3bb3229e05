"""Job ads of one cluster (condor_q and condor_history) -> the SDK's JobStatus (pure).

``JobStatus`` goes through the project's one HTCondor table (bridge.domain.states); completed jobs
succeed only with exit code 0. A hold by the bridge (``HoldReasonCode`` 26: a refusal, or a failure
the bridge detected, see docs/admin/htcondor.md) ends the job for the SDK: its state comes from the
sub-code, its reason is the ``HoldReason``; the job stays held in the schedd until the user releases
or removes it. A hold by anybody else (condor_hold) is HELD, not final. Reasons are the schedd's
and the bridge's own words (KubernetesStatus, HoldReason, RemoveReason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from bridge.domain.states import HTCONDOR_TO_STATE, JobState
from bridge.sdk.status import JobStatus, combine

Ad = Mapping[str, Any]
HELD, REMOVED, COMPLETED = 5, 3, 4
BRIDGE_HOLD_CODE: Final = 26
# the bridge's HoldReasonSubCode -> the state the SDK reports (docs/admin/htcondor.md, "Hold codes")
BRIDGE_HOLDS: Final[Mapping[int, JobState]] = MappingProxyType(
    {
        1: JobState.FAILED,  # refused by the site's policy
        2: JobState.FAILED,  # the apiserver refused the objects
        3: JobState.FAILED,  # image could not be used
        4: JobState.NODE_FAIL,
        5: JobState.OUT_OF_MEMORY,
        6: JobState.TIMEOUT,
        7: JobState.FAILED,
    }
)
PROJECTION: Final = (
    "ClusterId", "ProcId", "Owner", "JobStatus", "ExitCode", "ExitBySignal", "ExitSignal", "HoldReason",
    "HoldReasonCode", "HoldReasonSubCode", "RemoveReason", "QDate", "JobStartDate", "JobCurrentStartDate",
    "CompletionDate", "EnteredCurrentStatus", "KubernetesStatus", "KubernetesSelection", "JobBatchName",
    "RemoteHost", "LastRemoteHost", "Out", "Iwd", "BatchBridgeSdkKey",
)  # fmt: skip


def _int(ad: Ad, key: str) -> int | None:
    value = ad.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _time(ad: Ad, key: str) -> datetime | None:
    stamp = _int(ad, key)
    return datetime.fromtimestamp(stamp, UTC) if stamp and stamp > 0 else None


def _exit_code(ad: Ad) -> int | None:
    if ad.get("ExitBySignal") is True:
        signal = _int(ad, "ExitSignal")
        return 128 + signal if signal else None
    return _int(ad, "ExitCode")


def bridge_hold(ad: Ad) -> bool:
    return _int(ad, "JobStatus") == HELD and _int(ad, "HoldReasonCode") == BRIDGE_HOLD_CODE


def state_of(ad: Ad) -> JobState:
    status = _int(ad, "JobStatus")
    if bridge_hold(ad):
        return BRIDGE_HOLDS.get(_int(ad, "HoldReasonSubCode") or 0, JobState.FAILED)
    state = HTCONDOR_TO_STATE.get(status or 0, JobState.UNKNOWN)
    if state is JobState.SUCCEEDED and _exit_code(ad) not in (0, None):
        return JobState.FAILED
    return state


def reason_of(ad: Ad) -> str:
    status = _int(ad, "JobStatus")
    by_status = {HELD: "HoldReason", REMOVED: "RemoveReason"}
    own = str(ad.get(by_status.get(status or 0, ""), "") or "")
    kube = str(ad.get("KubernetesStatus") or ("" if status != 1 else ad.get("KubernetesSelection") or ""))
    return "; ".join(p for p in (own, kube) if p and not (own and p == kube))


def output_of(ad: Ad) -> str | None:
    out, iwd = ad.get("Out"), ad.get("Iwd")
    if not isinstance(out, str) or out == "/dev/null":
        return None
    return out if out.startswith("/") or not isinstance(iwd, str) else f"{iwd.rstrip('/')}/{out}"


def proc_status(job_id: str, ad: Ad) -> JobStatus:
    state = state_of(ad)
    final = state.is_final
    ended = _time(ad, "CompletionDate") or (_time(ad, "EnteredCurrentStatus") if final else None)
    detail = [("htcondor_job_id", f"{ad.get('ClusterId')}.{ad.get('ProcId')}")]
    host = ad.get("RemoteHost") or ad.get("LastRemoteHost")
    if host:
        detail.append(("remote_host", str(host)))
    if (out := output_of(ad)) is not None:
        detail.append(("output", out))
    if _int(ad, "JobStatus") == HELD:
        detail.append(("hold_code", f"{_int(ad, 'HoldReasonCode')}.{_int(ad, 'HoldReasonSubCode')}"))
    return JobStatus(
        job_id,
        state,
        reason_of(ad),
        exit_code=(_exit_code(ad) if _int(ad, "JobStatus") == COMPLETED else None) if final else None,
        submitted=_time(ad, "QDate"),
        started=_time(ad, "JobCurrentStartDate") or _time(ad, "JobStartDate"),
        finished=ended if final else None,
        name=str(ad.get("JobBatchName") or ""),
        detail=tuple(detail),
    )


def cluster_status(job_id: str, ads: Sequence[Ad], procs: int | None = None) -> JobStatus:
    """The status of cluster ``job_id`` from its procs' ads (queue and history merged by the caller).
    With ``procs`` (how many the submit made), a proc not seen yet counts as pending."""
    ordered = sorted(ads, key=lambda a: _int(a, "ProcId") or 0)
    each = [proc_status(job_id, ad) for ad in ordered]
    if len(each) == 1 and (procs or 1) == 1:
        return each[0]
    each += [JobStatus(job_id, JobState.PENDING)] * max(0, (procs or 0) - len(each))
    rolled = combine(job_id, each)
    failed = next((s for s in each if s.final and not s.ok and s.reason), None)
    reason = f"{rolled.reason} (first: {failed.reason})" if failed else rolled.reason
    return replace(rolled, reason=reason, detail=each[0].detail)
