"""Site policy, applied to every job after translation and before any object is built.

Pure: paths are normalised lexically (``..`` and ``.`` removed); the gateway resolves symlinks where
the storage is mounted. Each refusal is a PolicyError whose message the submitting user will read.
"""

from __future__ import annotations

import posixpath
import string
from collections.abc import Iterator
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator

from bridge.domain import image as oci
from bridge.domain import wellknown as wk
from bridge.domain.errors import PolicyError
from bridge.domain.ir import BatchJob, Command, Model, PathTemplate, Placeholder, Script
from bridge.domain.jobenv import total_cpus, total_gpus, valid_env_name
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
        default=(),
        description="Registries or repository paths images must come from (empty: any), matched whole "
        "components against the normalised reference: docker.io/library allows python:3.12.",
    )


class ResourceLimits(Model):
    """The largest request one job may make, in either front door; larger ones are refused as mistakes."""

    max_cpus: int = Field(default=1024, ge=1, description="Most CPUs of one job (all tasks together).")
    max_memory_mib: int = Field(default=16 * 1024 * 1024, ge=1, description="Most memory of one job, MiB.")
    max_gpus: int = Field(default=64, ge=0, description="Most GPUs of one job.")


DEFAULT_ENV_DENYLIST: Final = ("LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "PATH")


class SitePolicy(Model):
    storage: tuple[StorageMount, ...] = Field(default=(), description="Path prefix → volume table.")
    min_uid: int = Field(default=1000, ge=1, description="Lowest uid allowed to run; uid 0 is always refused.")
    min_gid: int = Field(default=1, ge=1, description="Lowest primary gid allowed; gid 0 is always refused.")
    images: ImagePolicy = Field(default_factory=ImagePolicy, description="Which container images jobs run in.")
    namespace: NamespacePolicy = Field(default_factory=NamespacePolicy, description="Which namespace a job goes to.")
    env_denylist: tuple[str, ...] = Field(
        default=DEFAULT_ENV_DENYLIST,
        description="Variables a user may not set explicitly (refused); inherited ones (--export=ALL, "
        "getenv) are dropped with a warning.",
    )
    limits: ResourceLimits = Field(default_factory=ResourceLimits, description="Largest request of one job.")


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


# Names of the IR extensions through which a front door lists the other files the job or the bridge
# reads or writes on the user's behalf (HTCondor: transfer_input_files, the user log, item files).
READS: Final = "reads"
WRITES: Final = "writes"


def check_storage(job: BatchJob, policy: SitePolicy) -> None:
    """Working dir, executable, every stream and every listed file must be under a mapped storage prefix."""
    _check_path("working directory", job.working_dir, "/", policy, write=False)
    if isinstance(job.payload, Command) and not job.payload.in_image:
        _check_path("executable", job.payload.executable, job.working_dir, policy, write=False)
    streams = (("input", job.io.stdin, False), ("output", job.io.stdout, True), ("error", job.io.stderr, True))
    for what, template, write in streams:
        if template is not None:
            path = template.render(_PROBE)
            if path != "/dev/null":
                _check_path(f"{what} file", path, job.working_dir, policy, write=write)
    for ext in job.extensions:
        if ext.name in (READS, WRITES) and isinstance(ext.value, str):
            what = "file read" if ext.name == READS else "file written"
            _check_path(what, ext.value, job.working_dir, policy, write=ext.name == WRITES)


@lru_cache(maxsize=4096)  # pure, and every job of an array or a site default repeats the same text
def _allowed_image(text: str, allowed: tuple[str, ...]) -> str:
    if oci.is_sif(text):
        raise PolicyError(f"container image {text!r} {oci.SIF_REFUSAL}")
    ref = oci.parse(text)
    if allowed and not any(ref.under(r) for r in allowed):
        raise PolicyError(f"image {str(ref)!r} is not from an allowed registry ({', '.join(allowed)})")
    return str(ref)


def resolve_image(job: BatchJob, policy: SitePolicy) -> str:
    """The image the job runs in (its own, else the queue's default, else the site default), parsed
    with the OCI reference grammar, normalised as Docker does, and checked against the allow-list."""
    image = job.image or policy.images.per_queue.get(job.queue or "") or policy.images.default
    if not image:
        raise PolicyError("no container image: name one (#BRIDGE --image=...) or configure a default")
    return _allowed_image(image, policy.images.allowed_registries)


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


@lru_cache(maxsize=64)
def _deny_set(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names)


def check_environment(job: BatchJob, policy: SitePolicy) -> None:
    """Variables the site forbids are refused whichever door they came through. The front doors drop
    *inherited* ones (--export=ALL, getenv) with a warning, so what is left here was set explicitly."""
    deny = _deny_set(policy.env_denylist)
    for name, value in job.environment.variables:
        if name in deny:
            raise PolicyError(f"environment: setting {name} is not allowed on this site")
        if not valid_env_name(name):
            raise PolicyError(f"environment: {name!r} is not a valid variable name")
        if "\0" in value:
            raise PolicyError(f"environment: the value of {name} contains a NUL byte")


def _utf8_error(what: str, text: str) -> PolicyError | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        byte = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"character {bad!r}"
        line = text.count("\n", 0, exc.start) + 1
        return PolicyError(
            f"{what} is not valid UTF-8 ({byte} on line {line}): Kubernetes carries it as UTF-8 text; "
            "convert it, e.g. with iconv -t UTF-8"
        )
    return None


def _template_text(template: PathTemplate | None) -> str:
    return "" if template is None else "".join(p for p in template.parts if isinstance(p, str))


def _texts(job: BatchJob) -> Iterator[tuple[str, str]]:
    """Every user-supplied string that ends up in a Kubernetes object, named for the message."""
    payload = job.payload
    if isinstance(payload, Script):
        yield "batch script", payload.body
        yield from (("script argument", a) for a in payload.args)
    else:
        yield "executable", payload.executable
        yield from (("argument", a) for a in payload.args)
    yield from (("environment", f"{k}={v}") for k, v in job.environment.variables)
    plain = (
        ("job name", job.name), ("working directory", job.working_dir), ("submit directory", job.submit_dir),
        ("account", job.account), ("queue", job.queue), ("qos", job.qos), ("comment", job.comment),
        ("image", job.image), ("input file", _template_text(job.io.stdin)),
        ("output file", _template_text(job.io.stdout)), ("error file", _template_text(job.io.stderr)),
    )  # fmt: skip
    yield from ((what, text) for what, text in plain if text)
    yield from (("label", f"{k}={v}") for k, v in job.labels)
    yield from (("annotation", f"{k}={v}") for k, v in job.annotations)
    yield from (("extension", f"{e.name}={e.value}") for e in job.extensions if isinstance(e.value, str))
    yield from (("file transferred", t) for t in _transfer_texts(job))


def _transfer_texts(job: BatchJob) -> list[str]:
    t = job.transfer
    return [] if t is None else [*t.inputs, *(t.outputs or ()), *(x for pair in t.remaps for x in pair)]


def _strings(job: BatchJob) -> list[str]:
    """The same strings as _texts, unnamed and cheap to collect (every job pays for this)."""
    payload, io = job.payload, job.io
    out = [payload.body if isinstance(payload, Script) else payload.executable, *payload.args]
    out += [x for pair in job.environment.variables for x in pair]
    out += (job.name, job.working_dir, job.submit_dir, job.account or "", job.queue or "", job.qos or "")
    out += (job.comment or "", job.image or "")
    out += [p for t in (io.stdin, io.stdout, io.stderr) if t is not None for p in t.parts if isinstance(p, str)]
    out += [x for pair in (*job.labels, *job.annotations) for x in pair]
    out += [x for e in job.extensions for x in (e.name, e.value) if isinstance(x, str)]
    out += _transfer_texts(job)
    return out


def _clean(blob: str) -> bool:
    return "\0" not in blob and (blob.isascii() or _utf8_error("", blob) is None)


def check_text(job: BatchJob) -> None:
    """No NUL byte and only UTF-8 in anything the user wrote: Kubernetes objects are UTF-8 JSON."""
    if _clean("".join(_strings(job))):
        return  # the usual case, in one pass; the slow path below names the culprit
    for what, text in _texts(job):
        if "\0" in text:
            raise PolicyError(f"{what} contains a NUL byte")
        if (error := _utf8_error(what, text)) is not None:
            raise error


def job_memory_mib(job: BatchJob) -> int | None:
    """The job's whole memory request, when it made one."""
    r = job.resources
    forms = (
        (r.memory_per_node_mib, 1),
        (r.memory_per_cpu_mib, total_cpus(job)),
        (r.memory_per_gpu_mib, total_gpus(job)),
    )
    return next((value * factor for value, factor in forms if value is not None), None)


def check_resources(job: BatchJob, policy: SitePolicy) -> None:
    """The site's caps, for every front door alike."""
    cap = policy.limits
    asked = (
        ("cpus", total_cpus(job), cap.max_cpus, ""),
        ("memory", job_memory_mib(job) or 0, cap.max_memory_mib, " MiB"),
        ("gpus", total_gpus(job), cap.max_gpus, ""),
    )
    for what, value, limit, unit in asked:
        if value > limit:
            raise PolicyError(f"request too large: {value}{unit} {what}, this site allows at most {limit}{unit}")


# Keys the bridge writes itself: user- or SDK-supplied labels and annotations may not shadow them.
_OWN_KEYS: Final = frozenset(v for k, v in vars(wk).items() if k.startswith(("LABEL_", "ANN_")))
_RESERVED_DOMAINS: Final = (wk.PREFIX, "kubernetes.io", "k8s.io")


def _reserved(key: str) -> bool:
    domain = key.rpartition("/")[0]
    return key in _OWN_KEYS or any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS)


def check_metadata(job: BatchJob) -> None:
    for kind, pairs in (("label", job.labels), ("annotation", job.annotations)):
        for key, _ in pairs:
            if _reserved(key):
                raise PolicyError(f"{kind} {key!r} is reserved for batch-bridge and Kubernetes; use another prefix")


def check_job(job: BatchJob, policy: SitePolicy) -> None:
    """Every site rule, in one place for every front door; raises PolicyError with the user's reason."""
    check_text(job)
    check_identity(job, policy)
    check_storage(job, policy)
    check_environment(job, policy)
    check_resources(job, policy)
    check_metadata(job)
    resolve_image(job, policy)
