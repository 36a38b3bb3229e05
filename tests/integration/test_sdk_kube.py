"""The SDK's kubernetes backend on the lab, as alice with her own kubeconfig: jobs run on the real node."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from bridge.sdk import AsyncClient, Client, JobSpec, JobState, Pipeline, PolicyRefused
from tests.fixtures.sdk_lab import SdkKube, as_user
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration
SMALL = {"memory": "64M", "time_limit": 120}


def _client(lab: SdkKube) -> Client:
    return Client("kubernetes", config=lab.settings, kubeconfig=lab.kubeconfig)


def test_submit_wait_exit_code_identity_and_output_file(sdk_kube: SdkKube) -> None:
    tag = uuid.uuid4().hex[:8]
    with as_user("alice") as alice, _client(sdk_kube) as client:
        out = f"{alice.pw_dir}/sdk-{tag}.out"
        spec = JobSpec.script(f'#!/bin/sh\necho "{tag} $(id -un) $(id -u) $HOME"\nexit 3\n', stdout=out, **SMALL)
        job = client.submit(spec)
        status = job.wait(timeout=120)
        assert (status.state, status.exit_code) == (JobState.FAILED, 3)
        assert "exit code 3" in status.reason
        assert job.logs().text() == f"{tag} alice 2001 {alice.pw_dir}\n"
        result = job.result()
        assert result.started is not None and result.finished is not None and result.finished >= result.started
        assert dict(result.detail)["node"] == sdk_kube.endpoints["real_node"]["name"]
    assert Path(out).stat().st_uid == 2001


def test_watch_yields_the_real_sequence_and_pod_logs(sdk_kube: SdkKube) -> None:
    with as_user("alice"), _client(sdk_kube) as client:
        job = client.submit(JobSpec.command(["sh", "-c", "sleep 2; echo done-$((6*7))"], **SMALL))
        states = [s.state for s in job.watch()]
        assert states[-1] is JobState.SUCCEEDED
        assert JobState.RUNNING in states
        assert states.index(JobState.RUNNING) < len(states) - 1
        assert job.exit_code == 0
        assert "done-42" in job.logs().text()  # no output file: the pod's log


def test_cancel_a_running_job(sdk_kube: SdkKube) -> None:
    with as_user("alice"), _client(sdk_kube) as client:
        job = client.submit(JobSpec.command(["sleep", "300"], **SMALL))
        for status in job.watch():
            if status.state is JobState.RUNNING:
                job.cancel()
        assert job.state is JobState.CANCELLED
    name = job.id.split("/")[1]
    assert not sdk_kube.batch.list_namespaced_job(sdk_kube.namespace, field_selector=f"metadata.name={name}").items


def test_policy_refusal_is_typed_and_creates_nothing(sdk_kube: SdkKube) -> None:
    with as_user("alice"), _client(sdk_kube) as client:
        before = len(client.list())
        with pytest.raises(PolicyRefused, match="not on site storage"):
            client.submit(JobSpec.command(["true"], stdout="/tmp/out.txt", **SMALL))
        with pytest.raises(PolicyRefused, match="allowed registry"):
            client.submit(JobSpec.command(["true"], image="docker.io/library/alpine:3", **SMALL))
        assert len(client.list()) == before


def test_an_image_that_can_never_be_used_fails_with_the_reason(sdk_kube: SdkKube) -> None:
    with as_user("alice"), _client(sdk_kube) as client:
        job = client.submit(JobSpec.command(["true"], image="localhost/batch-bridge/no-such-image:1", **SMALL))
        status = job.wait(timeout=120)
        assert status.state is JobState.FAILED
        assert "ErrImageNeverPull" in status.reason
    name = job.id.split("/")[1]
    wait_until(
        "the stuck Job deleted",
        lambda: (
            not sdk_kube.batch.list_namespaced_job(sdk_kube.namespace, field_selector=f"metadata.name={name}").items
            or None
        ),
        60,
    )


def test_keyed_submit_adopts_and_get_finds_it(sdk_kube: SdkKube) -> None:
    key = f"adopt-{uuid.uuid4().hex[:6]}"
    with as_user("alice"), _client(sdk_kube) as client:
        first = client.submit(JobSpec.command(["true"], **SMALL), key=key)
        second = client.submit(JobSpec.command(["true"], **SMALL), key=key)
        assert (second.id, second.adopted, first.adopted) == (first.id, True, False)
        assert client.get(first.id).wait(timeout=120).ok
        assert first.id in {s.job_id for s in client.list(states=["succeeded"])}


def test_async_client_watch_and_logs(sdk_kube: SdkKube) -> None:
    async def main(home: str) -> tuple[list[JobState], list[str]]:
        async with AsyncClient("kubernetes", config=sdk_kube.settings, kubeconfig=sdk_kube.kubeconfig) as client:
            out = f"{home}/sdk-async-{uuid.uuid4().hex[:6]}.out"
            job = await client.submit(JobSpec.command(["sh", "-c", "echo one; sleep 1; echo two"], stdout=out, **SMALL))
            lines = [line async for line in job.logs(follow=True)]
            states = [s.state async for s in job.watch()]
            return states, lines

    with as_user("alice") as alice:
        states, lines = asyncio.run(main(alice.pw_dir))
    assert states == [JobState.SUCCEEDED]  # watched after the end: only the final state
    assert lines == ["one", "two"]


def test_pipeline_cancel_cancels_running_and_pending_steps(sdk_kube: SdkKube) -> None:
    p = Pipeline(f"cancel-{uuid.uuid4().hex[:6]}")
    first = p.step("long", JobSpec.command(["sleep", "300"], **SMALL))
    p.step("next", JobSpec.command(["true"], **SMALL), after_ok=[first])
    with as_user("alice"), _client(sdk_kube) as client:
        run = p.run(client)
        for snapshot in run.watch(interval=0.1):
            long = snapshot["long"]
            if long is not None and long.state is JobState.RUNNING:
                break
        assert run.cancel() == {}
        final = run.wait(timeout=60)
    assert {k: s.state if s else None for k, s in final.items()} == {
        "long": JobState.CANCELLED,
        "next": JobState.CANCELLED,
    }
