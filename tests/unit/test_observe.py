"""From Job and pod JSON to the observation and the outcome (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.domain.lifecycle import KubePhase
from bridge.domain.states import JobState
from bridge.engine.observe import EventSummary, observe, outcome_of, summarise_event, summarise_job, summarise_pod

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


def test_a_job_ended_by_its_pod_waits_for_that_pods_own_end() -> None:
    """Found by CI: after a kill -9 the relist saw a Job Failed (BackoffLimitExceeded) while its pod was
    still Running in the pod list, and the bridge wrote exit code 1 instead of the pod's 12."""
    failed = [{"type": t, "status": "True", "reason": "BackoffLimitExceeded"} for t in ("FailureTarget", "Failed")]
    job = _job(conditions=failed)
    stale = observe(job, _pod("Running"), NOW, 60)
    assert stale.phase is KubePhase.RUNNING
    seen = outcome_of(observe(job, _pod("Failed", **_terminated(12, "Error")), NOW, 60))
    assert (seen.state, seen.exit_code) == (JobState.FAILED, 12)
    complete = _job(conditions=[{"type": "Complete", "status": "True"}])
    assert observe(complete, _pod("Running"), NOW, 60).phase is KubePhase.RUNNING
    assert observe(complete, _pod("Pending"), NOW, 60).phase is KubePhase.PENDING
    # A pod that is gone leaves only the Job to tell; a deadline ends a pod that still runs.
    assert observe(job, None, NOW, 60).phase is KubePhase.FAILED
    deadline = _job(conditions=[{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}])
    assert outcome_of(observe(deadline, _pod("Running"), NOW, 60)).state is JobState.TIMEOUT


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


def test_an_evicted_pod_ends_its_job_as_a_platform_failure_whichever_watch_tells_first() -> None:
    """Found by CI: waiting for an evicted pod's own end wrote the kill's exit code, not 1."""
    evicted = [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]
    job = _job(conditions=[{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}])
    job_first = observe(job, _pod("Running", conditions=evicted), NOW, 60)
    assert job_first.phase is KubePhase.FAILED
    pod_first = observe(_job(), _pod("Failed", conditions=evicted, **_terminated(137, "Error")), NOW, 60)
    for obs in (job_first, pod_first):
        out = outcome_of(obs)
        assert (out.state, out.exit_code) == (JobState.NODE_FAIL, 1), out


def _event(kind: str, name: str, reason: str, message: str, type_: str = "Warning", prefix: str = "slurm-lab-") -> Any:
    return summarise_event(
        {
            "metadata": {"name": f"{name}.1", "namespace": "batch"},
            "involvedObject": {"kind": kind, "name": name, "namespace": "batch"},
            "type": type_,
            "reason": reason,
            "message": message,
            "lastTimestamp": "2026-12-01T12:00:00Z",
        },
        prefix=prefix,
    )


def test_only_warnings_about_the_bridges_jobs_and_pods_are_kept() -> None:
    assert _event("Job", "slurm-lab-7-abc", "FailedCreate", "forbidden") is not None
    assert _event("Job", "slurm-lab-7-abc", "SuccessfulCreate", "made", type_="Normal") is None
    assert _event("Job", "someone-elses", "FailedCreate", "forbidden") is None
    assert _event("Node", "slurm-lab-7-abc", "Rebooted", "x") is None


def test_a_job_whose_pod_cannot_be_created_says_why() -> None:
    warning = _event("Job", "slurm-lab-7-abc", "FailedCreate", 'pods "x" is forbidden: denied by site policy')
    obs = observe(_job(), None, NOW, 300, warning)
    assert obs.phase is KubePhase.PENDING
    assert obs.reason == 'k8s Pending: no pod yet: FailedCreate: pods "x" is forbidden: denied by site policy'
    assert observe(_job(), None, NOW, 300).reason == "k8s Pending: waiting for the pod to be created"


def test_a_pod_that_cannot_mount_its_storage_says_why() -> None:
    warning = _event("Pod", "j-x", "FailedMount", "MountVolume.SetUp failed for volume pnfs", prefix="j-")
    waiting: dict[str, Any] = {
        "containerStatuses": [{"name": "job", "state": {"waiting": {"reason": "ContainerCreating"}}}]
    }
    obs = observe(_job(), _pod("Pending", **waiting), NOW, 300, warning)
    assert obs.reason == "k8s Pending: ContainerCreating: FailedMount: MountVolume.SetUp failed for volume pnfs"


_CREATING = {"containerStatuses": [{"name": "job", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
_UNSCHEDULABLE = {
    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/4 nodes"}]
}


@pytest.mark.parametrize(
    ("node", "status", "warning", "reason", "routine"),
    [
        (None, None, None, "k8s Pending: waiting for the pod to be created", True),
        (None, None, ("FailedCreate", "quota"), "k8s Pending: no pod yet: FailedCreate: quota", False),
        (None, {}, None, "k8s Pending: waiting for a node", True),
        ("kwok-0", {}, None, "k8s Pending: starting on kwok-0", True),
        ("kwok-0", _CREATING, None, "k8s Pending: ContainerCreating", True),
        (
            "kwok-0",
            _CREATING,
            ("FailedMount", "no volume"),
            "k8s Pending: ContainerCreating: FailedMount: no volume",
            False,
        ),
        (None, _UNSCHEDULABLE, None, "k8s Pending: 0/4 nodes", False),
    ],
)
def test_routine_pending_steps_are_told_from_problems(
    node: str | None, status: dict[str, Any] | None, warning: tuple[str, str] | None, reason: str, routine: bool
) -> None:
    """Routine steps (every starting pod passes them) are written to the batch side later than problems."""
    pod = None
    if status is not None:
        raw = {"metadata": {"name": "j-x", "namespace": "batch"}, "spec": {"nodeName": node}, "status": status}
        pod = summarise_pod(raw)
    said = None if warning is None else EventSummary("batch", "Job", "j", warning[0], warning[1], "")
    obs = observe(_job(), pod, NOW, 300, said)
    assert (obs.phase, obs.reason, obs.routine) == (KubePhase.PENDING, reason, routine)
