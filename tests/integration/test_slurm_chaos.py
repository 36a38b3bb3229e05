"""kill -9 of the daemon in the middle of a run, then a restart: no job lost, none run twice, every
exit code right. The daemon keeps no state of its own; the restarted one rebuilds it from Slurm's
records (AdminComment markers) and the Kubernetes objects, and lands on the same rows.
"""

from __future__ import annotations

import pytest

from tests.fixtures.bridge_lab import NAMESPACE, SlurmBridge
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration
JOBS = 50


def test_kill9_in_the_middle_of_50_jobs_then_restart(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    ids = [
        slurm_bridge.submit("alice", f"#!/bin/sh\n#SBATCH -t 5 -o /dev/null\nsleep 0.5\nexit {i % 4}\n", cwd=alice.home)
        for i in range(JOBS)
    ]
    # Cut while some jobs are done, some run and some are not yet taken.
    wait_until(
        "a third of the jobs handed to Kubernetes",
        lambda: (
            len(
                slurm_bridge.kube.batch.list_namespaced_job(
                    NAMESPACE, label_selector="batch-bridge.io/source=slurm"
                ).items
            )
            >= JOBS // 3
            or None
        ),
        180,
    )
    slurm_bridge.kill9()
    slurm_bridge.up()
    for i, job in enumerate(ids):
        rec = slurm_bridge.slurm.wait_sacct(job, timeout=300)
        want = ("COMPLETED", "0:0") if i % 4 == 0 else ("FAILED", f"{i % 4}:0")
        assert (rec["State"], rec["ExitCode"]) == want, (job, rec)
        assert f"done={want[0]} exit={i % 4} sig=0" in rec["AdminComment"]
        (kjob,) = slurm_bridge.kube_jobs(job)  # one Kubernetes Job per batch job
        pods = slurm_bridge.kube.core.list_namespaced_pod(
            NAMESPACE, label_selector=f"batch.kubernetes.io/job-name={kjob.metadata.name}"
        ).items
        assert len(pods) == 1, (job, [p.metadata.name for p in pods])  # and it ran once
