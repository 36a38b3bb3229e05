"""What ends an HTCondor job on Kubernetes other than its own exit, on the lab as alice (real schedd,
real node): memory, the time limit, an image that cannot be used, a platform failure. Each ends as
docs/admin/htcondor.md ("Hold codes") says: held with HoldReasonCode 26, its SubCode, a HoldReason
saying why, the held event in the user log. A platform failure holds by default and
`condor_release` runs the job again as a new Kubernetes Job; with `platform_failures: rerun` the job
goes back to idle and runs again by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.bridge_lab import NAMESPACE
from tests.fixtures.condor_bridge import SHELL, CondorBridge, types_of
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("site_config_installed")]
USER = "alice"


@dataclass
class Held:
    cluster: int
    workdir: Path
    ad: dict[str, Any]  # condor_q's ad once held

    def job_id(self) -> str:
        return f"{self.cluster}.0"


def _submit(bridge: CondorBridge, lines: str) -> tuple[int, Path]:
    d = bridge.workdir(USER)
    return bridge.submit(USER, lines + "log = job.log\nqueue\n", d), d


def _held(bridge: CondorBridge, lines: str, timeout: float = 120.0) -> Held:
    cluster, d = _submit(bridge, lines)
    ad = bridge.wait_q(cluster, "held", lambda a: a.get("JobStatus") == 5, timeout=timeout)
    return Held(cluster, d, ad)


def _assert_bridge_hold(bridge: CondorBridge, held: Held, subcode: int, *words: str) -> None:
    """The documented hold: code 26 and ``subcode``, a HoldReason by the bridge with ``words``, the
    held event in the user log with the same codes, and what condor_q -hold shows the user."""
    ad = held.ad
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (26, subcode), ad["HoldReason"]
    assert ad["HoldReason"].startswith("batch-bridge: ") and all(w in ad["HoldReason"] for w in words), ad["HoldReason"]
    event = [e for e in bridge.events(held.workdir / "job.log") if int(e.type) == 12][-1]
    assert (event["HoldReasonCode"], event["HoldReasonSubCode"]) == (26, subcode)
    assert words[0] in event["HoldReason"]
    shown = bridge.condor.run(USER, "condor_q", "-hold", "-af", "HoldReason", str(held.cluster)).stdout
    assert words[0] in shown


def _remove(bridge: CondorBridge, held: Held) -> None:
    bridge.condor.run(USER, "condor_rm", str(held.cluster))
    (ad,) = bridge.wait_history(held.cluster)
    assert ad["JobStatus"] == 3


def _failed_kube_job(bridge: CondorBridge, job_id: str, reason: str) -> Any:
    (job,) = bridge.kube_jobs(job_id)
    conditions = {c.type: c for c in job.status.conditions or [] if c.status == "True"}
    # FailureTarget comes first (the Job controller still terminates the pod), then Failed.
    assert reason in {c.reason for t, c in conditions.items() if t in ("Failed", "FailureTarget")}, conditions
    return job


def test_a_job_over_its_memory_is_held_out_of_memory(condor_bridge: CondorBridge) -> None:
    # request_memory 64 (floored to the site's 128 MiB: the container's limit); the program writes
    # 512 MiB after it has been seen running. python3 is the container's main process (LAB-NOTES:
    # on cgroup v1 the OOM killer could pick a child of sh while sh exits 0).
    held = _held(
        condor_bridge,
        "executable = /usr/bin/python3\nshould_transfer_files = NO\n+WantKubernetes = true\n"
        "request_memory = 64\n"
        "arguments = \"-c 'import time; time.sleep(3); b = bytes(range(256)) * (2 << 20); print(len(b))'\"\n",
    )
    _assert_bridge_hold(condor_bridge, held, 5, "OUT_OF_MEMORY", "OOMKilled")
    assert held.ad["NumJobStarts"] == 1 and held.ad["BridgeRun"] == 1
    assert types_of(condor_bridge.events(held.workdir / "job.log")) == [0, 1, 12]
    (job,) = condor_bridge.kube_jobs(held.job_id())  # the pod's end decided, before the Job's condition
    (pod,) = condor_bridge.kube.job_pods(NAMESPACE, job.metadata.name)
    assert pod.status.container_statuses[0].state.terminated.reason == "OOMKilled"
    _remove(condor_bridge, held)


def test_the_time_limit_holds_the_job_at_the_limit(condor_bridge: CondorBridge) -> None:
    limit = 6
    held = _held(
        condor_bridge, SHELL + f"allowed_execute_duration = {limit}\narguments = \"-c 'sleep 300'\"\n", timeout=90
    )
    _assert_bridge_hold(condor_bridge, held, 6, "TIMEOUT")
    # Held at the limit (Kubernetes' deadline is the limit itself: nothing else ends a managed job),
    # not after a backstop's grace.
    ran = held.ad["EnteredCurrentStatus"] - held.ad["JobCurrentStartDate"]
    assert limit - 1 <= ran <= limit + 15, ran
    assert held.ad["NumJobStarts"] == 1
    assert types_of(condor_bridge.events(held.workdir / "job.log")) == [0, 1, 12]
    _failed_kube_job(condor_bridge, held.job_id(), "DeadlineExceeded")
    _remove(condor_bridge, held)


def test_an_image_that_cannot_be_used_holds_naming_it_and_its_job_is_deleted(condor_bridge: CondorBridge) -> None:
    image = "localhost/batch-bridge/no-such-image:1"
    held = _held(
        condor_bridge,
        SHELL + f"universe = container\ncontainer_image = docker://{image}\narguments = -c true\n",
        timeout=90,
    )
    _assert_bridge_hold(condor_bridge, held, 3, "image could not be used", image)
    assert held.ad["NumJobStarts"] == 0
    assert types_of(condor_bridge.events(held.workdir / "job.log")) == [0, 12]
    wait_until(
        "the Kubernetes Job of the held run deleted", lambda: not condor_bridge.kube_jobs(held.job_id()) or None, 60
    )
    _remove(condor_bridge, held)


# A job that a second run finishes at once: the first run leaves a mark in its working directory.
ONCE_THEN_DONE = SHELL + "arguments = \"-c 'if [ -e mark ]; then exit 0; fi; touch mark; sleep 300'\"\n"


def test_an_evicted_pod_holds_the_job_and_release_runs_it_again(condor_bridge: CondorBridge) -> None:
    cluster, d = _submit(condor_bridge, ONCE_THEN_DONE)
    _evict_when_running(condor_bridge, cluster)
    ad = condor_bridge.wait_q(cluster, "held", lambda a: a.get("JobStatus") == 5, timeout=90)
    held = Held(cluster, d, ad)
    _assert_bridge_hold(condor_bridge, held, 4, "NODE_FAIL", "Evict")
    assert (ad["NumJobStarts"], ad["BridgeRun"]) == (1, 1)
    condor_bridge.condor.run(USER, "condor_release", str(cluster))
    (ad,) = condor_bridge.wait_history(cluster, timeout=120)
    assert (ad["JobStatus"], ad["ExitCode"], ad["NumJobStarts"], ad["BridgeRun"]) == (4, 0, 2, 1)
    assert len(condor_bridge.kube_jobs(f"{cluster}.0.r1")) == 1
    assert types_of(condor_bridge.events(d / "job.log")) == [0, 1, 12, 13, 1, 5]


@pytest.fixture
def rerun_policy(condor_bridge: CondorBridge) -> Iterator[None]:
    condor_bridge.up({"BATCH_BRIDGE_HTCONDOR__DAEMON__PLATFORM_FAILURES": "rerun"})
    yield
    condor_bridge.up()  # back to the lab's default policy (hold)


def _evict_when_running(bridge: CondorBridge, cluster: int) -> None:
    bridge.wait_q(cluster, "running", lambda a: a.get("JobStatus") == 2, timeout=120)
    bridge.kube.evict(bridge.kube.running_pod(NAMESPACE, f"batch-bridge.io/job-id={cluster}.0"))


@pytest.mark.usefixtures("rerun_policy")
def test_under_the_rerun_policy_an_evicted_pod_runs_again_by_itself(condor_bridge: CondorBridge) -> None:
    cluster, d = _submit(condor_bridge, ONCE_THEN_DONE)
    _evict_when_running(condor_bridge, cluster)
    (ad,) = condor_bridge.wait_history(cluster, timeout=120)
    assert (ad["JobStatus"], ad["ExitCode"], ad["NumJobStarts"], ad["BridgeRun"]) == (4, 0, 2, 1)
    assert ad.get("NumHolds", 0) == 0 and "HoldReason" not in ad
    assert len(condor_bridge.kube_jobs(f"{cluster}.0.r1")) == 1
    # The lost run ends with an evicted event (004), as HTCondor writes it, then the second run's.
    assert types_of(condor_bridge.events(d / "job.log")) == [0, 1, 4, 1, 5]
