"""examples/sdk as end-to-end tests: the analysis pipeline (split -> array of 10 -> merge, cleanup
after_not_ok) on both backends, resumed after kill -9, and the asyncio example. Run as alice in a
process of her own."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.fixtures.sdk_lab import LAB_CONFIG, REPO, SdkKube, SlurmDaemon, finish, kill_after_split, run_as

pytestmark = pytest.mark.integration
EXAMPLE = REPO / "examples" / "sdk" / "analysis.py"
HOME = Path("/lab/gpfs/home/alice")


def _kube_args(lab: SdkKube, name: str, workdir: Path, *extra: str) -> list[str]:
    return ["--backend", "kubernetes", "--config", lab.config_file, "--kubeconfig", lab.kubeconfig,
            "--name", name, "--workdir", str(workdir), *extra]  # fmt: skip


def test_analysis_pipeline_on_kubernetes_fan_out_10(sdk_kube: SdkKube) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    code, out = finish(run_as("alice", EXAMPLE, *_kube_args(sdk_kube, name, workdir, "--workers", "10")), 600)
    assert code == 0, out
    assert "split=succeeded work=succeeded merge=succeeded cleanup=cancelled" in out
    assert (workdir / "result.txt").read_text() == "500500\n"
    assert sorted(p.name for p in workdir.glob("partial-*.txt")) == sorted(f"partial-{i}.txt" for i in range(10))
    assert (workdir / "partial-3.txt").stat().st_uid == 2001


def test_a_failed_task_runs_cleanup_and_never_the_merge(sdk_kube: SdkKube) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    args = _kube_args(sdk_kube, name, workdir, "--workers", "3", "--fail-task", "1")
    code, out = finish(run_as("alice", EXAMPLE, *args), 600)
    assert code == 1, out
    assert "split=succeeded work=failed merge=cancelled cleanup=succeeded" in out
    assert (workdir / "FAILED").exists() and not list(workdir.glob("chunk-*.txt"))


def test_resume_after_kill_9_does_not_resubmit_finished_steps(sdk_kube: SdkKube) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    args = _kube_args(sdk_kube, name, workdir, "--workers", "4")
    kill_after_split(EXAMPLE, args)
    jobs = sdk_kube.batch.list_namespaced_job(sdk_kube.namespace, label_selector="batch-bridge.io/source=sdk").items
    uids = {
        j.metadata.name: j.metadata.uid
        for j in jobs
        if f".{name}." in j.metadata.annotations["batch-bridge.io/source-id"]
    }
    code, out = finish(run_as("alice", EXAMPLE, *args), 600)
    assert code == 0, out
    assert "adopted ['split'" in out
    after = sdk_kube.batch.list_namespaced_job(sdk_kube.namespace, label_selector="batch-bridge.io/source=sdk").items
    for job in after:
        if job.metadata.name in uids:
            assert job.metadata.uid == uids[job.metadata.name], f"{job.metadata.name} was created again"
    assert (workdir / "result.txt").read_text() == f"{4 * 1001 * 1000 // 8}\n" or (
        workdir / "result.txt"
    ).read_text() == "500500\n"


def test_analysis_pipeline_through_slurm_native_dependencies(slurm_daemon: SlurmDaemon) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    args = ["--backend", "slurm", "--config", str(LAB_CONFIG), "--slurm-url", slurm_daemon.rest_url,
            "--token-file", slurm_daemon.token_file("alice"), "--name", name, "--workdir", str(workdir), "--workers", "10"]  # fmt: skip
    code, out = finish(run_as("alice", EXAMPLE, *args), 900)
    assert code == 0, out
    assert "split=succeeded work=succeeded merge=succeeded cleanup=cancelled" in out
    assert (workdir / "result.txt").read_text() == "500500\n"
    # The merge waited in Slurm on the array, through Slurm's own dependency.
    merge = slurm_daemon.run_as_root("sacct", "-n", "-P", "-X", "--name=merge", "-u", "alice", "-o", "JobID,State")
    assert "COMPLETED" in merge


def test_resume_through_slurm_after_kill_9(slurm_daemon: SlurmDaemon) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    args = ["--backend", "slurm", "--config", str(LAB_CONFIG), "--slurm-url", slurm_daemon.rest_url,
            "--token-file", slurm_daemon.token_file("alice"), "--name", name, "--workdir", str(workdir), "--workers", "3"]  # fmt: skip
    kill_after_split(EXAMPLE, args)
    code, out = finish(run_as("alice", EXAMPLE, *args), 900)
    assert code == 0, out
    assert "adopted ['cleanup', 'merge', 'split', 'work']" in out  # all were submitted at once: none again
    queue = slurm_daemon.run_as_root("squeue", "-u", "alice", "-t", "all", "-h", "-o", "%i,%T,%k")
    splits = [line for line in queue.splitlines() if line.endswith(f"key={name}.split")]
    assert len(splits) == 1 and ",COMPLETED," in splits[0], queue
    assert (workdir / "result.txt").read_text() == "500500\n"


def test_async_example(sdk_kube: SdkKube) -> None:
    workdir = HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    workdir.mkdir()
    os.chown(workdir, 2001, 2001)
    script = REPO / "examples" / "sdk" / "async_jobs.py"
    args = ["--config", sdk_kube.config_file, "--kubeconfig", sdk_kube.kubeconfig, "--workdir", str(workdir)]
    code, out = finish(run_as("alice", script, *args), 300)
    assert code == 0, out
    assert all(f"job{n} step 3" in out for n in range(3))
