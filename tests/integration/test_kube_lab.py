"""The lab's control plane runs real Kubernetes code: Job controller, scheduler, RBAC, kwok stages."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.fixtures.kube_lab import KubeLab, has_condition

pytestmark = pytest.mark.integration

STAGE = "lab.batch-bridge.io/"


def job(
    name: str,
    *,
    annotations: dict[str, str] | None = None,
    completions: int = 1,
    parallelism: int = 1,
    indexed: bool = False,
    suspend: bool = False,
    backoff_limit: int = 0,
) -> Any:
    pod = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(annotations=annotations or {}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[client.V1Container(name="main", image="busybox:stable", command=["true"])],
        ),
    )
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            template=pod,
            completions=completions,
            parallelism=parallelism,
            completion_mode="Indexed" if indexed else "NonIndexed",
            suspend=suspend,
            backoff_limit=backoff_limit,
        ),
    )


def terminated(pod: Any) -> Any:
    statuses = pod.status.container_statuses or []
    assert statuses, f"pod {pod.metadata.name} has no container statuses"
    return statuses[0].state.terminated


def test_nodes_ready_with_pools(kube_lab: KubeLab) -> None:
    nodes = {n.metadata.name: n for n in kube_lab.core.list_node().items}
    assert set(kube_lab.nodes) <= set(nodes)
    label = kube_lab.endpoints["pool_label"]
    for pool, names in kube_lab.pools.items():
        assert names, f"pool {pool} is empty"
        for name in names:
            node = nodes[name]
            assert node.metadata.labels[label] == pool
            assert has_condition(node, "Ready"), f"{name} not Ready"
            assert node.status.allocatable["cpu"] == "64"
            gpus = node.status.allocatable.get("nvidia.com/gpu")
            assert gpus == ("8" if pool == "gpu" else None)


def test_indexed_job_completes_with_parallelism_2(kube_lab: KubeLab) -> None:
    ns = kube_lab.namespace("indexed")
    kube_lab.batch.create_namespaced_job(
        ns, job("idx", completions=3, parallelism=2, indexed=True, annotations={STAGE + "run": "2s"})
    )
    max_active = 0

    def done(j: Any) -> bool:
        nonlocal max_active
        max_active = max(max_active, j.status.active or 0)
        return has_condition(j, "Complete")

    final = kube_lab.wait_object(
        "Job idx Complete",
        kube_lab.batch.list_namespaced_job,
        done,
        90,
        namespace=ns,
        field_selector="metadata.name=idx",
    )
    assert final.status.succeeded == 3
    assert final.status.completed_indexes == "0-2"
    assert max_active == 2, f"parallelism 2 never reached or exceeded: max active {max_active}"
    indexes = sorted(
        p.metadata.annotations["batch.kubernetes.io/job-completion-index"] for p in kube_lab.job_pods(ns, "idx")
    )
    assert indexes == ["0", "1", "2"]


def test_failing_pod_exit_code_reaches_job_and_pod(kube_lab: KubeLab) -> None:
    ns = kube_lab.namespace("fail")
    kube_lab.batch.create_namespaced_job(ns, job("fails", annotations={STAGE + "exit-code": "3"}))
    final = kube_lab.wait_job(ns, "fails", "Failed", 60)
    assert [c.reason for c in final.status.conditions if c.type == "Failed"] == ["BackoffLimitExceeded"]
    (pod,) = kube_lab.job_pods(ns, "fails")
    assert pod.status.phase == "Failed"
    state = terminated(pod)
    assert (state.exit_code, state.reason) == (3, "Error")


def test_oom_annotation_gives_oomkilled(kube_lab: KubeLab) -> None:
    ns = kube_lab.namespace("oom")
    kube_lab.batch.create_namespaced_job(ns, job("oom", annotations={STAGE + "oom": "true"}))
    kube_lab.wait_job(ns, "oom", "Failed", 60)
    (pod,) = kube_lab.job_pods(ns, "oom")
    state = terminated(pod)
    assert (pod.status.phase, state.exit_code, state.reason) == ("Failed", 137, "OOMKilled")


def test_pending_annotation_holds_pod_pending(kube_lab: KubeLab) -> None:
    ns = kube_lab.namespace("hold")
    kube_lab.batch.create_namespaced_job(ns, job("held", annotations={STAGE + "pending": "ImagePullBackOff"}))

    def waiting(p: Any) -> bool:
        cs = p.status.container_statuses or []
        return bool(cs) and cs[0].state.waiting is not None and cs[0].state.waiting.reason == "ImagePullBackOff"

    pod = kube_lab.wait_object(
        "held pod waiting",
        kube_lab.core.list_namespaced_pod,
        waiting,
        60,
        namespace=ns,
        label_selector="batch.kubernetes.io/job-name=held",
    )
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name in kube_lab.nodes  # bound by the scheduler, held by kwok


def test_suspended_job_makes_no_pods_until_resumed(kube_lab: KubeLab) -> None:
    ns = kube_lab.namespace("susp")
    kube_lab.batch.create_namespaced_job(ns, job("sleepy", suspend=True, completions=2, parallelism=2))
    # The Suspended condition is the Job controller's acknowledgement: it has synced this Job.
    kube_lab.wait_job(ns, "sleepy", "Suspended", 30)
    assert kube_lab.job_pods(ns, "sleepy") == []
    assert (kube_lab.batch.read_namespaced_job("sleepy", ns).status.active or 0) == 0
    kube_lab.batch.patch_namespaced_job("sleepy", ns, {"spec": {"suspend": False}})
    final = kube_lab.wait_job(ns, "sleepy", "Complete", 60)
    assert final.status.succeeded == 2


def test_too_many_gpus_is_unschedulable(kube_lab: KubeLab) -> None:
    ns = kube_lab.namespace("gpu")
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="greedy"),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox:stable",
                    resources=client.V1ResourceRequirements(limits={"nvidia.com/gpu": "9"}),
                )
            ],
        ),
    )
    kube_lab.core.create_namespaced_pod(ns, pod)

    def unschedulable(p: Any) -> bool:
        return any(
            c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
            for c in (p.status.conditions or [])
        )

    final = kube_lab.wait_pod(ns, "greedy", unschedulable, "Unschedulable", 30)
    assert final.status.phase == "Pending"
    assert final.spec.node_name is None
    msg = next(c.message for c in final.status.conditions if c.type == "PodScheduled")
    assert "nvidia.com/gpu" in msg


def test_bridge_account_has_no_permissions_yet(kube_lab: KubeLab) -> None:
    ns = kube_lab.endpoints["bridge_namespace"]
    who: Any = client.AuthenticationV1Api(kube_lab.bridge).create_self_subject_review(client.V1SelfSubjectReview())
    assert who.status.user_info.username == f"system:serviceaccount:{ns}:{kube_lab.endpoints['bridge_service_account']}"
    with pytest.raises(ApiException) as err:
        kube_lab.bridge_batch.list_namespaced_job(ns)
    assert err.value.status == 403
    with pytest.raises(ApiException) as err:
        kube_lab.bridge_core.list_namespaced_pod(ns)
    assert err.value.status == 403
