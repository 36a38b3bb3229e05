"""Storage through statically provisioned CSI volumes: the pure builders (bridge.kube.storage), the
csiStatic kind in the site policy, the pod volume in the Job, and the golden objects of the example
storage configurations (regenerate with ``pytest --update-golden``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bridge.config.settings import load_settings
from bridge.domain import wellknown as wk
from bridge.domain.errors import PolicyError
from bridge.domain.naming import DNS1123_LABEL, LABEL_VALUE
from bridge.domain.policy import (
    CsiVolume,
    HostPathVolume,
    ImagePolicy,
    PvcVolume,
    SecretRef,
    SitePolicy,
    StaticCsiVolume,
    StorageMount,
    check_storage,
)
from bridge.kube import storage
from bridge.kube.objects import build_job, volume
from bridge.kube.settings import KubeSettings
from tests.golden.cases import EXAMPLES, GOLDEN
from tests.unit.helpers import sbatch, script

LAB_DRIVER = "lab.csi.batch-bridge.io"


def _static(prefix: str, path: str, read_only: bool = False, handle: str = "h-{namespace}") -> StorageMount:
    vol = StaticCsiVolume(driver=LAB_DRIVER, volume_handle=handle, volume_attributes={"path": path})
    return StorageMount(prefix=prefix, volume=vol, read_only=read_only)


GPFS = _static("/lab/gpfs", "/lab/gpfs")
PNFS_RO = _static("/lab/pnfs", "/lab/pnfs", read_only=True)
POLICY = SitePolicy(storage=(GPFS, PNFS_RO), images=ImagePolicy(default="localhost/batch-bridge/lab-runtime:1"))


def test_pair_is_a_pre_bound_static_volume_and_claim() -> None:
    pv = storage.persistent_volume(GPFS, "batch", "lab")
    pvc = storage.persistent_volume_claim(GPFS, "batch", "lab")
    assert pv["spec"]["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "batch",
        "name": pvc["metadata"]["name"],
    }
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    # Static: no class (no provisioner, no default class), site data kept, shared by many pods.
    assert pv["spec"]["storageClassName"] == pvc["spec"]["storageClassName"] == ""
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["accessModes"] == pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pv["spec"]["capacity"]["storage"] == pvc["spec"]["resources"]["requests"]["storage"]
    assert pv["spec"]["csi"] == {
        "driver": LAB_DRIVER,
        "volumeHandle": "h-batch",
        "readOnly": False,
        "volumeAttributes": {"path": "/lab/gpfs"},
    }
    assert "namespace" not in pv["metadata"]  # cluster-scoped
    assert pvc["metadata"]["namespace"] == "batch"


def test_labels_say_whose_the_objects_are() -> None:
    pv = storage.persistent_volume(GPFS, "batch", "lab")
    pvc = storage.persistent_volume_claim(GPFS, "batch", "lab")
    for obj in (pv, pvc):
        labels = obj["metadata"]["labels"]
        assert labels[wk.LABEL_MANAGED_BY] == wk.MANAGED_BY_VALUE
        assert labels[wk.LABEL_CLUSTER] == "lab"
        assert labels[storage.LABEL_STORAGE] == GPFS.volume_name
        assert obj["metadata"]["annotations"][storage.ANN_STORAGE_PREFIX] == "/lab/gpfs"
        assert all(LABEL_VALUE.match(v) for v in labels.values())
    assert pv["metadata"]["labels"][storage.LABEL_STORAGE_NAMESPACE] == "batch"


def test_names_are_deterministic_and_per_namespace_and_cluster() -> None:
    a = storage.volume_name(GPFS, "batch", "lab")
    assert a == storage.volume_name(GPFS, "batch", "lab")
    others = {
        storage.volume_name(GPFS, "batch-2", "lab"),
        storage.volume_name(GPFS, "batch", "lab2"),
        storage.volume_name(PNFS_RO, "batch", "lab"),
    }
    assert a not in others
    assert len(others) == 3
    # The claim has one name in every namespace: the pod spec names it without knowing the namespace.
    assert storage.claim_name(GPFS) == "bb-storage-lab-gpfs"
    long_ns = "n" * 63
    for name in (a, storage.volume_name(GPFS, long_ns, "c" * 40), storage.claim_name(GPFS)):
        assert DNS1123_LABEL.match(name)
        assert len(name) <= 63


def test_read_only_entry_is_read_only_on_volume_and_pod() -> None:
    pv = storage.persistent_volume(PNFS_RO, "batch", "lab")
    assert pv["spec"]["csi"]["readOnly"] is True
    assert storage.pod_volume(PNFS_RO)["persistentVolumeClaim"] == {
        "claimName": storage.claim_name(PNFS_RO),
        "readOnly": True,
    }


def test_driver_options_are_carried() -> None:
    vol = StaticCsiVolume(
        driver="nfs.csi.k8s.io",
        volume_handle="door#pnfs##{cluster}-{namespace}",
        volume_attributes={"share": "/pnfs", "server": "door"},
        mount_options=("nfsvers=4.1", "hard"),
        fs_type="nfs",
        capacity="10Ti",
        node_publish_secret=SecretRef(name="s", namespace="kube-system"),
        claim_name="pnfs",
    )
    mount = StorageMount(prefix="/pnfs", volume=vol)
    pv = storage.persistent_volume(mount, "batch-x", "hpc1")
    assert pv["spec"]["mountOptions"] == ["nfsvers=4.1", "hard"]
    assert pv["spec"]["csi"]["volumeHandle"] == "door#pnfs##hpc1-batch-x"
    assert list(pv["spec"]["csi"]["volumeAttributes"]) == ["server", "share"]  # sorted: byte-stable
    assert pv["spec"]["csi"]["fsType"] == "nfs"
    assert pv["spec"]["csi"]["nodePublishSecretRef"] == {"name": "s", "namespace": "kube-system"}
    assert pv["spec"]["capacity"] == {"storage": "10Ti"}
    assert storage.claim_name(mount) == "pnfs"
    assert pv["spec"]["claimRef"]["name"] == "pnfs"


@pytest.mark.parametrize("handle", ["x-{user}", "x-{namespace", "x-{0}", "x-{}"])
def test_unknown_handle_placeholders_are_refused(handle: str) -> None:
    with pytest.raises(ValidationError, match="volume_handle"):
        StaticCsiVolume(driver=LAB_DRIVER, volume_handle=handle)


def test_literal_braces_in_a_handle() -> None:
    vol = StaticCsiVolume(driver=LAB_DRIVER, volume_handle="a{{b}}-{namespace}")
    assert vol.handle_for("ns", "c") == "a{b}-ns"


def test_pairs_only_for_static_entries_in_table_order() -> None:
    policy = SitePolicy(
        storage=(
            StorageMount(prefix="/h", volume=HostPathVolume(path="/h")),
            PNFS_RO,
            StorageMount(prefix="/c", volume=CsiVolume(driver="d")),
            StorageMount(prefix="/p", volume=PvcVolume(claim_name="p")),
            GPFS,
        )
    )
    pairs = storage.storage_pairs(policy, "batch", "lab")
    assert [p.mount.prefix for p in pairs] == ["/lab/pnfs", "/lab/gpfs"]
    assert storage.storage_pairs(SitePolicy(), "batch", "lab") == []


def test_existing_volume_kinds_render_as_before() -> None:
    assert volume(StorageMount(prefix="/h", volume=HostPathVolume(path="/h"), name="h")) == {
        "name": "h",
        "hostPath": {"path": "/h", "type": "Directory"},
    }
    assert volume(StorageMount(prefix="/p", volume=PvcVolume(claim_name="c"), name="p")) == {
        "name": "p",
        "persistentVolumeClaim": {"claimName": "c"},
    }
    assert volume(StorageMount(prefix="/c", volume=CsiVolume(driver="d"), name="c", read_only=True)) == {
        "name": "c",
        "csi": {"driver": "d", "readOnly": True},
    }


def test_job_mounts_the_claims_at_the_login_node_paths() -> None:
    objs = build_job(sbatch(script()), POLICY, KubeSettings())
    pod = objs.job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[GPFS.volume_name] == {
        "name": GPFS.volume_name,
        "persistentVolumeClaim": {"claimName": "bb-storage-lab-gpfs", "readOnly": False},
    }
    assert volumes[PNFS_RO.volume_name]["persistentVolumeClaim"]["readOnly"] is True
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts[GPFS.volume_name]["mountPath"] == "/lab/gpfs"
    assert mounts[PNFS_RO.volume_name] == {"name": PNFS_RO.volume_name, "mountPath": "/lab/pnfs", "readOnly": True}
    assert "fsGroup" not in pod["securityContext"]


def test_path_not_in_the_table_is_refused_with_a_clear_reason() -> None:
    job = sbatch(script("--output=/tmp/out.txt"))
    with pytest.raises(PolicyError) as err:
        check_storage(job, POLICY)
    assert str(err.value) == "output file '/tmp/out.txt' is not on site storage (allowed: /lab/gpfs, /lab/pnfs)"


def test_output_on_a_read_only_area_is_refused() -> None:
    job = sbatch(script("--output=/lab/pnfs/data/alice/out.txt"))
    with pytest.raises(PolicyError, match="read-only storage /lab/pnfs"):
        check_storage(job, POLICY)


# --- golden objects of the example storage configurations -----------------------------------------

STORAGE_CONFIGS = {
    "lab-csi": (EXAMPLES / "config" / "lab-csi.yaml", "batch"),
    "dcache-nfs": (EXAMPLES / "config" / "storage" / "dcache-nfs.yaml", "batch-physics"),
    "gpfs-scale": (EXAMPLES / "config" / "storage" / "gpfs-scale.yaml", "batch"),
}
STORAGE_GOLDEN = GOLDEN / "storage"


def storage_objects(name: str) -> list[dict[str, Any]]:
    path, namespace = STORAGE_CONFIGS[name]
    settings = load_settings(path)
    out: list[dict[str, Any]] = []
    for pair in storage.storage_pairs(settings.site, namespace, settings.cluster):
        out += [pair.volume, pair.claim]
    return out


@pytest.mark.parametrize("name", sorted(STORAGE_CONFIGS))
def test_example_storage_objects_match_golden(name: str, update_golden: bool) -> None:
    objects = storage_objects(name)
    assert objects, f"{name}: no csiStatic entries"
    text = yaml.safe_dump_all(objects, sort_keys=False)
    golden: Path = STORAGE_GOLDEN / f"{name}.yaml"
    if update_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}; run pytest --update-golden"
    assert golden.read_text() == text, f"{golden} differs; run pytest --update-golden and review the diff"
