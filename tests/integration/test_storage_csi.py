"""Site storage through CSI on the lab's real node: the bridge's PV/PVC pairs (bridge.kube.storage,
storage_sync) with the lab CSI node plugin (lab/kube.d/csi) bind-mounting the lab's storage tree.

The bridge's own ServiceAccount runs ensure_storage, granted exactly STORAGE_CLUSTER_RULES (a
ClusterRole) and STORAGE_NAMESPACE_RULES + the e2e job rules (a Role per namespace); the admin client
is used only to grant those, to make foreign objects for the refusal cases, and to clean up the
PersistentVolumes the tests made (the bridge never deletes; Retain).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.dynamic import DynamicClient

from bridge.config.settings import BridgeSettings, load_settings
from bridge.domain import wellknown as wk
from bridge.domain.policy import SitePolicy, StaticCsiVolume, StorageMount
from bridge.kube import storage
from bridge.kube.storage_sync import STORAGE_CLUSTER_RULES, STORAGE_NAMESPACE_RULES, ensure_storage
from tests.fixtures.kube_lab import (
    BRIDGE_RULES,
    KubeLab,
    RealNode,
    apply_as_bridge,
    has_condition,
    terminated,
    translate,
    wait_bridge_job,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LAB_CSI = REPO / "examples" / "config" / "lab-csi.yaml"
GOLDEN_STORAGE = REPO / "tests" / "golden" / "storage"
RBAC_NAME = "batch-bridge-storage-test"
ALICE_HOME = Path("/lab/gpfs/home/alice")
ALICE_DATA = Path("/lab/pnfs/data/alice")


def _subject(lab: KubeLab) -> dict[str, str]:
    return {
        "kind": "ServiceAccount",
        "name": lab.endpoints["bridge_service_account"],
        "namespace": lab.endpoints["bridge_namespace"],
    }


def _create_or_replace(create: Any, replace: Any, name: str, body: Any, *ns: str) -> None:
    try:
        create(*ns, body)
    except ApiException as e:
        if e.status != 409:
            raise
        replace(name, *ns, body)


@pytest.fixture(scope="module")
def storage_rbac(kube_lab: KubeLab) -> Iterator[None]:
    """The bridge's ServiceAccount gets STORAGE_CLUSTER_RULES cluster-wide (PVs are cluster-scoped)."""
    rbac: Any = client.RbacAuthorizationV1Api(kube_lab.admin)
    role = {"metadata": {"name": RBAC_NAME}, "rules": STORAGE_CLUSTER_RULES}
    binding = {
        "metadata": {"name": RBAC_NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RBAC_NAME},
        "subjects": [_subject(kube_lab)],
    }
    _create_or_replace(rbac.create_cluster_role, rbac.replace_cluster_role, RBAC_NAME, role)
    _create_or_replace(rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding, RBAC_NAME, binding)
    try:
        yield
    finally:
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            try:
                delete(RBAC_NAME)
            except ApiException as e:
                if e.status != 404:
                    raise


@pytest.fixture(scope="module")
def made_namespaces(kube_lab: KubeLab) -> Iterator[list[str]]:
    """Namespaces of this module; their PersistentVolumes (ours, Retain) are deleted at the end."""
    names: list[str] = []
    yield names
    for ns in names:
        pvs = kube_lab.core.list_persistent_volume(label_selector=f"{storage.LABEL_STORAGE_NAMESPACE}={ns}")
        for pv in pvs.items:
            try:
                kube_lab.core.delete_persistent_volume(pv.metadata.name)
            except ApiException as e:
                if e.status != 404:
                    raise


def storage_namespace(lab: KubeLab, made: list[str], prefix: str = "csi") -> str:
    """A fresh namespace where the bridge may create claims and run jobs (Role, as the chart would)."""
    ns = lab.namespace(prefix)
    made.append(ns)
    rbac: Any = client.RbacAuthorizationV1Api(lab.admin)
    role = {"metadata": {"name": RBAC_NAME}, "rules": [*STORAGE_NAMESPACE_RULES, *BRIDGE_RULES]}
    binding = {
        "metadata": {"name": RBAC_NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RBAC_NAME},
        "subjects": [_subject(lab)],
    }
    rbac.create_namespaced_role(ns, role)
    rbac.create_namespaced_role_binding(ns, binding)
    return ns


def config_for(tmp_path: Path, namespace: str, read_only: tuple[str, ...] = ()) -> tuple[Path, BridgeSettings]:
    """lab-csi.yaml with jobs going to `namespace` (and some prefixes read-only)."""
    data = yaml.safe_load(LAB_CSI.read_text())
    data["site"]["namespace"] = {"mode": "fixed", "fixed": namespace}
    for entry in data["site"]["storage"]:
        entry["read_only"] = entry["prefix"] in read_only
    path = tmp_path / f"config-{namespace}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, load_settings(path)


def job_id() -> int:
    return 700_000 + uuid.uuid4().int % 100_000


def run_script(
    lab: KubeLab, tmp_path: Path, config: Path, body: str, name: str = "job.sh"
) -> tuple[Any, Path, list[dict[str, Any]]]:
    """sbatch-like: translate `body` as alice in her home, create as the bridge, wait; (Job, stdout, objects)."""
    script = tmp_path / name
    script.write_text("#!/bin/bash\n#SBATCH --partition=k8s\n" + body)
    jid = job_id()
    objects = translate(script, config=config, user="alice", submit_dir=ALICE_HOME, job_id=jid)
    ns = objects[0]["metadata"]["namespace"]
    (job,) = apply_as_bridge(lab, objects)
    done = wait_bridge_job(lab, ns, job, timeout=120)
    return done, ALICE_HOME / f"slurm-{jid}.out", objects


@pytest.fixture
def cleanup() -> Iterator[list[Path]]:
    paths: list[Path] = []
    yield paths
    for p in paths:
        p.unlink(missing_ok=True)


def test_lab_csi_driver_is_registered_on_the_real_node(kube_lab: KubeLab, real_node: RealNode) -> None:
    # Raw JSON: the client's CSINode model fails on a null spec.drivers (LAB-NOTES).
    storage_api: Any = client.StorageV1Api(kube_lab.admin)
    raw = storage_api.read_csi_node(real_node.name, _preload_content=False)
    drivers = json.loads(raw.data)["spec"].get("drivers") or []
    assert "lab.csi.batch-bridge.io" in [d["name"] for d in drivers]
    csidriver = client.StorageV1Api(kube_lab.admin).read_csi_driver("lab.csi.batch-bridge.io")
    assert csidriver.spec.attach_required is False
    assert csidriver.spec.fs_group_policy == "None"


def test_job_in_fresh_namespace_gets_bound_claims_and_writes_as_the_user(
    kube_lab: KubeLab,
    real_node: RealNode,
    storage_rbac: None,
    made_namespaces: list[str],
    tmp_path: Path,
    cleanup: list[Path],
) -> None:
    ns = storage_namespace(kube_lab, made_namespaces)
    config, settings = config_for(tmp_path, ns)
    result = ensure_storage(kube_lab.bridge, settings.site, ns, settings.cluster, timeout=30)
    assert result.ready, result.reason
    assert result.created == 4  # 2 entries x (PV + PVC)
    claims = kube_lab.core.list_namespaced_persistent_volume_claim(ns).items
    assert sorted(c.metadata.name for c in claims) == ["bb-storage-lab-gpfs", "bb-storage-lab-pnfs"]
    assert all(c.status.phase == "Bound" for c in claims)

    # Idempotent: a second call creates nothing and is ready at once.
    again = ensure_storage(kube_lab.bridge, settings.site, ns, settings.cluster, timeout=5)
    assert again.ready, again.reason
    assert again.created == 0

    done, out, objects = run_script(
        kube_lab,
        tmp_path,
        config,
        'id -u; id -g\nwhile read -r _ mnt _ opts _; do [ "$mnt" = /lab/gpfs ] && echo "opts=$opts"; done </proc/mounts\n'
        'echo written-by-csi >"$HOME_DIR/csi-proof-$SLURM_JOB_ID.txt"\n'.replace("$HOME_DIR", str(ALICE_HOME)),
    )
    jid = objects[-1]["metadata"]["labels"][wk.LABEL_JOB_ID]
    proof = ALICE_HOME / f"csi-proof-{jid}.txt"
    cleanup += [out, proof]
    assert has_condition(done, "Complete"), f"job failed: {out.read_text() if out.exists() else 'no output'}"
    pod_volumes = objects[-1]["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "storage-lab-gpfs",
        "persistentVolumeClaim": {"claimName": "bb-storage-lab-gpfs", "readOnly": False},
    } in pod_volumes
    lines = out.read_text().splitlines()
    assert lines[:2] == ["2001", "2001"]
    assert any(line.startswith("opts=") and "nosuid" in line and "nodev" in line for line in lines), lines
    assert proof.read_text() == "written-by-csi\n"
    st = proof.stat()
    assert (st.st_uid, st.st_gid) == (2001, 2001)


def test_read_only_area_refuses_writes(
    kube_lab: KubeLab,
    real_node: RealNode,
    storage_rbac: None,
    made_namespaces: list[str],
    tmp_path: Path,
    cleanup: list[Path],
) -> None:
    ns = storage_namespace(kube_lab, made_namespaces)
    config, settings = config_for(tmp_path, ns, read_only=("/lab/pnfs",))
    result = ensure_storage(kube_lab.bridge, settings.site, ns, settings.cluster, timeout=30)
    assert result.ready, result.reason
    target = ALICE_DATA / f"ro-{uuid.uuid4().hex[:8]}"
    cleanup.append(target)
    # alice owns /lab/pnfs/data/alice: POSIX would allow the write, the read-only mount must not.
    assert ALICE_DATA.stat().st_uid == 2001
    done, out, _ = run_script(kube_lab, tmp_path, config, f"ls -d {ALICE_DATA} && touch {target} 2>&1; echo rc=$?\n")
    cleanup.append(out)
    text = out.read_text()
    assert has_condition(done, "Complete"), text
    assert "Read-only file system" in text
    assert "rc=1" in text
    assert not target.exists()


def _claim_pod_job(real_node: RealNode, name: str, command: str, uid: int, gid: int, mounts: list[StorageMount]) -> Any:
    """A Job for the real node running `command` as uid:gid with the entries' claims mounted."""
    spec = real_node.pod_spec(["/bin/sh", "-c", command], uid=uid, gid=gid)
    spec.volumes = [client.V1Volume(**_snake(storage.pod_volume(m))) for m in mounts]
    spec.containers[0].volume_mounts = [
        client.V1VolumeMount(name=m.volume_name, mount_path=m.prefix, read_only=m.read_only) for m in mounts
    ]
    return real_node.job(name, spec)


def _snake(vol: dict[str, Any]) -> dict[str, Any]:
    pvc = vol["persistentVolumeClaim"]
    return {
        "name": vol["name"],
        "persistent_volume_claim": client.V1PersistentVolumeClaimVolumeSource(
            claim_name=pvc["claimName"], read_only=pvc["readOnly"]
        ),
    }


def _gpfs_policy(handle: str) -> tuple[SitePolicy, StorageMount]:
    mount = StorageMount(
        prefix="/lab/gpfs",
        volume=StaticCsiVolume(
            driver="lab.csi.batch-bridge.io", volume_handle=handle, volume_attributes={"path": "/lab/gpfs"}
        ),
    )
    return SitePolicy(storage=(mount,)), mount


@pytest.mark.parametrize("handle", ["lab-gpfs-{namespace}", "lab-gpfs-one-handle"], ids=["own-handle", "same-handle"])
def test_two_namespaces_see_the_same_directory_at_once(
    kube_lab: KubeLab,
    real_node: RealNode,
    storage_rbac: None,
    made_namespaces: list[str],
    handle: str,
    cleanup: list[Path],
) -> None:
    """Two pods in two namespaces, at the same time on one node: each writes a file and waits for the
    other's, through its own claim and volume. `same-handle` is the Storage Scale shape (the handle
    cannot carry the namespace), where the kubelet sees one volume handle under two PVs."""
    policy, mount = _gpfs_policy(handle)
    token = uuid.uuid4().hex[:8]
    names = [storage_namespace(kube_lab, made_namespaces, "csi2") for _ in range(2)]
    for ns in names:
        result = ensure_storage(kube_lab.bridge, policy, ns, "lab", timeout=30)
        assert result.ready, result.reason
    files = [ALICE_HOME / f"shared-{token}-{i}" for i in range(2)]
    cleanup += files
    for i, ns in enumerate(names):
        mine, other = files[i], files[1 - i]
        cmd = (
            f"echo from-{ns} >{mine} && i=0; while [ ! -s {other} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
            f"cat {other}"
        )
        kube_lab.bridge_batch.create_namespaced_job(ns, _claim_pod_job(real_node, "shared", cmd, 2001, 2001, [mount]))
    for i, ns in enumerate(names):
        pod = real_node.finished_pod(ns, "shared", timeout=120)
        term = terminated(pod)
        log = real_node.log(ns, pod.metadata.name)
        assert term is not None, log
        assert term.exit_code == 0, log
        assert log.strip() == f"from-{names[1 - i]}"


def test_another_users_files_only_as_posix_allows(
    kube_lab: KubeLab, real_node: RealNode, storage_rbac: None, made_namespaces: list[str], cleanup: list[Path]
) -> None:
    ns = storage_namespace(kube_lab, made_namespaces)
    policy, mount = _gpfs_policy("lab-gpfs-{namespace}")
    assert ensure_storage(kube_lab.bridge, policy, ns, "lab", timeout=30).ready
    token = uuid.uuid4().hex[:8]
    private, public = ALICE_HOME / f"private-{token}", ALICE_HOME / f"public-{token}"
    intruder = ALICE_HOME / f"from-bob-{token}"
    cleanup += [private, public, intruder]
    for path, mode in ((private, 0o600), (public, 0o644)):
        path.write_text(f"alice {mode:o}\n")
        os.chown(path, 2001, 2001)
        path.chmod(mode)
    cmd = (
        f"id -u; cat {private} 2>&1; echo rc=$?; cat {public}; echo rc=$?; "
        f"touch {intruder} 2>&1; echo rc=$?; rm -f {public} 2>&1; echo rc=$?"
    )
    kube_lab.bridge_batch.create_namespaced_job(ns, _claim_pod_job(real_node, "bob", cmd, 2002, 2002, [mount]))
    pod = real_node.finished_pod(ns, "bob", timeout=120)
    log = real_node.log(ns, pod.metadata.name).splitlines()
    assert log[0] == "2002"
    assert "Permission denied" in log[1]  # 0600: not bob's
    assert log[2] == "rc=1"
    assert log[3:5] == ["alice 644", "rc=0"]  # 0644: readable by anyone, as POSIX says
    assert "Permission denied" in log[5]  # alice's 0755 home: no new files
    assert log[6] == "rc=1"
    assert "Permission denied" in log[7]  # nor removing hers
    assert log[8] == "rc=1"
    assert not intruder.exists()
    assert public.exists()


def test_path_not_in_the_table_is_refused_with_the_reason(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#SBATCH --partition=k8s --output=/scratch/elsewhere/out.txt\necho hi\n")
    exe = Path(sys.executable).with_name("batch-bridge")
    argv = [str(exe), "translate", str(script), "--config", str(LAB_CSI), "--user", "alice"]
    argv += ["--submit-dir", str(ALICE_HOME), "--job-id", "1"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2, proc.stdout
    assert (
        "output file '/scratch/elsewhere/out.txt' is not on site storage (allowed: /lab/pnfs, /lab/gpfs)" in proc.stderr
    )


def test_claims_that_cannot_be_used_give_a_reason(
    kube_lab: KubeLab, storage_rbac: None, made_namespaces: list[str]
) -> None:
    ns = storage_namespace(kube_lab, made_namespaces)
    policy, _ = _gpfs_policy("lab-gpfs-{namespace}")
    pair = storage.storage_pairs(policy, ns, "lab")[0]
    # A claim of that name that batch-bridge did not make: refused, not adopted, not changed.
    foreign = {**pair.claim, "metadata": {"name": pair.claim_name, "namespace": ns, "labels": {"app": "other"}}}
    kube_lab.core.create_namespaced_persistent_volume_claim(ns, foreign)
    result = ensure_storage(kube_lab.bridge, policy, ns, "lab", timeout=3)
    assert not result.ready
    assert result.reason == (
        f"storage /lab/gpfs: PersistentVolumeClaim {ns}/{pair.claim_name} exists and is not batch-bridge's "
        "for this entry: not used"
    )
    assert kube_lab.core.read_namespaced_persistent_volume_claim(pair.claim_name, ns).metadata.labels == {
        "app": "other"
    }

    # A PersistentVolume of that name that is not ours: refused, and the claim is not even created.
    ns2 = storage_namespace(kube_lab, made_namespaces)
    pair2 = storage.storage_pairs(policy, ns2, "lab")[0]
    other = yaml.safe_load(yaml.safe_dump(pair2.volume))
    other["metadata"]["labels"] = {"app": "other"}
    kube_lab.core.create_persistent_volume(other)
    try:
        result = ensure_storage(kube_lab.bridge, policy, ns2, "lab", timeout=3)
        assert kube_lab.core.read_persistent_volume(pair2.volume_name).metadata.labels == {"app": "other"}
    finally:
        kube_lab.core.delete_persistent_volume(pair2.volume_name)
    (pr,) = result.pairs
    assert (pr.phase, pr.created) == ("refused", ())
    assert pr.reason == (
        f"storage /lab/gpfs: PersistentVolume {pair2.volume_name} exists and is not batch-bridge's for this entry: "
        "not used"
    )
    assert kube_lab.core.list_namespaced_persistent_volume_claim(ns2).items == []


def test_recreated_namespace_binds_again_to_its_retained_volume(
    kube_lab: KubeLab, storage_rbac: None, made_namespaces: list[str]
) -> None:
    ns = storage_namespace(kube_lab, made_namespaces)
    policy, _ = _gpfs_policy("lab-gpfs-{namespace}")
    first = ensure_storage(kube_lab.bridge, policy, ns, "lab", timeout=30)
    assert first.ready, first.reason
    kube_lab.core.delete_namespace(ns)
    kube_lab.poll(f"namespace {ns} gone", lambda: _gone(lambda: kube_lab.core.read_namespace(ns)), 60)
    volume = first.pairs[0].volume
    kube_lab.poll(
        f"PV {volume} Released",
        lambda: kube_lab.core.read_persistent_volume(volume).status.phase == "Released",
        30,
    )
    kube_lab.ensure_namespace(ns)
    rbac: Any = client.RbacAuthorizationV1Api(kube_lab.admin)
    rbac.create_namespaced_role(ns, {"metadata": {"name": RBAC_NAME}, "rules": STORAGE_NAMESPACE_RULES})
    rbac.create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": RBAC_NAME},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RBAC_NAME},
            "subjects": [_subject(kube_lab)],
        },
    )
    again = ensure_storage(kube_lab.bridge, policy, ns, "lab", timeout=30)
    assert again.ready, again.reason
    assert again.pairs[0].repaired
    assert again.pairs[0].created == ("PersistentVolumeClaim",)  # same volume, kept (Retain)


def _gone(read: Any) -> bool:
    try:
        read()
        return False
    except ApiException as e:
        if e.status == 404:
            return True
        raise


@pytest.mark.parametrize("path", sorted(GOLDEN_STORAGE.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_storage_objects_pass_strict_server_side_dry_run(
    path: Path, kube_lab: KubeLab, made_namespaces: list[str]
) -> None:
    dynamic_client: Any = DynamicClient  # untyped in the client library
    dynamic: Any = dynamic_client(kube_lab.admin)
    ns = kube_lab.namespace("dry")
    objects = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert {o["kind"] for o in objects} == {"PersistentVolume", "PersistentVolumeClaim"}
    for obj in objects:
        api = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        where = ns if api.namespaced else None
        if where:
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": ns}}
        else:  # the lab's own volumes of this name may exist for real: dry-run a fresh name
            obj = {
                **obj,
                "metadata": {**obj["metadata"], "name": f"{obj['metadata']['name']}-dry-{uuid.uuid4().hex[:6]}"},
            }
        created = dynamic.request("post", api.path(namespace=where) + "?dryRun=All&fieldValidation=Strict", body=obj)
        assert created.metadata.name == obj["metadata"]["name"]
