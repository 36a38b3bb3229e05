"""Platform failures are not the user's exit code: an evicted pod ends the Slurm job with NODE_FAIL and
the reason in AdminComment (sacct says FAILED: only slurmctld sets NODE_FAIL, for a node it lost, and
the gateway node is fine), unless the job may be requeued (--requeue, Slurm's default with
JobRequeue=1), when Kubernetes runs it again and the job ends as the run that finished.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.bridge_lab import NAMESPACE, SlurmBridge

pytestmark = pytest.mark.integration


def _running_pod(bridge: SlurmBridge, job: int) -> Any:
    return bridge.kube.running_pod(NAMESPACE, f"batch-bridge.io/job-id={job}")


def _submit(bridge: SlurmBridge, *args: str) -> int:
    alice = bridge.slurm.users["alice"]
    # A job that a second run finishes at once: the first run leaves a mark in the job's directory.
    script = (
        "#!/bin/sh\n#SBATCH -t 5 -o /dev/null\n"
        'mark="$HOME/.evict-$SLURM_JOB_ID"\n'
        'if [ -e "$mark" ]; then rm -f "$mark"; exit 0; fi\n'
        'touch "$mark"; sleep 300\n'
    )
    return bridge.submit("alice", script, *args, cwd=alice.home)


def test_an_evicted_pod_ends_the_job_as_node_fail_with_the_reason(slurm_bridge: SlurmBridge) -> None:
    job = _submit(slurm_bridge, "--no-requeue")
    pod = _running_pod(slurm_bridge, job)
    slurm_bridge.slurm.wait_state(job, ["RUNNING"], timeout=60)
    slurm_bridge.kube.evict(pod)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=120)
    assert (rec["State"], rec["ExitCode"]) == ("FAILED", "1:0"), rec
    assert "done=NODE_FAIL" in rec["AdminComment"] and "Eviction" in rec["AdminComment"], rec
    assert len(slurm_bridge.kube_jobs(job)) <= 1


def test_a_requeue_job_runs_again_after_an_eviction(slurm_bridge: SlurmBridge) -> None:
    job = _submit(slurm_bridge, "--requeue")
    first = _running_pod(slurm_bridge, job)
    slurm_bridge.slurm.wait_state(job, ["RUNNING"], timeout=60)
    slurm_bridge.kube.evict(first)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=180)
    assert (rec["State"], rec["ExitCode"]) == ("COMPLETED", "0:0"), rec
    (kjob,) = slurm_bridge.kube_jobs(job)  # the same Kubernetes Job ran a replacement (the evicted pod is deleted)
    pods = slurm_bridge.kube.core.list_namespaced_pod(
        NAMESPACE, label_selector=f"batch.kubernetes.io/job-name={kjob.metadata.name}"
    ).items
    assert [p.metadata.name != first.metadata.name for p in pods] == [True], [p.metadata.name for p in pods]
