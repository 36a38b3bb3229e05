"""The lab's real node (kubelet + containerd) runs pods for real: uid, storage, exit codes, OOM, logs.

The site-storage tree and the test users come from the batch lab (`batch_lab`), so the paths and
uids are the ones Slurm and HTCondor use. See lab/README.md ("The real node").
"""

from __future__ import annotations

import os
import uuid

import pytest
from kubernetes import client

from tests.fixtures.batch_lab import BatchLab
from tests.fixtures.kube_lab import KubeLab, RealNode, has_condition, terminated

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_node_is_real_loopback_and_tainted(kube_lab: KubeLab, real_node: RealNode) -> None:
    node = kube_lab.core.read_node(real_node.name)
    assert has_condition(node, "Ready")
    assert node.metadata.labels.items() >= real_node.node_selector.items()
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
    addresses = {a.type: a.address for a in node.status.addresses}
    assert addresses["InternalIP"] == "127.0.0.1"
    # Real capacity: the machine's own CPUs, not a simulated 64.
    assert node.status.capacity["cpu"] == str(os.cpu_count())
    taints = {(t.key, t.value, t.effect) for t in node.spec.taints or []}
    assert {(t["key"], t["value"], t["effect"]) for t in real_node.tolerations} <= taints
    assert node.status.node_info.container_runtime_version.startswith("containerd://")


def test_without_toleration_a_pod_does_not_land_on_the_real_node(kube_lab: KubeLab, real_node: RealNode) -> None:
    ns = kube_lab.namespace("real")
    spec = real_node.pod_spec(["true"], uid=2001, gid=2001)
    spec.tolerations = None
    kube_lab.core.create_namespaced_pod(ns, client.V1Pod(metadata=client.V1ObjectMeta(name="p"), spec=spec))
    kube_lab.wait_pod(
        ns,
        "p",
        lambda p: has_condition(p, "PodScheduled", "False") and not p.spec.node_name,
        "Unschedulable (taint not tolerated)",
        timeout=30,
    )


def test_job_runs_as_the_user_and_writes_site_storage(
    kube_lab: KubeLab, real_node: RealNode, batch_lab: BatchLab
) -> None:
    alice = batch_lab.users["alice"]
    ns = kube_lab.namespace("real")
    nonce = uuid.uuid4().hex
    out = alice.data / f"real-node-{nonce}.txt"
    script = f'echo "$(id -u):$(id -g):$(id -G) {nonce}" > {out} && echo "wrote {out}"'
    spec = real_node.pod_spec(
        ["/bin/sh", "-c", script],
        uid=alice.uid,
        gid=alice.gid,
        groups=list(alice.group_ids),
        host_paths=["/lab/pnfs", "/lab/gpfs"],
    )
    name = _name("storage")
    kube_lab.batch.create_namespaced_job(ns, real_node.job(name, spec))
    try:
        kube_lab.wait_job(ns, name, "Complete", timeout=90)
        pod = real_node.finished_pod(ns, name)
        assert pod.spec.node_name == real_node.name
        assert terminated(pod).exit_code == 0
        st = out.stat()
        assert (st.st_uid, st.st_gid) == (alice.uid, alice.gid)
        groups = " ".join(str(g) for g in sorted({alice.gid, *alice.group_ids}))
        assert out.read_text() == f"{alice.uid}:{alice.gid}:{groups} {nonce}\n"
        # Logs through the apiserver (apiserver -> kubelet on 127.0.0.1, client certificates).
        assert real_node.log(ns, pod.metadata.name) == f"wrote {out}\n"
    finally:
        out.unlink(missing_ok=True)


def test_exit_code_reaches_job_and_pod(kube_lab: KubeLab, real_node: RealNode) -> None:
    ns = kube_lab.namespace("real")
    name = _name("exit3")
    spec = real_node.pod_spec(["/bin/sh", "-c", "echo failing; exit 3"], uid=2001, gid=2001)
    kube_lab.batch.create_namespaced_job(ns, real_node.job(name, spec))
    job = kube_lab.wait_job(ns, name, "Failed", timeout=90)
    assert job.status.failed == 1
    pod = real_node.finished_pod(ns, name)
    assert pod.status.phase == "Failed"
    state = terminated(pod)
    assert (state.exit_code, state.reason) == (3, "Error")
    assert real_node.log(ns, pod.metadata.name) == "failing\n"


def test_memory_limit_ends_oomkilled(kube_lab: KubeLab, real_node: RealNode) -> None:
    ns = kube_lab.namespace("real")
    name = _name("oom")
    # 200 MiB written (not just reserved) by the container's main process, under a 64 MiB limit.
    # On cgroup v1 the OOM killer picks the largest process: a child of sh could die while sh
    # exits 0 (LAB-NOTES), so exec the allocator.
    spec = real_node.pod_spec(
        ["/bin/sh", "-c", "exec python3 -c 'b = b\"x\" * (200 << 20); print(len(b))'"],
        uid=2001,
        gid=2001,
        memory_limit="64Mi",
    )
    kube_lab.batch.create_namespaced_job(ns, real_node.job(name, spec))
    kube_lab.wait_job(ns, name, "Failed", timeout=90)
    state = terminated(real_node.finished_pod(ns, name))
    assert (state.reason, state.exit_code) == ("OOMKilled", 137)


def test_lab_image_has_what_the_entrypoint_needs(kube_lab: KubeLab, real_node: RealNode) -> None:
    """The generated entrypoint needs /bin/sh, hostname, sleep, kill; scripts need bash and python3."""
    ns = kube_lab.namespace("real")
    name = _name("image")
    probe = (
        "for t in /bin/sh /bin/bash /usr/bin/env hostname sleep kill id; do command -v $t >/dev/null || "
        "{ echo missing $t; exit 1; }; done; /usr/bin/env python3 -c 'import sys; print(sys.version_info[0])'"
    )
    spec = real_node.pod_spec(["/bin/sh", "-c", probe], uid=2001, gid=2001)
    kube_lab.batch.create_namespaced_job(ns, real_node.job(name, spec))
    kube_lab.wait_job(ns, name, "Complete", timeout=90)
    assert real_node.log(ns, real_node.finished_pod(ns, name).metadata.name) == "3\n"
