"""What the SDK tells about a job: a status (changes while it runs) and a result (once it ended)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bridge.domain.states import JobState

__all__ = ["JobResult", "JobState", "JobStatus", "combine"]


@dataclass(frozen=True)
class JobStatus:
    """One observation of a job. ``reason`` is the backend's own words (pending reason, failure)."""

    job_id: str
    state: JobState
    reason: str = ""
    exit_code: int | None = None
    submitted: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    tasks: dict[str, int] = field(default_factory=dict)  # arrays: counts per state name
    detail: tuple[tuple[str, str], ...] = ()  # accounting: where it ran, backend names
    name: str = ""  # the spec's job name

    @property
    def final(self) -> bool:
        return self.state.is_final

    @property
    def ok(self) -> bool:
        return self.state is JobState.SUCCEEDED and not self.exit_code

    def __str__(self) -> str:
        code = f" exit={self.exit_code}" if self.exit_code is not None else ""
        return f"{self.job_id} {self.state.value}{code}" + (f" ({self.reason})" if self.reason else "")


def _rollup(tasks: Counter[JobState]) -> JobState:
    if any(not s.is_final for s in tasks):
        return JobState.RUNNING if JobState.RUNNING in tasks else JobState.PENDING
    return JobState.SUCCEEDED if set(tasks) == {JobState.SUCCEEDED} else JobState.FAILED


def combine(job_id: str, each: Sequence[JobStatus]) -> JobStatus:
    """One status for an array from its tasks' (Slurm array tasks, HTCondor procs of a cluster): final
    when every task is, succeeded when every task did; the worst exit code."""
    counts = Counter(s.state for s in each)
    state = _rollup(counts)
    failed = [s for s in each if s.final and not s.ok]
    codes = [s.exit_code for s in failed if s.exit_code]
    reason = f"{len(failed)} of {len(each)} tasks failed" if failed else (each[0].reason if each else "")
    return JobStatus(
        job_id,
        state,
        reason,
        exit_code=(max(codes) if codes else (1 if failed else 0)) if state.is_final else None,
        submitted=min((s.submitted for s in each if s.submitted), default=None),
        started=min((s.started for s in each if s.started), default=None),
        finished=max((s.finished for s in each if s.finished), default=None) if state.is_final else None,
        tasks={k.value: v for k, v in counts.items()},
        name=each[0].name if each else "",
    )


@dataclass(frozen=True)
class JobResult:
    """How a job ended, with its times and accounting detail."""

    job_id: str
    state: JobState
    exit_code: int | None
    reason: str
    submitted: datetime | None
    started: datetime | None
    finished: datetime | None
    detail: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.state is JobState.SUCCEEDED and not self.exit_code

    @property
    def run_seconds(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()

    @classmethod
    def of(cls, status: JobStatus) -> JobResult:
        return cls(
            job_id=status.job_id,
            state=status.state,
            exit_code=status.exit_code,
            reason=status.reason,
            submitted=status.submitted,
            started=status.started,
            finished=status.finished,
            detail=dict(status.detail),
        )


def parse_time(stamp: str | None) -> datetime | None:
    """RFC 3339 (Kubernetes) -> aware datetime; None or junk -> None."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
