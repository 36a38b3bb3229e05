"""The examples end to end: `batch-bridge translate` -> objects created as the bridge's ServiceAccount
-> run on the lab's real node as alice -> what a Slurm/HTCondor user would see in their directories.

Output/error files at the paths Slurm or HTCondor would use (patterns expanded, open mode honoured),
their content and ownership, the exit code, SLURM_*/_CONDOR_* variables seen by the script, one file
per array task. gpu.sh and container.sub need GPUs and foreign images: translated only.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException

from bridge.config.settings import load_settings
from bridge.kube.storage_sync import ensure_storage
from tests.fixtures.batch_lab import BatchLab, LabUser
from tests.fixtures.kube_lab import (
    KubeLab,
    RealNode,
    apply_as_bridge,
    grant_bridge_role,
    has_condition,
    terminated,
    translate,
    wait_bridge_job,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "examples" / "config" / "lab-real-node.yaml"
SLURM = REPO / "examples" / "slurm"
CONDOR = REPO / "examples" / "htcondor"
NAMESPACE = "batch"  # site.namespace.fixed in the config


@dataclass
class Run:
    job_id: int
    objects: list[dict[str, Any]]
    jobs: list[Any]  # finished V1Jobs, in translation order
    pods: list[Any]  # their pods (all of them)


@dataclass
class Bridge:
    """Translate and run examples as `user`; remembers what to clean up."""

    lab: KubeLab
    node: RealNode
    user: LabUser
    base_id: int
    next_id: int = 0
    created: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)
    files: list[Path] = field(default_factory=list)

    def job_id(self) -> int:
        self.next_id += 1
        return self.base_id + self.next_id

    def peek_id(self) -> int:
        """The job id the next `run` will use (to prepare files at its paths)."""
        return self.base_id + self.next_id + 1

    def run(
        self, path: Path, *, submit_dir: Path | None = None, extra: list[str] | None = None, timeout: float = 120
    ) -> Run:
        job_id = self.job_id()
        objects = translate(
            path,
            config=CONFIG,
            user=self.user.name,
            submit_dir=submit_dir or self.user.home,
            job_id=job_id,
            extra=extra,
        )
        self.created += [(o["kind"], o["metadata"]["name"]) for o in objects]
        names = apply_as_bridge(self.lab, objects)
        jobs = [wait_bridge_job(self.lab, NAMESPACE, n, timeout) for n in names]
        pods = []
        for n in names:
            # The bridge's Role allows reading pods: what it will use for status.
            found = self.lab.bridge_core.list_namespaced_pod(
                NAMESPACE, label_selector=f"batch.kubernetes.io/job-name={n}"
            ).items
            assert found, f"no pod for Job {n}"
            assert all(p.spec.node_name == self.node.name for p in found), "not run on the real node"
            pods += found
        return Run(job_id, objects, jobs, pods)

    def output(self, path: Path) -> str:
        """Content of a file the job wrote, after checking it belongs to the user."""
        self.files.append(path)
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (self.user.uid, self.user.gid), f"{path} owned by {st.st_uid}:{st.st_gid}"
        return path.read_text()


@pytest.fixture(scope="module")
def bridge(kube_lab: KubeLab, real_node: RealNode, batch_lab: BatchLab) -> Iterator[Bridge]:
    grant_bridge_role(kube_lab, NAMESPACE)
    # The site storage claims the jobs mount (CSI, statically provisioned), as the daemon ensures them.
    storage = ensure_storage(kube_lab.bridge, load_settings(CONFIG).site, NAMESPACE, "lab")
    assert storage.ready, storage.reason
    # Job ids name the objects (deterministic names); a random base keeps sessions apart.
    b = Bridge(kube_lab, real_node, batch_lab.users["alice"], random.randrange(100, 900) * 1000)
    yield b
    for kind, name in b.created:
        try:
            if kind == "Job":
                kube_lab.batch.delete_namespaced_job(name, NAMESPACE, propagation_policy="Background")
            else:
                kube_lab.core.delete_namespaced_config_map(name, NAMESPACE)
        except ApiException as e:
            if e.status != 404:
                raise
    for f in b.files:
        f.unlink(missing_ok=True)


def _succeeded(run: Run) -> None:
    for job in run.jobs:
        assert has_condition(job, "Complete"), f"Job {job.metadata.name}: {job.status}"
    for pod in run.pods:
        assert terminated(pod).exit_code == 0


def _env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# --- Slurm -----------------------------------------------------------------------------------------


def test_hello(bridge: Bridge, batch_lab: BatchLab) -> None:
    path = bridge.user.home / f"slurm-{bridge.peek_id()}.out"
    batch_lab.run(bridge.user.name, "sh", "-c", f"echo stale > {path}")  # default open mode: truncate
    run = bridge.run(SLURM / "hello.sh")
    _succeeded(run)
    out = bridge.output(path)
    # The image has no passwd entry for alice: `whoami` fails and the example falls back to the uid
    # (a Slurm node would say "as alice").
    uid = bridge.user.uid
    assert re.fullmatch(rf"hello from \S+ as (alice|{uid}), job {run.job_id}\n", out), out


def test_exit_code_and_output_of_a_failing_script(bridge: Bridge, tmp_path: Path) -> None:
    script = tmp_path / "fail.sh"
    script.write_text('#!/bin/bash\n#SBATCH -J fail\n#SBATCH -p k8s\necho "about to fail"\nexit 3\n')
    run = bridge.run(script)
    (job,) = run.jobs
    assert has_condition(job, "Failed")
    (pod,) = run.pods
    assert terminated(pod).exit_code == 3
    assert bridge.output(bridge.user.home / f"slurm-{run.job_id}.out") == "about to fail\n"


def test_slurm_variables_seen_by_the_script(bridge: Bridge, tmp_path: Path) -> None:
    script = tmp_path / "env.sh"
    script.write_text("#!/bin/bash\n#SBATCH -J envdump\n#SBATCH -p k8s\nenv | grep '^SLURM' | sort\n")
    run = bridge.run(script)
    _succeeded(run)
    env = _env(bridge.output(bridge.user.home / f"slurm-{run.job_id}.out"))
    u = bridge.user
    assert env["SLURM_JOB_ID"] == env["SLURM_JOBID"] == str(run.job_id)
    assert env["SLURM_JOB_NAME"] == "envdump"
    assert (env["SLURM_JOB_USER"], env["SLURM_JOB_UID"], env["SLURM_JOB_GID"]) == (u.name, str(u.uid), str(u.gid))
    assert env["SLURM_SUBMIT_DIR"] == str(u.home)
    assert env["SLURM_JOB_PARTITION"] == "k8s"
    assert env["SLURM_CLUSTER_NAME"] == "lab"
    assert env["SLURM_JOB_NODELIST"] == env["SLURMD_NODENAME"] == bridge.node.name
    assert env["SLURM_NTASKS"] == "1"


def test_array_one_file_per_task(bridge: Bridge) -> None:
    run = bridge.run(SLURM / "array.sh")
    _succeeded(run)
    (job,) = run.jobs
    assert job.spec.parallelism == 2  # %2
    tasks = [0, 3, 6, 9, 20]
    assert len(run.pods) == len(tasks)
    for t in tasks:
        out = bridge.output(bridge.user.home / f"sweep-{run.job_id}_{t}.out")
        assert out == f"task {t} of {len(tasks)} (array job {run.job_id})\n"


def test_multitask_variables(bridge: Bridge) -> None:
    # As written it asks 8 CPUs (4 tasks x 2); the real node has the machine's 2. Command-line
    # options override #SBATCH lines, as with sbatch.
    objects = translate(
        SLURM / "multitask.sh", config=CONFIG, user=bridge.user.name, submit_dir=bridge.user.home, job_id=1
    )
    (job,) = [o for o in objects if o["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "8"
    run = bridge.run(SLURM / "multitask.sh", extra=["--sbatch-args=-n 2 -c 1 --ntasks-per-node=2 --mem-per-cpu=100M"])
    _succeeded(run)
    out = bridge.output(bridge.user.home / f"slurm-{run.job_id}.out")
    assert out == "tasks=2 cpus/task=1 cpus=2\n"


def test_python_script(bridge: Bridge) -> None:
    run = bridge.run(SLURM / "analysis.py")
    _succeeded(run)
    assert bridge.output(bridge.user.home / f"analysis-{run.job_id}.log") == f"job {run.job_id} in {bridge.user.home}\n"


def test_patterns_chdir_append_and_error_file(bridge: Bridge, batch_lab: BatchLab) -> None:
    u = bridge.user
    logs = u.data / "logs"
    batch_lab.run(u.name, "mkdir", "-p", str(logs))  # as Slurm would need: the user makes logs/
    job_id = bridge.peek_id()
    out = logs / f"patterns-{job_id}-{bridge.node.name}.out"
    err = logs / f"patterns-{u.name}-{job_id:04d}.err"
    batch_lab.run(u.name, "sh", "-c", f"echo 'from an earlier run' > {out}")  # --open-mode=append keeps it
    run = bridge.run(SLURM / "patterns.sh")
    assert run.job_id == job_id
    _succeeded(run)
    assert bridge.output(out) == f"from an earlier run\nout to patterns-{job_id}-<node>.out, mode test\n"
    assert bridge.output(err) == "this goes to the error file\n"


# --- HTCondor --------------------------------------------------------------------------------------


def test_vanilla(bridge: Bridge) -> None:
    run = bridge.run(CONDOR / "vanilla.sub")
    _succeeded(run)
    home = bridge.user.home
    assert bridge.output(home / f"vanilla.{run.job_id}.0.out") == f"hello big world from {run.job_id}.0\n"
    assert bridge.output(home / f"vanilla.{run.job_id}.0.err") == ""


def _plant_stale(batch_lab: BatchLab, user: LabUser, paths: list[Path]) -> None:
    """These examples name their files without the cluster id, so an earlier run's files sit at the
    same paths with the same content: overwrite them first, so only this run's output can pass."""
    batch_lab.run(user.name, "sh", "-c", " ".join(f"echo stale-{i} > {p};" for i, p in enumerate(paths)))


def test_queue_n(bridge: Bridge, batch_lab: BatchLab) -> None:
    home = bridge.user.home
    _plant_stale(batch_lab, bridge.user, [home / f"queue_n.{i}.{s}" for i in range(3) for s in ("out", "err")])
    run = bridge.run(CONDOR / "queue_n.sub")
    _succeeded(run)
    assert len(run.jobs) == 3
    for i in range(3):
        assert bridge.output(home / f"queue_n.{i}.out") == f"proc {i}\n"  # truncated, as HTCondor does
        assert bridge.output(home / f"queue_n.{i}.err") == ""


def test_queue_from(bridge: Bridge, batch_lab: BatchLab) -> None:
    home = bridge.user.home
    _plant_stale(batch_lab, bridge.user, [home / f"from.run0{i}.{s}" for i in (1, 2) for s in ("out", "err")])
    run = bridge.run(CONDOR / "queue_from.sub")
    _succeeded(run)
    assert bridge.output(home / "from.run01.out") == "sample=run01 energy=13\n"
    assert bridge.output(home / "from.run02.out") == "sample=run02 energy=14\n"
    assert bridge.output(home / "from.run01.err") == bridge.output(home / "from.run02.err") == ""


def test_condor_variables_seen_by_the_job(bridge: Bridge, tmp_path: Path) -> None:
    sub = tmp_path / "env.sub"
    sub.write_text(
        "executable = /bin/sh\ntransfer_executable = false\n"
        "arguments = \"-c 'env | grep ^_CONDOR_ | sort; exit 4'\"\n"
        "output = env.$(Cluster).$(Process).out\nerror = env.$(Cluster).$(Process).err\nqueue\n"
    )
    run = bridge.run(sub)
    (pod,) = run.pods
    assert terminated(pod).exit_code == 4
    env = _env(bridge.output(bridge.user.home / f"env.{run.job_id}.0.out"))
    assert env["_CONDOR_CLUSTER_ID"] == str(run.job_id)
    assert env["_CONDOR_PROC_ID"] == "0"
    assert env["_CONDOR_JOB_IWD"] == str(bridge.user.home)
    assert "_CONDOR_SCRATCH_DIR" in env
    bridge.output(bridge.user.home / f"env.{run.job_id}.0.err")


# --- translate only --------------------------------------------------------------------------------


def test_gpu_and_container_examples_are_translate_only(bridge: Bridge) -> None:
    """gpu.sh needs nvidia.com/gpu, container.sub a foreign image: neither runs on the lab's node."""
    u = bridge.user
    gpu = translate(SLURM / "gpu.sh", config=CONFIG, user=u.name, submit_dir=u.home, job_id=1)
    (job,) = [o for o in gpu if o["kind"] == "Job"]
    assert "nvidia.com/gpu" in job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    sub = translate(CONDOR / "container.sub", config=CONFIG, user=u.name, submit_dir=u.home, job_id=1)
    images = {o["spec"]["template"]["spec"]["containers"][0]["image"] for o in sub if o["kind"] == "Job"}
    assert images
    assert bridge.node.image not in images
