"""Pure builders: the site's statically provisioned storage (``kind: csiStatic``) as Kubernetes objects.

For each storage entry and each namespace the bridge targets there is one pair:

- a PersistentVolume (cluster-scoped) carrying the driver's ``volumeHandle``/``volumeAttributes``,
  ``Retain`` (site data is never deleted), no StorageClass, and a ``claimRef`` that pre-binds it to
- a PersistentVolumeClaim of the same name in every namespace (``claim_name``), asking for exactly
  that volume (``volumeName``), no StorageClass, so no provisioner and no default class is involved.

Both are ReadWriteMany; a read-only entry is enforced by ``csi.readOnly`` on the volume (the kubelet
passes it to NodePublishVolume) and ``readOnly`` on the pod volume and its mount. Nothing here chowns:
the pods never set ``fsGroup`` (csi-driver-nfs would chown the export recursively).

Names are deterministic: the claim from the entry alone (the pod spec names it without knowing
anything else), the volume from (cluster, namespace, prefix) with a hash suffix, so a restarted
daemon adopts what exists. Labels say whose the objects are; ``storage_sync`` never touches an
object without them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from bridge.domain import wellknown as wk
from bridge.domain.naming import dns_label, label_value
from bridge.domain.policy import SitePolicy, StaticCsiVolume, StorageMount

__all__ = [
    "ANN_STORAGE_PREFIX",
    "LABEL_STORAGE",
    "LABEL_STORAGE_NAMESPACE",
    "StaticCsiVolume",
    "StoragePair",
    "claim_name",
    "persistent_volume",
    "persistent_volume_claim",
    "pod_volume",
    "static_mounts",
    "storage_pairs",
    "volume_name",
]

Obj = dict[str, Any]

# Label/annotation keys of the storage objects (beside wellknown's managed-by and cluster).
LABEL_STORAGE: Final = f"{wk.PREFIX}/storage"  # the entry's volume name (StorageMount.volume_name)
LABEL_STORAGE_NAMESPACE: Final = f"{wk.PREFIX}/storage-namespace"  # on the PV: the namespace it serves
ANN_STORAGE_PREFIX: Final = f"{wk.PREFIX}/storage-prefix"  # the login-node path it is mounted at

ACCESS_MODES: Final = ("ReadWriteMany",)
RECLAIM_POLICY: Final = "Retain"
_HASH_LEN: Final = 8


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:_HASH_LEN]


def is_static(mount: StorageMount) -> bool:
    return isinstance(mount.volume, StaticCsiVolume)


def static_mounts(policy: SitePolicy) -> tuple[StorageMount, ...]:
    """The storage entries that need a PersistentVolume/PersistentVolumeClaim pair per namespace."""
    return tuple(m for m in policy.storage if is_static(m))


def _static(mount: StorageMount) -> StaticCsiVolume:
    if not isinstance(mount.volume, StaticCsiVolume):
        raise TypeError(f"storage {mount.prefix}: kind {mount.volume.kind} is not csiStatic")
    return mount.volume


def claim_name(mount: StorageMount) -> str:
    """The claim's name, the same in every namespace: ``bb-<volume name>`` unless configured."""
    volume = _static(mount)
    return volume.claim_name or dns_label("bb-" + mount.volume_name, 63)


def volume_name(mount: StorageMount, namespace: str, cluster: str) -> str:
    """``bb-<cluster>-<namespace>-<entry>-<hash>``: unique per (cluster, namespace, prefix), <= 63."""
    suffix = _digest(cluster, namespace, mount.prefix)
    readable = dns_label(f"bb-{cluster}-{namespace}-{mount.volume_name.removeprefix('storage-')}", 63 - _HASH_LEN - 1)
    return f"{readable}-{suffix}"


def labels(mount: StorageMount, cluster: str) -> dict[str, str]:
    return {
        wk.LABEL_MANAGED_BY: wk.MANAGED_BY_VALUE,
        wk.LABEL_CLUSTER: label_value(cluster),
        LABEL_STORAGE: label_value(mount.volume_name),
    }


def persistent_volume(mount: StorageMount, namespace: str, cluster: str) -> Obj:
    volume = _static(mount)
    csi: Obj = {
        "driver": volume.driver,
        "volumeHandle": volume.handle_for(namespace, cluster),
        "readOnly": mount.read_only,
    }
    if volume.volume_attributes:
        csi["volumeAttributes"] = dict(sorted(volume.volume_attributes.items()))
    if volume.fs_type:
        csi["fsType"] = volume.fs_type
    if volume.node_publish_secret:
        csi["nodePublishSecretRef"] = {
            "name": volume.node_publish_secret.name,
            "namespace": volume.node_publish_secret.namespace,
        }
    spec: Obj = {
        "capacity": {"storage": volume.capacity},
        "accessModes": list(ACCESS_MODES),
        "persistentVolumeReclaimPolicy": RECLAIM_POLICY,
        "storageClassName": "",
        "volumeMode": "Filesystem",
        "claimRef": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": namespace,
            "name": claim_name(mount),
        },
        "csi": csi,
    }
    if volume.mount_options:
        spec["mountOptions"] = list(volume.mount_options)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": volume_name(mount, namespace, cluster),
            "labels": {**labels(mount, cluster), LABEL_STORAGE_NAMESPACE: label_value(namespace)},
            "annotations": {ANN_STORAGE_PREFIX: mount.prefix},
        },
        "spec": spec,
    }


def persistent_volume_claim(mount: StorageMount, namespace: str, cluster: str) -> Obj:
    volume = _static(mount)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim_name(mount),
            "namespace": namespace,
            "labels": labels(mount, cluster),
            "annotations": {ANN_STORAGE_PREFIX: mount.prefix},
        },
        "spec": {
            "accessModes": list(ACCESS_MODES),
            "storageClassName": "",
            "volumeMode": "Filesystem",
            "volumeName": volume_name(mount, namespace, cluster),
            "resources": {"requests": {"storage": volume.capacity}},
        },
    }


@dataclass(frozen=True)
class StoragePair:
    """One storage entry in one namespace: the volume and the claim that binds it."""

    mount: StorageMount
    namespace: str
    volume: Obj
    claim: Obj

    @property
    def volume_name(self) -> str:
        return str(self.volume["metadata"]["name"])

    @property
    def claim_name(self) -> str:
        return str(self.claim["metadata"]["name"])


def storage_pairs(policy: SitePolicy, namespace: str, cluster: str) -> list[StoragePair]:
    """Every pair a job in ``namespace`` needs, in table order (deterministic)."""
    return [
        StoragePair(
            m, namespace, persistent_volume(m, namespace, cluster), persistent_volume_claim(m, namespace, cluster)
        )
        for m in static_mounts(policy)
    ]


def pod_volume(mount: StorageMount) -> Obj:
    """The pod's volume for a csiStatic entry: the claim, read-only for a read-only entry."""
    return {
        "name": mount.volume_name,
        "persistentVolumeClaim": {"claimName": claim_name(mount), "readOnly": mount.read_only},
    }
