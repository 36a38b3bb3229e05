"""The SDK's htcondor backend on the lab: alice's own IDTOKEN (condor_token_fetch), the real schedd,
the bridged selection (+WantKubernetes), and the bridge daemon lab/bridge runs (used as it is)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from bridge.sdk import Client, JobSpec, JobState
from bridge.sdk.condor_submit import KEY_ATTR
from tests.fixtures.sdk_lab import LAB_CONFIG, REPO, CondorDaemon, as_user, finish, kill_after_split, run_as
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration
SMALL = {"memory": "64M", "time_limit": 300}
HOME = Path("/lab/gpfs/home/alice")
EXAMPLE = REPO / "examples" / "sdk" / "analysis.py"


def _history(daemon: CondorDaemon, cluster: str) -> dict[str, Any]:
    """Proc 0 of ``cluster`` once in condor_history (the schedd moves ended jobs at its next sweep)."""
    return wait_until(f"cluster {cluster} in history", lambda: next(iter(daemon.ads(cluster, True)), None), 60)


def _client(daemon: CondorDaemon, **options: str) -> Client:
    options = {"collector": daemon.collector, "token_dir": daemon.token_dir("alice")} | options
    return Client("htcondor", config=LAB_CONFIG, **options)


def test_submit_wait_exit_code_output_file_and_history(condor_daemon: CondorDaemon) -> None:
    tag = uuid.uuid4().hex[:8]
    with as_user("alice"), _client(condor_daemon) as client:
        job = client.submit(JobSpec.script(f'#!/bin/sh\necho "{tag} $(id -un)"\necho oops >&2\nexit 3\n', **SMALL))
        states = [s.state for s in job.watch()]
        result = job.result()
        text = job.logs().text()
    assert states[0] is JobState.PENDING and JobState.RUNNING in states and states[-1] is JobState.FAILED
    assert result.exit_code == 3 and "exit code 3" in result.reason  # the bridge's KubernetesStatus
    assert result.submitted and result.started and result.finished and result.run_seconds is not None
    assert result.detail["remote_host"].endswith("@real-0")
    assert text == f"{tag} alice\noops\n"  # stderr joined, as on the other backends
    ad = _history(condor_daemon, job.id)
    assert (ad["Owner"], ad["ExitCode"], ad["WantKubernetes"], ad["Managed"]) == ("alice", 3, True, "ScheddDone")


def test_an_array_is_one_cluster_one_proc_per_index(condor_daemon: CondorDaemon) -> None:
    out = f"{HOME}/sdk-arr-{uuid.uuid4().hex[:6]}-{{index}}.out"
    with as_user("alice"), _client(condor_daemon) as client:
        spec = JobSpec.command(["sh", "-c", 'echo "i=$BATCH_BRIDGE_ARRAY_INDEX"'], array=range(3), stdout=out, **SMALL)
        job = client.submit(spec)
        status = job.wait(timeout=180)
    assert status.ok and status.tasks == {"succeeded": 3}
    assert [Path(out.format(index=i)).read_text() for i in range(3)] == [f"i={i}\n" for i in range(3)]
    ads = wait_until("3 procs in history", lambda: a if len(a := condor_daemon.ads(job.id, True)) == 3 else None, 60)
    assert [a["ProcId"] for a in ads] == [0, 1, 2]


def test_cancel_pending_job(condor_daemon: CondorDaemon) -> None:
    with as_user("alice"), _client(condor_daemon) as client:
        # The real node has no GPUs: the pod stays pending, the bridge says why in KubernetesStatus.
        job = client.submit(JobSpec.command(["true"], gpus=1, **SMALL))
        for status in job.watch(reasons=True):
            if "nvidia.com/gpu" in status.reason:
                job.cancel()
        final = job.status()
    assert final.state is JobState.CANCELLED and "(by user alice)" in final.reason, final  # RemoveReason


def test_cancel_running_job(condor_daemon: CondorDaemon) -> None:
    with as_user("alice"), _client(condor_daemon) as client:
        job = client.submit(JobSpec.command(["sleep", "300"], **SMALL))
        for status in job.watch():
            if status.state is JobState.RUNNING:
                job.cancel()
        final = job.status()
    assert final.state is JobState.CANCELLED, final
    assert _history(condor_daemon, job.id)["JobStatus"] == 3


AS_BOB = """
import sys
from bridge.sdk import Client, JobNotFound
client = Client("htcondor", config=sys.argv[1], collector=sys.argv[2])
print("listed", sys.argv[3] in {s.job_id for s in client.list()})
try:
    client.cancel(sys.argv[3])
    print("cancelled")
except JobNotFound as exc:
    print("JobNotFound", exc)
"""


def test_bob_can_neither_see_nor_cancel_alices_job(condor_daemon: CondorDaemon) -> None:
    with as_user("alice"), _client(condor_daemon) as client:
        job = client.submit(JobSpec.command(["sleep", "30"], **SMALL))
    script = HOME.parent / "bob" / f".sdk-as-bob-{uuid.uuid4().hex[:6]}.py"
    script.write_text(AS_BOB)
    os.chown(script, 2002, 2002)
    # bob in a process of his own: the bindings cache authenticated sessions per process
    out, _ = run_as("bob", script, str(LAB_CONFIG), condor_daemon.collector, job.id).communicate(timeout=120)
    assert "listed False" in out and "JobNotFound" in out, out
    ad = condor_daemon.ads(job.id)[0]
    assert ad["JobStatus"] != 3 and ad["Owner"] == "alice"
    with as_user("alice"), _client(condor_daemon) as client:
        client.cancel(job.id)


def test_a_refusal_is_a_final_state_with_the_hold_reason(condor_daemon: CondorDaemon) -> None:
    with as_user("alice"), _client(condor_daemon) as client:
        job = client.submit(JobSpec.command(["true"], stdout="/tmp/stolen.out", **SMALL))
        status = job.wait(timeout=120)
        client.cancel(job.id)
    assert status.state is JobState.FAILED and not status.ok
    assert status.reason.startswith("refused by batch-bridge: output file '/tmp/stolen.out' is not on site storage")
    assert dict(status.detail)["hold_code"] == "26.1"


NO_TOKEN = """
import sys
from bridge.sdk import BackendError, Client, JobSpec
try:
    Client("htcondor", config=sys.argv[1], collector=sys.argv[2], token_dir=sys.argv[3], auth_methods="IDTOKENS").submit(
        JobSpec.command(["true"], memory="64M")
    )
except BackendError as exc:
    print(f"{type(exc).__name__}|{exc.backend}|{exc.backend_message}")
"""


def test_the_schedds_refusal_is_a_typed_error_with_its_message(condor_daemon: CondorDaemon) -> None:
    # A process of its own (HTCondor caches authenticated sessions per process), no token.
    d = HOME / f".sdk-no-token-{uuid.uuid4().hex[:6]}"
    (d / "tokens.d").mkdir(parents=True)
    (d / "no_token.py").write_text(NO_TOKEN)
    for item in (d, d / "tokens.d", d / "no_token.py"):
        os.chown(item, 2001, 2001)
    proc = run_as("alice", d / "no_token.py", str(LAB_CONFIG), condor_daemon.collector, str(d / "tokens.d"))
    out, _ = proc.communicate(timeout=120)
    assert out.strip() and "|" in out.strip().splitlines()[-1], out
    kind, backend, message = out.strip().splitlines()[-1].split("|", 2)
    assert (kind in ("BackendError", "SubmitError"), backend) == (True, "htcondor"), out
    assert "authenticat" in message.lower() or "permission" in message.lower(), out  # HTCondor's own words


def test_list_and_keyed_adoption(condor_daemon: CondorDaemon) -> None:
    key = f"adopt-{uuid.uuid4().hex[:6]}"
    with as_user("alice"), _client(condor_daemon) as client:
        first = client.submit(JobSpec.command(["sleep", "5"], name="adopt", **SMALL), key=key)
        second = client.submit(JobSpec.command(["sleep", "5"], name="adopt", **SMALL), key=key)
        listed = {s.job_id for s in client.list(name_prefix="adopt")}
        assert first.wait(timeout=180).ok
    assert (second.id, second.adopted, first.adopted) == (first.id, True, False)
    assert first.id in listed
    assert _history(condor_daemon, first.id)[KEY_ATTR] == key


def _args(daemon: CondorDaemon, name: str, workdir: Path, *extra: str) -> list[str]:
    return ["--backend", "htcondor", "--config", str(LAB_CONFIG), "--collector", daemon.collector,
            "--name", name, "--workdir", str(workdir), *extra]  # fmt: skip


def test_analysis_pipeline_fan_out_fan_in(condor_daemon: CondorDaemon) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    code, out = finish(run_as("alice", EXAMPLE, *_args(condor_daemon, name, workdir, "--workers", "10")), 600)
    assert code == 0, out
    assert "split=succeeded work=succeeded merge=succeeded cleanup=cancelled" in out
    assert (workdir / "result.txt").read_text() == "500500\n"
    assert (workdir / "partial-9.txt").stat().st_uid == 2001


def test_a_failed_task_runs_cleanup_after_not_ok(condor_daemon: CondorDaemon) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    args = _args(condor_daemon, name, workdir, "--workers", "3", "--fail-task", "1")
    code, out = finish(run_as("alice", EXAMPLE, *args), 600)
    assert code == 1, out
    assert "split=succeeded work=failed merge=cancelled cleanup=succeeded" in out
    assert (workdir / "FAILED").exists() and not list(workdir.glob("chunk-*.txt"))


def test_resume_after_kill_9_does_not_resubmit_finished_steps(condor_daemon: CondorDaemon) -> None:
    name, workdir = f"an-{uuid.uuid4().hex[:6]}", HOME / f"sdk-{uuid.uuid4().hex[:6]}"
    args = _args(condor_daemon, name, workdir, "--workers", "3")
    kill_after_split(EXAMPLE, args)
    code, out = finish(run_as("alice", EXAMPLE, *args), 600)
    assert code == 0, out
    assert "adopted ['split'" in out
    splits = condor_daemon.run_as(
        "root", "condor_history", "-constraint", f'{KEY_ATTR} == "{name}.split"', "-af", "ClusterId"
    )
    queued = condor_daemon.run_as(
        "root", "condor_q", "-allusers", "-constraint", f'{KEY_ATTR} == "{name}.split"', "-af", "ClusterId"
    )
    assert len((splits + queued).split()) == 1, (splits, queued)  # the split ran once
    assert (workdir / "result.txt").read_text() == "500500\n"


def _cli(daemon: CondorDaemon, *args: str) -> tuple[int, str]:
    options = ["--backend", "htcondor", "--config", str(LAB_CONFIG), "--collector", daemon.collector]
    return finish(run_as("alice", REPO / "bridge" / "cli" / "main.py", args[0], *options, *args[1:]), 300)


def test_cli_submit_wait_status_logs_cancel(condor_daemon: CondorDaemon) -> None:
    code, out = _cli(condor_daemon, "submit", "--mem", "64M", "--wait", "--", "sh", "-c", "echo cli-ok; exit 4")
    assert code == 4, out
    job_id = out.splitlines()[0]
    code, out = _cli(condor_daemon, "status", job_id)
    assert code == 0 and "\tfailed\t4\t" in out, out
    assert _cli(condor_daemon, "logs", job_id) == (0, "cli-ok\n")
    code, out = _cli(condor_daemon, "submit", "--mem", "64M", "--", "sleep", "300")
    job_id = out.splitlines()[0]
    code, out = _cli(condor_daemon, "cancel", job_id)
    assert code == 0 and f"{job_id} cancelled" in out, out
