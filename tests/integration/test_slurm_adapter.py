"""The Slurm front door end to end: real sbatch as alice/bob -> job_submit.lua -> `batch-bridge run slurm`
(as bbridge, over slurmrestd) -> a Job on the lab's real node -> the gateway shim -> squeue/sacct.

Each test asserts what the user sees through Slurm's own tools and in her files.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.fixtures.bridge_lab import SlurmBridge
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration


def _script(body: str, *directives: str) -> str:
    return "#!/bin/bash\n" + "".join(f"#SBATCH {d}\n" for d in directives) + body + "\n"


def test_completed_job_output_file_and_identity(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    tag = uuid.uuid4().hex[:8]
    body = f'echo "{tag} job=$SLURM_JOB_ID user=$(id -un) whoami=$(whoami) home=$HOME ~=$(cd ~ && pwd)"'
    job = slurm_bridge.submit("alice", _script(body, "-t 5", "--mem=64M"), cwd=alice.home)
    rec = slurm_bridge.slurm.wait_sacct(job, ["COMPLETED"], timeout=90)
    assert rec["ExitCode"] == "0:0"
    assert "done=COMPLETED exit=0" in rec["AdminComment"]
    out = Path(alice.home) / f"slurm-{job}.out"
    text = out.read_text()
    assert f"{tag} job={job} user=alice whoami=alice home={alice.home} ~={alice.home}" in text
    st = out.stat()
    assert (st.st_uid, st.st_gid) == (alice.uid, alice.gid)
    (kjob,) = slurm_bridge.kube_jobs(job)  # exactly one Kubernetes Job, labelled with the batch identity
    assert kjob.metadata.labels["batch-bridge.io/user"] == "alice"


def test_exit_code_3_is_failed_3_0(slurm_bridge: SlurmBridge) -> None:
    bob = slurm_bridge.slurm.users["bob"]
    job = slurm_bridge.submit("bob", _script("echo about to fail; exit 3", "-t 5"), cwd=bob.home)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=90)
    assert (rec["State"], rec["ExitCode"], rec["User"]) == ("FAILED", "3:0", "bob")
    assert "exit code 3" in rec["AdminComment"]
    assert "about to fail" in (Path(bob.home) / f"slurm-{job}.out").read_text()


def test_pending_reason_is_visible_then_scancel_deletes_the_kubernetes_job(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    # The gateway declares GPUs, the real node has none: Slurm accepts, Kubernetes cannot place it.
    job = slurm_bridge.submit("alice", _script("sleep 1", "-t 5", "--gres=gpu:1"), cwd=alice.home)
    slurm_bridge.wait_comment(job, "nvidia.com/gpu", timeout=60)
    shown = slurm_bridge.slurm.run("alice", "squeue", "-h", "-j", str(job), "-O", "state,admin_comment:300").stdout
    assert "PENDING" in shown and "k8s Pending" in shown and "nvidia.com/gpu" in shown
    assert slurm_bridge.kube_jobs(job)
    slurm_bridge.slurm.run("alice", "scancel", str(job))
    assert slurm_bridge.slurm.wait_sacct(job, timeout=60)["State"].startswith("CANCELLED")
    slurm_bridge.wait_kube_gone(job)


def test_scancel_of_a_running_job(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    job = slurm_bridge.submit("alice", _script("sleep 300", "-t 10"), cwd=alice.home)
    slurm_bridge.slurm.wait_state(job, ["RUNNING"], timeout=90)
    assert "k8s Running on" in slurm_bridge.admin_comment(job)
    slurm_bridge.slurm.run("alice", "scancel", str(job))
    assert slurm_bridge.slurm.wait_sacct(job, timeout=60)["State"].startswith("CANCELLED")
    slurm_bridge.wait_kube_gone(job)


def test_afterok_chain_runs_in_order_and_afternotok_ends_with_slurms_reason(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    a = slurm_bridge.submit("alice", _script("sleep 2; date +%s.%N > chain-a.txt", "-t 5"), cwd=alice.home)
    b = slurm_bridge.submit("alice", _script("date +%s.%N > chain-b.txt", "-t 5"), f"--dependency=afterok:{a}")
    c = slurm_bridge.submit("alice", _script("echo never", "-t 5"), f"--dependency=afternotok:{a}")
    assert slurm_bridge.slurm.wait_sacct(a, ["COMPLETED"], timeout=90)
    assert slurm_bridge.slurm.wait_sacct(b, ["COMPLETED"], timeout=90)
    ended_a = float((Path(alice.home) / "chain-a.txt").read_text())
    started_b = float((Path(alice.home) / "chain-b.txt").read_text())
    assert started_b > ended_a
    rec = slurm_bridge.slurm.wait_sacct(c, timeout=60)
    assert rec["State"].startswith("CANCELLED")
    assert "DependencyNeverSatisfied" in rec["AdminComment"]
    assert not slurm_bridge.kube_jobs(c)  # never sent to Kubernetes


def test_out_of_memory_is_reported(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    hog = "exec python3 -c 'x = bytearray(512 * 1024 * 1024); print(len(x))'"
    job = slurm_bridge.submit("alice", _script(hog, "-t 5", "--mem=64M"), cwd=alice.home)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=90)
    assert rec["State"] == "FAILED"
    assert rec["ExitCode"] == "0:9"
    assert "OUT_OF_MEMORY" in rec["AdminComment"] and "OOMKilled" in rec["AdminComment"]


def test_policy_refusal_reaches_admin_comment_and_stderr_file(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    script = "#!/bin/bash\n#SBATCH -t 5\n#BRIDGE --image=docker.io/library/alpine:3\necho should not run\n"
    job = slurm_bridge.submit("alice", script, cwd=alice.home)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=60)
    assert (rec["State"], rec["ExitCode"]) == ("FAILED", "1:0")
    assert "refused by batch-bridge" in rec["AdminComment"] and "allowed registry" in rec["AdminComment"]
    err = (Path(alice.home) / f"slurm-{job}.out").read_text()
    assert "batch-bridge: refused by batch-bridge" in err and "should not run" not in err
    assert not slurm_bridge.kube_jobs(job)


def test_output_outside_site_storage_is_refused_with_the_reason(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    job = slurm_bridge.submit("alice", _script("echo hi", "-t 5", "-o /tmp/bb-outside-%j.out"), cwd=alice.home)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=60)
    assert rec["State"] == "FAILED"
    assert f"output file '/tmp/bb-outside-{job}.out' is not on site storage" in rec["AdminComment"]


@pytest.mark.parametrize(
    ("user", "words"), [("root", "uid 0 may not run jobs"), ("bbridge", "uid 990 may not run jobs")]
)
def test_root_and_system_users_are_refused_at_submit(slurm_bridge: SlurmBridge, user: str, words: str) -> None:
    proc = slurm_bridge.slurm.run(user, "sbatch", "-p", "k8s", input=_script("id"), cwd="/tmp", check=False)
    assert proc.returncode != 0
    assert f"batch-bridge: {words}" in proc.stderr


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["-N", "2"], "more than one node) is not supported"),
        (["-p", "k8s,debug"], "mixes Kubernetes partitions"),
        (["--hold"], "--hold is not supported"),
    ],
)
def test_what_the_bridge_cannot_run_is_refused_by_sbatch(
    slurm_bridge: SlurmBridge, argv: list[str], words: str
) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    proc = slurm_bridge.slurm.run(
        "alice", "sbatch", "-p", "k8s", *argv, input=_script("id"), cwd=alice.home, check=False
    )
    assert proc.returncode != 0
    assert words in proc.stderr


def test_srun_into_the_bridged_partition_is_refused(slurm_bridge: SlurmBridge) -> None:
    proc = slurm_bridge.slurm.run("alice", "srun", "-p", "k8s", "true", check=False, timeout=30)
    assert proc.returncode != 0
    assert "srun and salloc into it are refused" in proc.stderr


def test_the_user_cannot_release_repartition_or_forge(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    job = slurm_bridge.submit("alice", _script("sleep 1", "-t 5", "--gres=gpu:1"), cwd=alice.home)
    slurm_bridge.wait_comment(job, "k8s Pending", timeout=60)
    attempts = {
        ("scontrol", "update", f"JobId={job}", "StartTime=now"): "StartTime cannot be changed",
        ("scontrol", "release", str(job)): "priority cannot be changed",
        ("scontrol", "hold", str(job)): "priority cannot be changed",
        ("scontrol", "update", f"JobId={job}", "Partition=debug"): "moved into or out of",
        ("scontrol", "update", f"JobId={job}", "Extra=x"): "cannot be changed",
        (
            "scontrol",
            "update",
            f"JobId={job}",
            "AdminComment=batch-bridge[v1 b=0 rel done=COMPLETED exit=0 sig=0] x",
        ): "",
    }
    for argv, words in attempts.items():
        proc = slurm_bridge.slurm.run("alice", *argv, check=False)
        assert proc.returncode != 0, argv
        assert words in proc.stderr, (argv, proc.stderr)
    # A refused update still makes slurmctld re-evaluate the job: the hold shows again at the next pass.
    rec = wait_until(
        f"job {job} held by the bridge again",
        lambda: ((r := slurm_bridge.slurm.job(job)) and r["state_reason"] == "BeginTime" and r) or None,
        30,
    )
    assert rec["partition"] == "k8s"
    assert rec["job_state"] == ["PENDING"]
    assert "done=" not in rec["admin_comment"]
    slurm_bridge.slurm.run("alice", "scancel", str(job))
    slurm_bridge.slurm.wait_sacct(job, timeout=60)


def test_a_shim_killed_by_its_owner_is_flagged(slurm_bridge: SlurmBridge) -> None:
    """The owner can end her job's gateway shim herself (here: SIGKILL to the batch step); sacct then
    shows an exit the bridge never wrote, and the record says so."""
    alice = slurm_bridge.slurm.users["alice"]
    job = slurm_bridge.submit("alice", _script("sleep 300", "-t 10"), cwd=alice.home)
    slurm_bridge.slurm.wait_state(job, ["RUNNING"], timeout=90)
    slurm_bridge.slurm.run("alice", "scancel", "--batch", "--signal=KILL", str(job))
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=60)
    assert (rec["State"], rec["ExitCode"]) == ("FAILED", "0:9")
    assert "done=" not in rec["AdminComment"]
    # The release text says so at once; over the CLI the audit soon writes its own flag into sacct.
    flags = ("no outcome yet: if the job ends before batch-bridge writes one", "ended without batch-bridge")
    assert any(f in rec["AdminComment"] for f in flags), rec["AdminComment"]
    slurm_bridge.wait_kube_gone(job)


def test_a_script_too_big_for_extra_runs_and_a_huge_one_is_refused_at_submit(slurm_bridge: SlurmBridge) -> None:
    """slurmctld keeps at most 1024 bytes of Extra: a bigger script travels after the marker in
    AdminComment until the job is taken in; one beyond the bridge's limit is refused by sbatch."""
    alice = slurm_bridge.slurm.users["alice"]
    filler = "".join(f"# line {i:04d} of a long header, as generated scripts have\n" for i in range(200))
    job = slurm_bridge.submit("alice", _script(filler + "echo big-script-ran", "-t 5"), cwd=alice.home)
    rec = slurm_bridge.slurm.wait_sacct(job, ["COMPLETED"], timeout=120)
    assert rec["ExitCode"] == "0:0"
    assert (Path(alice.home) / f"slurm-{job}.out").read_text() == "big-script-ran\n"
    assert "batch-bridge-script" not in rec["AdminComment"]  # replaced by the bridge's own status
    huge = _script("# x\n" * 20000 + "true", "-t 5")
    proc = slurm_bridge.slurm.run("alice", "sbatch", "--partition=k8s", input=huge, check=False)
    assert proc.returncode != 0 and "too large for partition k8s" in proc.stderr, proc.stderr


def test_srun_steps_inside_the_job_and_what_workflow_tools_emit(slurm_bridge: SlurmBridge) -> None:
    """srun runs its step in the pod (ranks, step ids, per-task files, exit status); --wckey and
    --open-mode=append (submitit) and --wrap (Snakemake) are taken with Slurm's meaning."""
    alice = slurm_bridge.slurm.users["alice"]
    body = (
        "srun -o task-%j-%s-%t.out sh -c 'echo rank=$SLURM_PROCID of=$SLURM_NTASKS step=$SLURM_STEP_ID job=$SLURM_JOB_ID'\n"
        "srun sh -c 'exit 3'; echo second=$?\n"
    )
    job = slurm_bridge.submit(
        "alice", _script(body, "-t 5", "-n 2", "--wckey=submitit", "--open-mode=append"), cwd=alice.home
    )
    rec = slurm_bridge.slurm.wait_sacct(job, ["COMPLETED"], timeout=120)
    assert rec["ExitCode"] == "0:0"
    home = Path(alice.home)
    for rank in (0, 1):
        text = (home / f"task-{job}-0-{rank}.out").read_text()
        assert text == f"rank={rank} of=2 step=0 job={job}\n", text
    log = (home / f"slurm-{job}.out").read_text()
    assert "second=3" in log and "srun: error:" in log and "task 0: Exited with exit code 3" in log, log
    wckey = slurm_bridge.slurm.run("alice", "sacct", "-X", "-n", "-P", "-j", str(job), "-o", "WCKey").stdout
    assert wckey.strip() == "submitit"
    wrapped = slurm_bridge.slurm.sbatch(
        "alice", "", "--partition=k8s", "-t", "5", "--wrap=echo wrapped $SLURM_JOB_ID", cwd=alice.home
    )
    assert slurm_bridge.slurm.wait_sacct(wrapped, ["COMPLETED"], timeout=120)["ExitCode"] == "0:0"
    assert (home / f"slurm-{wrapped}.out").read_text() == f"wrapped {wrapped}\n"


FORGE = (
    "import ctypes, sys\n"
    "lib = ctypes.CDLL('/usr/lib/x86_64-linux-gnu/slurm-wlm/libslurmfull.so', mode=ctypes.RTLD_GLOBAL)\n"
    "lib.slurm_init(None)\n"
    "sys.exit(lib.slurm_complete_job(int(sys.argv[1]), 0))\n"
)


def test_an_outcome_forged_through_libslurm_is_flagged(slurm_bridge: SlurmBridge) -> None:
    """The owner may complete her own job through libslurm (slurm_complete_job, exit 0) while its pod
    still runs: sacct then says COMPLETED 0:0, which the bridge never wrote, and the record says so."""
    alice = slurm_bridge.slurm.users["alice"]
    job = slurm_bridge.submit("alice", _script("sleep 300", "-t 10"), cwd=alice.home)
    slurm_bridge.slurm.wait_state(job, ["RUNNING"], timeout=90)
    slurm_bridge.slurm.run("alice", "python3", "-c", FORGE, str(job))
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=60)
    assert (rec["State"], rec["ExitCode"]) == ("COMPLETED", "0:0")  # the forgery itself
    assert "done=" not in rec["AdminComment"]
    flag = {
        "rest": "no outcome yet: if the job ends before batch-bridge writes one",
        "cli": "ended without batch-bridge",
    }
    wait_until(
        f"job {job} flagged in sacct",
        lambda: flag[slurm_bridge.transport] in (slurm_bridge.slurm.sacct(job) or {}).get("AdminComment", "") or None,
        60,
    )
    slurm_bridge.wait_kube_gone(job)  # and its pod does not run on


def test_array_with_mixed_exit_codes_and_throttle(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    body = (
        'echo "task=$SLURM_ARRAY_TASK_ID job=$SLURM_JOB_ID array=$SLURM_ARRAY_JOB_ID count=$SLURM_ARRAY_TASK_COUNT"\n'
        "sleep 1; exit $((SLURM_ARRAY_TASK_ID % 3))"
    )
    array = slurm_bridge.submit("alice", _script(body, "-t 5", "-o arr-%A_%a.out"), "--array=0-9%3", cwd=alice.home)
    seen_running: list[int] = []

    def all_done() -> bool | None:
        running = slurm_bridge.slurm.run("alice", "squeue", "-h", "-r", "-t", "R", "-j", str(array)).stdout
        seen_running.append(len(running.splitlines()))
        left = slurm_bridge.slurm.run("alice", "squeue", "-h", "-j", str(array)).stdout.strip()
        return True if not left else None

    wait_until(f"array {array} finished", all_done, 180, interval=0.3)
    assert max(seen_running) <= 3, seen_running
    out = slurm_bridge.slurm.run(
        "alice", "sacct", "-X", "-n", "-P", "-j", str(array), "-o", "JobID,JobIDRaw,State,ExitCode"
    ).stdout
    rows = {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines()}
    assert len(rows) == 10
    for i in range(10):
        raw, state, code = rows[f"{array}_{i}"]
        assert (state, code) == (("COMPLETED", "0:0") if i % 3 == 0 else ("FAILED", f"{i % 3}:0"))
        text = (Path(alice.home) / f"arr-{array}_{i}.out").read_text()
        assert f"task={i} job={raw} array={array} count=10" in text  # each task's real job id


def test_time_limit_ends_as_timeout(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    job = slurm_bridge.submit("alice", _script("sleep 600", "-t 1"), cwd=alice.home)
    slurm_bridge.slurm.wait_state(job, ["RUNNING"], timeout=90)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=150)
    assert rec["State"] == "TIMEOUT"
    slurm_bridge.wait_kube_gone(job)
