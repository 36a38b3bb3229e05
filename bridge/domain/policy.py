"""Site policy, applied to every job after translation and before any object is built.

Pure: paths are normalised lexically (``..`` and ``.`` removed); the gateway resolves symlinks where
the storage is mounted. Each refusal is a PolicyError whose message the submitting user will read.
"""

from __future__ import annotations

import posixpath
import string
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator

from bridge.domain.errors import PolicyError
from bridge.domain.ir import BatchJob, Command, Model, Placeholder
from bridge.domain.naming import dns_label, namespace_name


class PvcVolume(Model):
    kind: Literal["pvc"] = "pvc"
    claim_name: str = Field(description="PersistentVolumeClaim in the job's namespace.")


class CsiVolume(Model):
    kind: Literal["csi"] = "csi"
    driver: str = Field(description="CSI driver name, e.g. nfs.csi.k8s.io.")
    volume_attributes: dict[str, str] = Field(default_factory=dict, description="Driver attributes.")


# Placeholders a static volume handle may use; each PV is made per (entry, namespace).
HANDLE_PLACEHOLDERS: Final = frozenset({"namespace", "cluster"})


class SecretRef(Model):
    name: str = Field(description="Secret name.")
    namespace: str = Field(description="Secret namespace.")


class StaticCsiVolume(Model):
    """A statically provisioned CSI volume: the bridge ensures one PersistentVolume (cluster-scoped,
    pre-bound) and one PersistentVolumeClaim per job namespace, and the pod mounts the claim."""

    kind: Literal["csiStatic"] = "csiStatic"
    driver: str = Field(description="CSI driver name, e.g. nfs.csi.k8s.io or spectrumscale.csi.ibm.com.")
    volume_handle: str = Field(
        min_length=1,
        description="The driver's volumeHandle; {namespace} and {cluster} are replaced per PersistentVolume.",
    )
    volume_attributes: dict[str, str] = Field(default_factory=dict, description="Driver attributes (volumeAttributes).")
    mount_options: tuple[str, ...] = Field(default=(), description="PersistentVolume mountOptions, e.g. nfsvers=4.1.")
    fs_type: str | None = Field(default=None, description="csi.fsType, if the driver wants one.")
    capacity: str = Field(
        default="1Ti", pattern=r"^[0-9]+(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$", description="Nominal size (not enforced)."
    )
    node_publish_secret: SecretRef | None = Field(default=None, description="csi.nodePublishSecretRef, if any.")
    claim_name: str | None = Field(
        default=None, description="PersistentVolumeClaim name in each namespace; derived from the entry if unset."
    )

    @field_validator("volume_handle")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as e:
            raise ValueError(f"volume_handle {value!r}: {e} (use {{{{ }}}} for a literal brace)") from e
        unknown = fields - HANDLE_PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"volume_handle placeholders {sorted(unknown)} unknown (known: {sorted(HANDLE_PLACEHOLDERS)})"
            )
        return value

    def handle_for(self, namespace: str, cluster: str) -> str:
        return self.volume_handle.format(namespace=namespace, cluster=cluster)


class HostPathVolume(Model):
    kind: Literal["hostPath"] = "hostPath"
    path: str = Field(description="Directory on the node (labs and single-node tests only).")


VolumeSource = Annotated[PvcVolume | CsiVolume | StaticCsiVolume | HostPathVolume, Field(discriminator="kind")]


class StorageMount(Model):
    """One site file system: everything under ``prefix`` is mounted at the same path in the pod."""

    prefix: str = Field(pattern=r"^/", description="Absolute path prefix as seen on the login nodes.")
    volume: VolumeSource = Field(description="Where the files come from: kind pvc, csi, csiStatic or hostPath.")
    read_only: bool = Field(default=False, description="Mount read-only; outputs there are refused.")
    name: str | None = Field(default=None, description="Volume name; derived from the prefix if unset.")

    @property
    def volume_name(self) -> str:
        return self.name or dns_label("storage-" + self.prefix, 63) or "storage"


class NamespaceFrom(StrEnum):
    FIXED = "fixed"
    ACCOUNT = "account"
    QUEUE = "queue"
    USER = "user"


class NamespacePolicy(Model):
    mode: NamespaceFrom = Field(default=NamespaceFrom.FIXED, description="What picks the namespace.")
    fixed: str = Field(default="batch", description="The namespace for mode=fixed, and the fallback.")
    prefix: str = Field(default="", description="Prepended to the account/queue/user in other modes.")


class ImagePolicy(Model):
    default: str | None = Field(default=None, description="Image for jobs that name none.")
    per_queue: dict[str, str] = Field(default_factory=dict, description="Default image per partition/queue.")
    allowed_registries: tuple[str, ...] = Field(
        default=(), description="Image references must start with one of these (empty: any)."
    )


class SitePolicy(Model):
    storage: tuple[StorageMount, ...] = Field(default=(), description="Path prefix → volume table.")
    min_uid: int = Field(default=1000, ge=1, description="Lowest uid allowed to run; uid 0 is always refused.")
    min_gid: int = Field(default=1, ge=1, description="Lowest primary gid allowed; gid 0 is always refused.")
    images: ImagePolicy = Field(default_factory=ImagePolicy, description="Which container images jobs run in.")
    namespace: NamespacePolicy = Field(default_factory=NamespacePolicy, description="Which namespace a job goes to.")
    env_denylist: tuple[str, ...] = Field(
        default=("LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "PATH"),
        description="Variables a user may not set explicitly; inherited ones are dropped with a warning.",
    )


# Stand-ins for run-time placeholders while checking a path: digits and a plain node name.
_PROBE = {Placeholder.ARRAY_TASK_ID: "0", Placeholder.NODE_NAME: "node"}


def normalise(path: str, cwd: str) -> str:
    """Absolute, ``..``-free form of ``path`` relative to ``cwd`` (lexical, no file system access)."""
    return posixpath.normpath(posixpath.join(cwd, path)).replace("//", "/")


def mount_for(path: str, storage: tuple[StorageMount, ...]) -> StorageMount | None:
    """The longest storage prefix holding ``path`` (component-wise: /a/bc is not under /a/b)."""
    best: StorageMount | None = None
    for mount in storage:
        root = mount.prefix.rstrip("/") or "/"
        if (path == root or path.startswith(root + "/") or root == "/") and (
            best is None or len(root) > len(best.prefix.rstrip("/"))
        ):
            best = mount
    return best


def _check_path(what: str, path: str, cwd: str, policy: SitePolicy, write: bool) -> None:
    real = normalise(path, cwd)
    mount = mount_for(real, policy.storage)
    if mount is None:
        roots = ", ".join(m.prefix for m in policy.storage) or "none configured"
        raise PolicyError(f"{what} {real!r} is not on site storage (allowed: {roots})")
    if write and mount.read_only:
        raise PolicyError(f"{what} {real!r} is on read-only storage {mount.prefix}")


def check_identity(job: BatchJob, policy: SitePolicy) -> None:
    ident = job.identity
    if ident.uid == 0 or ident.uid < policy.min_uid:
        raise PolicyError(f"user {ident.user!r} (uid {ident.uid}) may not run jobs: uid below {policy.min_uid}")
    if ident.gid == 0 or ident.gid < policy.min_gid:
        raise PolicyError(f"user {ident.user!r} has primary gid {ident.gid}: below {policy.min_gid}")
    if 0 in ident.groups:
        raise PolicyError(f"user {ident.user!r} is in group 0 (root): refused")


def check_storage(job: BatchJob, policy: SitePolicy) -> None:
    """Working dir, executable and every stream must be under a mapped storage prefix."""
    _check_path("working directory", job.working_dir, "/", policy, write=False)
    if isinstance(job.payload, Command) and not job.payload.in_image:
        _check_path("executable", job.payload.executable, job.working_dir, policy, write=False)
    streams = (("input", job.io.stdin, False), ("output", job.io.stdout, True), ("error", job.io.stderr, True))
    for what, template, write in streams:
        if template is not None:
            path = template.render(_PROBE)
            if path != "/dev/null":
                _check_path(f"{what} file", path, job.working_dir, policy, write=write)


def resolve_image(job: BatchJob, policy: SitePolicy) -> str:
    """The image the job runs in: its own, else the queue's default, else the site default."""
    image = job.image or policy.images.per_queue.get(job.queue or "") or policy.images.default
    if not image:
        raise PolicyError("no container image: name one (#BRIDGE --image=...) or configure a default")
    allowed = policy.images.allowed_registries
    if allowed and not any(image.startswith(r.rstrip("/") + "/") for r in allowed):
        raise PolicyError(f"image {image!r} is not from an allowed registry ({', '.join(allowed)})")
    return image


_NAMESPACE_SOURCE = {
    NamespaceFrom.ACCOUNT: lambda job: job.account,
    NamespaceFrom.QUEUE: lambda job: job.queue,
    NamespaceFrom.USER: lambda job: job.identity.user,
}


def resolve_namespace(job: BatchJob, policy: SitePolicy) -> str:
    rule = policy.namespace
    pick = _NAMESPACE_SOURCE.get(rule.mode)
    value = pick(job) if pick else None
    return namespace_name(rule.prefix, value) if value else rule.fixed


def check_job(job: BatchJob, policy: SitePolicy) -> None:
    """Every site rule; raises PolicyError with the reason the user will see."""
    check_identity(job, policy)
    check_storage(job, policy)
