"""A job ad -> BatchJob. One function serves both paths: ads made from a submit description, and
ads read from the schedd.

``view_of`` reads and *evaluates* the attributes the bridge uses from a ClassAd (v1 ``classad`` or
``classad2``), giving a plain ``AdView``; ``to_ir`` is pure over that view.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.htcondor.quoting import environment_v1, environment_v2, split_v1, split_v2
from adapters.htcondor.settings import CondorSettings
from bridge.domain.errors import PolicyError, TranslationError
from bridge.domain.ir import (
    BatchJob,
    Command,
    Environment,
    ExportMode,
    GpuRequest,
    GpuScope,
    Identity,
    IOSpec,
    OpenMode,
    PathTemplate,
    Resources,
    Source,
)
from bridge.domain.jobenv import valid_env_name

VANILLA = 5
_IMAGE_SCHEMES = ("docker://",)


class AdLike(Protocol):
    def __contains__(self, key: object) -> bool: ...
    def eval(self, key: str) -> Any: ...


@dataclass(frozen=True)
class AdView:
    """The attributes the bridge reads, evaluated to plain values (None when undefined)."""

    values: Mapping[str, object]

    def text(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if isinstance(value, str) else None

    def number(self, key: str) -> float | None:
        value = self.values.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)


ATTRIBUTES = (
    "ClusterId", "ProcId", "Owner", "Cmd", "Arguments", "Args", "Environment", "Env", "Iwd", "In", "Out",
    "Err", "RequestCpus", "RequestMemory", "RequestGPUs", "RequestDisk", "ContainerImage", "DockerImage",
    "WantContainer", "JobUniverse", "JobBatchName", "AcctGroup", "AccountingGroup", "JobPrio",
    "AllowedExecuteDuration", "TransferInput", "TransferExecutable", "GPUsRequireType",
)  # fmt: skip


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) else None


def view_of(ad: AdLike) -> AdView:
    """Evaluate the attributes of ``ad`` the bridge needs; anything not a plain value is None."""
    values: dict[str, object] = {}
    for key in ATTRIBUTES:
        if key in ad:
            try:
                values[key] = _plain(ad.eval(key))
            except Exception:
                values[key] = None
    return AdView(values)


@dataclass(frozen=True)
class AdContext:
    identity: Identity
    cluster: str
    submit_dir: str | None = None


def _int(view: AdView, key: str) -> int | None:
    number = view.number(key)
    return int(number) if number is not None and number.is_integer() else None


def _image(view: AdView) -> str | None:
    image = view.text("ContainerImage") or view.text("DockerImage")
    if image is None:
        return None
    for scheme in _IMAGE_SCHEMES:
        image = image.removeprefix(scheme)
    if image.endswith(".sif") or image.startswith("/") or "://" in image:
        raise TranslationError(f"container image {image!r} cannot run on Kubernetes: use a docker:// image")
    return image


def _arguments(view: AdView) -> tuple[str, ...]:
    if (v2 := view.text("Arguments")) is not None:
        return tuple(split_v2(v2))
    if (v1 := view.text("Args")) is not None:
        return tuple(split_v1(v1))
    return ()


def _environment(view: AdView, settings: CondorSettings, denylist: tuple[str, ...], warnings: list[str]) -> Environment:
    pairs: list[tuple[str, str]] = []
    if (v2 := view.text("Environment")) is not None:
        pairs = environment_v2(v2)
    elif (v1 := view.text("Env")) is not None:
        pairs = environment_v1(v1)
    kept = dict(pairs)
    for name in [n for n in kept if n in denylist]:
        del kept[name]
        warnings.append(f"environment: {name} is not passed to the job on this site")
    for name in [n for n in kept if not valid_env_name(n)]:
        del kept[name]
        warnings.append(f"environment: {name!r} is not a valid variable name; not passed")
    return Environment(export=ExportMode.LISTED, variables=tuple(kept.items()))


def _stream(view: AdView, key: str) -> PathTemplate | None:
    path = view.text(key) or "/dev/null"  # HTCondor's default for each stream
    return None if key == "In" and path == "/dev/null" else PathTemplate.literal(path)


def _resources(view: AdView, settings: CondorSettings) -> Resources:
    cpus = max(math.ceil(view.number("RequestCpus") or 1), 1)
    memory = max(math.ceil(view.number("RequestMemory") or 0), settings.min_memory_mib)
    gpus = math.ceil(view.number("RequestGPUs") or 0)
    disk_kib = view.number("RequestDisk") or 0
    if cpus > settings.max_cpus or gpus > settings.max_gpus or memory > settings.max_memory_mib:
        raise TranslationError(f"request too large (cpus {cpus}, memory {memory} MiB, gpus {gpus})")
    return Resources(
        cpus_per_task=cpus,
        memory_per_node_mib=memory,
        gpus=GpuRequest(count=gpus, type=view.text("GPUsRequireType"), per=GpuScope.JOB) if gpus > 0 else None,
        ephemeral_disk_mib=max(math.ceil(disk_kib / 1024), 1) if 0 < disk_kib < 2**40 else None,
    )


def to_ir(
    view: AdView, ctx: AdContext, settings: CondorSettings | None = None, denylist: tuple[str, ...] = ()
) -> BatchJob:
    """The IR of one job ad; raises TranslationError (PolicyError for identity) on what cannot run."""
    settings = settings or CondorSettings()
    universe = _int(view, "JobUniverse") or VANILLA
    if universe != VANILLA:
        raise TranslationError(
            f"universe {universe} is not supported: only vanilla and container jobs run on Kubernetes"
        )
    cluster_id, proc_id = _int(view, "ClusterId"), _int(view, "ProcId")
    if cluster_id is None or proc_id is None or cluster_id < 0 or proc_id < 0:
        raise TranslationError("job ad has no valid ClusterId/ProcId")
    owner = view.text("Owner")
    if owner is not None and owner != ctx.identity.user:
        raise PolicyError(f"job Owner {owner!r} is not the authenticated user {ctx.identity.user!r}")
    cmd, iwd = view.text("Cmd"), view.text("Iwd")
    if not cmd or not iwd or not iwd.startswith("/"):
        raise TranslationError("job ad needs Cmd and an absolute Iwd")
    warnings: list[str] = []
    if view.text("TransferInput"):
        warnings.append("transfer_input_files: no files are transferred; the job reads site storage in place")
    limit = _int(view, "AllowedExecuteDuration")
    return BatchJob(
        source=Source.HTCONDOR,
        source_id=f"{cluster_id}.{proc_id}",
        cluster=ctx.cluster,
        name=view.text("JobBatchName") or posixpath.basename(cmd) or "job",
        identity=ctx.identity,
        account=view.text("AcctGroup") or view.text("AccountingGroup"),
        priority=_int(view, "JobPrio"),
        resources=_resources(view, settings),
        time_limit_s=limit if limit and limit > 0 else None,
        payload=Command(
            executable=posixpath.join(iwd, cmd),
            args=_arguments(view),
            in_image=view.values.get("TransferExecutable") is False,  # transfer_executable = false
        ),
        environment=_environment(view, settings, denylist, warnings),
        working_dir=posixpath.normpath(iwd),
        submit_dir=ctx.submit_dir or iwd,
        io=IOSpec(
            stdin=_stream(view, "In"),
            stdout=_stream(view, "Out"),
            stderr=_stream(view, "Err"),
            open_mode=OpenMode.TRUNCATE,
        ),
        image=_image(view),
        warnings=tuple(warnings),
    )
