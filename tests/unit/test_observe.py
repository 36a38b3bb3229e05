"""From Job and pod JSON to the observation and the outcome (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.domain.lifecycle import KubePhase
from bridge.domain.states import JobState
from bridge.engine.observe import observe, outcome_of, summarise_job, summarise_pod

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _job(**status: Any) -> Any:
    return summarise_job(
        {
            "metadata": {
                "name": "j",
                "namespace": "batch",
                "uid": "u",
                "annotations": {"batch-bridge.io/source-id": "7"},
            },
            "status": status,
        }
    )


def _pod(phase: str, created: datetime = NOW, **status: Any) -> Any:
    return summarise_pod(
        {
            "metadata": {
                "name": "j-x",
                "namespace": "batch",
                "labels": {"batch.kubernetes.io/job-name": "j"},
                "creationTimestamp": created.isoformat().replace("+00:00", "Z"),
            },
            "spec": {"nodeName": "real-0"},
            "status": {"phase": phase, **status},
        }
    )


def _terminated(code: int, reason: str) -> dict[str, Any]:
    return {"containerStatuses": [{"name": "job", "state": {"terminated": {"exitCode": code, "reason": reason}}}]}


def test_no_job_is_absent_and_job_without_pod_is_pending() -> None:
    assert observe(None, None, NOW, 60).phase is KubePhase.ABSENT
    obs = observe(_job(), None, NOW, 60)
    assert obs.phase is KubePhase.PENDING and "waiting for the pod" in obs.reason


def test_unschedulable_reason_is_the_schedulers_message() -> None:
    pod = _pod(
        "Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/5 nodes are available: 5 Insufficient nvidia.com/gpu.",
            }
        ],
    )
    obs = observe(_job(), pod, NOW, 60)
    assert obs.phase is KubePhase.PENDING
    assert obs.reason == "k8s Pending: 0/5 nodes are available: 5 Insufficient nvidia.com/gpu."


def test_image_pull_fails_the_job_after_the_timeout_only() -> None:
    waiting = {
        "containerStatuses": [
            {"name": "job", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}
        ]
    }
    young = _pod("Pending", NOW - timedelta(seconds=10), **waiting)
    old = _pod("Pending", NOW - timedelta(seconds=120), **waiting)
    assert observe(_job(), young, NOW, 60).phase is KubePhase.PENDING
    failed = observe(_job(), old, NOW, 60)
    assert failed.phase is KubePhase.FAILED and "ImagePullBackOff for 120 s" in failed.reason


def test_pod_exit_code_and_oom() -> None:
    done = observe(_job(), _pod("Failed", **_terminated(3, "Error")), NOW, 60)
    out = outcome_of(done)
    assert (out.state, out.exit_code, out.signal) == (JobState.FAILED, 3, 0)
    oom = outcome_of(observe(_job(), _pod("Failed", **_terminated(137, "OOMKilled")), NOW, 60))
    assert (oom.state, oom.signal) == (JobState.OUT_OF_MEMORY, 9)
    assert "OUT_OF_MEMORY" in oom.reason
    ok = outcome_of(observe(_job(), _pod("Succeeded", **_terminated(0, "Completed")), NOW, 60))
    assert (ok.state, ok.exit_code, ok.failed) == (JobState.SUCCEEDED, 0, False)
    assert ("node", "real-0") in ok.detail


def test_deadline_without_pod_is_timeout() -> None:
    job = _job(conditions=[{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}])
    out = outcome_of(observe(job, None, NOW, 60))
    assert out.state is JobState.TIMEOUT


def test_disrupted_pod_of_a_requeue_job_waits_for_its_replacement() -> None:
    job = summarise_job(
        {
            "metadata": {"name": "j", "namespace": "batch", "annotations": {"batch-bridge.io/requeue": "true"}},
            "status": {},
        }
    )
    pod = _pod("Failed", conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}])
    assert observe(job, pod, NOW, 60).phase is KubePhase.PENDING
    assert outcome_of(observe(_job(), pod, NOW, 60)).state is JobState.NODE_FAIL
