"""slurmctld (or slurmdbd) records of one job or array -> the SDK's JobStatus (pure).

State names come from the project's one Slurm table (bridge.domain.states); the reason is Slurm's
own state_reason plus the bridge's AdminComment (pending reason on Kubernetes, outcome detail).
An array is final when every task is; it succeeded when every task did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from bridge.domain.states import SLURM_TO_STATE, JobState
from bridge.sdk.status import JobStatus, combine

Record = dict[str, Any]
_NO_REASON: Final = frozenset({"None", ""})


def number(value: Any) -> int | None:
    """Slurm's {"set": true, "number": N} (or a plain number) -> N."""
    if isinstance(value, dict):
        return int(value["number"]) if value.get("set") and not value.get("infinite") else None
    return int(value) if isinstance(value, int | float) else None


def _time(value: Any) -> datetime | None:
    stamp = number(value)
    return datetime.fromtimestamp(stamp, UTC) if stamp else None


def state_of(record: Record) -> JobState:
    raw = record.get("job_state") or (record.get("state") or {}).get("current") or []
    names = [raw] if isinstance(raw, str) else list(raw)
    return next((SLURM_TO_STATE[n] for n in names if n in SLURM_TO_STATE), JobState.UNKNOWN)


def exit_code(record: Record) -> int | None:
    code = record.get("exit_code") or {}
    return number(code.get("return_code")) if isinstance(code, dict) else None


def reason_of(record: Record) -> str:
    why = str(record.get("state_reason") or (record.get("state") or {}).get("reason") or "")
    comment = str(record.get("admin_comment") or "")
    parts = [p for p in (why if why not in _NO_REASON else "", comment) if p]
    return "; ".join(parts)


def _one(job_id: str, record: Record) -> JobStatus:
    state = state_of(record)
    times = record.get("time") or {}
    started = _time(record.get("start_time", times.get("start")))
    return JobStatus(
        job_id,
        state,
        reason_of(record),
        exit_code=exit_code(record) if state.is_final else None,
        submitted=_time(record.get("submit_time", times.get("submission"))),
        started=started if state is not JobState.PENDING else None,
        finished=_time(record.get("end_time", times.get("end"))) if state.is_final else None,
        name=str(record.get("name") or ""),
        detail=(("slurm_job_id", str(record.get("job_id", ""))),),
    )


def status_of(job_id: str, records: Sequence[Record]) -> JobStatus:
    """The status of job ``job_id`` from its records (one, or every task of an array)."""
    if len(records) == 1 and number(records[0].get("array_task_id")) is None:
        return _one(job_id, records[0])
    return combine(job_id, [_one(job_id, r) for r in records])
