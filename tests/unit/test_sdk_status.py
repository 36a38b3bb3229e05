"""Status mapping without a lab: Kubernetes Job + pods -> JobStatus, and the Slurm backend's one
query per interval whatever the number of tracked jobs."""

from __future__ import annotations

import os
import pwd
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.config.settings import BridgeSettings
from bridge.domain.states import JobState
from bridge.engine.observe import summarise_pod
from bridge.sdk import slurm_backend
from bridge.sdk.kube_status import gone, status_of, summarise

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ME = pwd.getpwuid(os.getuid()).pw_name  # the backend keeps only the caller's own jobs


def _job(**status: Any) -> dict[str, Any]:
    spec = {"completions": status.pop("completions", 1)} | (
        {"completionMode": "Indexed"} if status.pop("indexed", False) else {}
    )
    meta = {"namespace": "ns", "name": "j", "uid": "u", "creationTimestamp": "2026-12-01T11:59:00Z",
            "annotations": {"batch-bridge.io/job-name": "fit"}}  # fmt: skip
    return {"metadata": meta, "spec": spec, "status": status}


def _pod(phase: str, **term: Any) -> Any:
    state = {
        "terminated": {"exitCode": 0, "startedAt": "2026-12-01T11:59:10Z", "finishedAt": "2026-12-01T11:59:20Z"} | term
    }
    obj = {"metadata": {"name": "p", "namespace": "ns", "labels": {"batch.kubernetes.io/job-name": "j"},
                        "creationTimestamp": "2026-12-01T11:59:01Z"},
           "spec": {"nodeName": "real-0"},
           "status": {"phase": phase, "containerStatuses": [{"name": "job", "state": state}] if phase in ("Succeeded", "Failed") else []}}  # fmt: skip
    return summarise_pod(obj)


def test_single_job_states_times_and_names() -> None:
    pending = status_of("ns/j", summarise(_job()), [], NOW, 60)
    assert (pending.state, pending.name) == (JobState.PENDING, "fit")
    failed = status_of("ns/j", summarise(_job()), [_pod("Failed", exitCode=3, reason="Error")], NOW, 60)
    assert (failed.state, failed.exit_code) == (JobState.FAILED, 3) and "exit code 3" in failed.reason
    assert failed.started is not None and failed.finished is not None and dict(failed.detail)["node"] == "real-0"
    assert gone("ns/j", failed) == failed  # a TTL clean-up keeps the outcome
    assert gone("ns/j", pending).state is JobState.CANCELLED


def test_array_counts_and_conditions() -> None:
    running = status_of("ns/j", summarise(_job(indexed=True, completions=4, active=2, succeeded=1)), [], NOW, 60)
    assert (running.state, running.tasks) == (
        JobState.RUNNING,
        {"succeeded": 1, "failed": 0, "running": 2, "pending": 1},
    )
    cond = [
        {"type": "Failed", "status": "True", "reason": "FailedIndexes", "lastTransitionTime": "2026-12-01T11:59:30Z"}
    ]
    failed = status_of(
        "ns/j", summarise(_job(indexed=True, completions=4, succeeded=3, failed=1, conditions=cond)), [], NOW, 60
    )
    assert (failed.state, failed.exit_code, failed.reason) == (
        JobState.FAILED,
        1,
        "FAILED: 1 of 4 tasks failed (FailedIndexes)",
    )
    assert failed.finished == datetime(2026, 12, 1, 11, 59, 30, tzinfo=UTC)


class _Rest:
    """slurmrestd's two listings as the view reads them (a stand-in for the transport in a pure test)."""

    def __init__(self, *args: Any) -> None:
        self.calls, self.read = 0, 0
        self.state = dict.fromkeys(range(1, 51), "RUNNING") | {0: "PENDING"}  # job 0: not tracked

    def states(self) -> list[tuple[str, str]]:
        self.calls += 1
        return [(str(i), s) for i, s in self.state.items()]

    def records(self, ids: Any) -> list[dict[str, Any]]:
        wanted = [int(i) for i in ids]
        self.read += len(wanted)
        return [{"job_id": i, "user_name": ME, "job_state": [self.state[i]], "name": "w"} for i in wanted]

    def jobs(self) -> list[dict[str, Any]]:
        raise AssertionError("the full listing polled")

    def accounting(self, job_id: str) -> list[dict[str, Any]]:
        raise AssertionError("slurmdbd asked for a job slurmctld still has")


def test_slurm_poll_is_one_light_listing_and_records_only_of_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slurm_backend, "SlurmRest", _Rest)
    backend = slurm_backend.SlurmBackend(BridgeSettings(), poll_interval_s=3600)
    rest: _Rest = backend.rest  # type: ignore[assignment]
    backend._tracked.update(str(i) for i in range(1, 51))
    backend.poll()
    assert (rest.calls, rest.read) == (1, 50)  # each new job read once; job 0 is older than all tracked
    assert all(backend.hub.latest(str(i)).state is JobState.RUNNING for i in range(1, 51))  # type: ignore[union-attr]
    backend.poll()
    assert (rest.calls, rest.read) == (2, 50)  # nothing changed: nothing read
    rest.state[7] = "COMPLETED"
    backend.poll()
    assert (rest.calls, rest.read) == (3, 51)
    assert backend.hub.latest("7").state is JobState.SUCCEEDED  # type: ignore[union-attr]
