"""The SDK's slurm backend on the lab: alice's own JWT, slurmrestd, the bridged partition, and the
bridge daemon lab/bridge runs (used as it is, never restarted here)."""

from __future__ import annotations

import uuid

import pytest

from bridge.sdk import Client, JobSpec, JobState, Pipeline, PipelineError, SubmitError
from tests.fixtures.sdk_lab import LAB_CONFIG, SlurmDaemon, as_user

pytestmark = pytest.mark.integration
SMALL = {"memory": "64M", "time_limit": 300}


def _client(daemon: SlurmDaemon) -> Client:
    return Client("slurm", config=LAB_CONFIG, url=daemon.rest_url, token_file=daemon.token_file("alice"))


def test_submit_wait_exit_code_output_file_and_sacct(slurm_daemon: SlurmDaemon) -> None:
    tag = uuid.uuid4().hex[:8]
    with as_user("alice"), _client(slurm_daemon) as client:
        job = client.submit(JobSpec.script(f'#!/bin/sh\necho "{tag} $SLURM_JOB_ID $(id -un)"\nexit 3\n', **SMALL))
        states = [s.state for s in job.watch()]
        status = job.status()
        text = job.logs().text()
    assert states[-1] is JobState.FAILED and status.exit_code == 3
    assert "exit code 3" in status.reason  # the bridge's outcome, from AdminComment
    assert text.splitlines()[0] == f"{tag} {job.id} alice"
    sacct = slurm_daemon.run_as_root("sacct", "-X", "-n", "-P", "-j", job.id, "-o", "State,ExitCode,Partition")
    assert sacct.strip() == "FAILED|3:0|k8s"


def test_environment_and_image_reach_the_job(slurm_daemon: SlurmDaemon) -> None:
    with as_user("alice") as alice, _client(slurm_daemon) as client:
        out = f"{alice.pw_dir}/sdk-env-{uuid.uuid4().hex[:6]}.out"
        spec = JobSpec.command(
            ["sh", "-c", 'echo "[$GREETING]"'], env={"GREETING": "hello $USER; `x`"}, stdout=out, **SMALL
        )
        job = client.submit(spec)
        assert job.wait(timeout=180).ok
        assert job.logs().text() == "[hello $USER; `x`]\n"


def test_cancel_pending_job(slurm_daemon: SlurmDaemon) -> None:
    with as_user("alice"), _client(slurm_daemon) as client:
        # The gateway declares GPUs, the real node has none: it stays pending with the reason.
        job = client.submit(JobSpec.command(["true"], gpus=1, **SMALL))
        for status in job.watch(reasons=True):
            if "nvidia.com/gpu" in status.reason:
                job.cancel()
        assert job.state is JobState.CANCELLED


def test_refusal_carries_slurms_message(slurm_daemon: SlurmDaemon) -> None:
    with as_user("alice"), _client(slurm_daemon) as client, pytest.raises(SubmitError) as err:
        client.submit(JobSpec.command(["true"], queue="no-such-partition", **SMALL))
    assert "Invalid partition name specified" in err.value.backend_message


def test_keyed_submit_adopts_and_list_shows_it(slurm_daemon: SlurmDaemon) -> None:
    key = f"adopt-{uuid.uuid4().hex[:6]}"
    with as_user("alice"), _client(slurm_daemon) as client:
        first = client.submit(JobSpec.command(["true"], name="adopt", **SMALL), key=key)
        second = client.submit(JobSpec.command(["true"], name="adopt", **SMALL), key=key)
        assert (second.id, second.adopted, first.adopted) == (first.id, True, False)
        assert first.wait(timeout=180).ok
        assert first.id in {s.job_id for s in client.list(name_prefix="adopt")}


def test_a_failed_pipeline_submit_leaves_no_orphans(slurm_daemon: SlurmDaemon) -> None:
    p = Pipeline(f"orphans-{uuid.uuid4().hex[:6]}")
    first = p.step("first", JobSpec.command(["sleep", "60"], **SMALL))
    p.step("second", JobSpec.command(["true"], queue="no-such-partition", **SMALL), after_ok=[first])
    with as_user("alice"), _client(slurm_daemon) as client, pytest.raises(PipelineError) as err:
        p.run(client)
    assert err.value.existing == {}
    assert "Invalid partition name specified" in str(err.value)
    # slurmctld's own records (sacct keeps a comment only once a job started): %k is the comment.
    queue = slurm_daemon.run_as_root("squeue", "-u", "alice", "-t", "all", "-h", "-o", "%i,%T,%k")
    mine = [line for line in queue.splitlines() if line.endswith(f"key={p.key('first')}")]
    assert len(mine) == 1 and ",CANCELLED," in mine[0], queue
