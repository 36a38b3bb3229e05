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
from datetime import UTC, datetime
from typing import Any, Protocol

from adapters.htcondor.quoting import environment_v1, environment_v2, split_v1, split_v2
from adapters.htcondor.settings import CondorSettings
from bridge.domain import image as oci
from bridge.domain.errors import PolicyError, TranslationError
from bridge.domain.ir import (
    BatchJob,
    Command,
    Environment,
    ExportMode,
    Extension,
    FileTransfer,
    GpuRequest,
    GpuScope,
    Identity,
    IOSpec,
    OpenMode,
    PathTemplate,
    Resources,
    Source,
)
from bridge.domain.policy import READS, WRITES, normalise

VANILLA = 5
_IMAGE_SCHEMES = ("docker://",)
# Programs under these are the image's own (a shell, an interpreter): run the image's copy rather
# than refusing them as "not on site storage". Writes and working directories stay on storage.
SYSTEM_PREFIXES = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/libexec/")


class AdLike(Protocol):
    def __contains__(self, key: object) -> bool: ...
    def eval(self, key: str) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class AdView:
    """The attributes the bridge reads, evaluated to plain values (None when undefined).

    ``literal`` names the attributes written as plain numbers (not expressions such as HTCondor's
    default RequestMemory); ``reads`` the files expanding the description read (item files, globbed
    directories); ``warnings`` what expanding it changed.
    """

    values: Mapping[str, object]
    literal: frozenset[str] = frozenset()
    reads: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

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
    "AllowedExecuteDuration", "TransferInput", "TransferExecutable", "GPUsRequireType", "UserLog",
    "TransferOutputRemaps", "QDate", "ShouldTransferFiles", "TransferOutput",
)  # fmt: skip


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) else None


_NONE: frozenset[str] = frozenset()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def view_of(ad: AdLike) -> AdView:
    """Evaluate the attributes of ``ad`` the bridge needs; anything not a plain value is None."""
    values: dict[str, object] = {}
    literal: list[str] = []  # almost always empty: no set per ad
    for key in ATTRIBUTES:
        if key in ad:
            try:
                value = values[key] = _plain(ad.eval(key))
                # Literal-ness matters only for a size <= 0 (a written 0 is refused, a default
                # expression that evaluates to 0 is floored): look it up only then.
                if key in _SIZES and _is_number(value) and value <= 0 and _is_number(ad.get(key)):  # type: ignore[operator]
                    literal.append(key)
            except Exception:
                values[key] = None
    return AdView(values, frozenset(literal) if literal else _NONE)


@dataclass(frozen=True)
class AdContext:
    identity: Identity
    cluster: str
    submit_dir: str | None = None


def _int(view: AdView, key: str) -> int | None:
    number = view.number(key)
    return int(number) if number is not None and number.is_integer() else None


def _image_file(view: AdView, image: str) -> str | None:
    """The path HTCondor will transfer as the image: container_image without a scheme is a file to
    condor_submit (ContainerImage becomes its basename, the path goes into TransferInput)."""
    inputs = [p.strip() for p in (view.text("TransferInput") or "").split(",")]
    return next((p for p in inputs if p == image or p.endswith("/" + image)), None)


def _image(view: AdView) -> str | None:
    image = view.text("ContainerImage") or view.text("DockerImage")
    if image is None:
        return None
    if view.text("ContainerImage") and not image.startswith(_IMAGE_SCHEMES):
        path = _image_file(view, image)
        if path is not None and (path != image or oci.is_sif(image)):
            raise PolicyError(f"container_image {path!r} {oci.SIF_REFUSAL}")
    for scheme in _IMAGE_SCHEMES:
        image = image.removeprefix(scheme)
    if oci.is_sif(image) or "://" in image:
        raise PolicyError(f"container_image {image!r} {oci.SIF_REFUSAL}")
    return image  # parsed, normalised and allow-listed by the site policy (python:3 is Docker Hub's)


def _arguments(view: AdView) -> tuple[str, ...]:
    if (v2 := view.text("Arguments")) is not None:
        return tuple(split_v2(v2))
    if (v1 := view.text("Args")) is not None:
        return tuple(split_v1(v1))
    return ()


def _environment(view: AdView) -> Environment:
    """Every variable here was set explicitly (getenv is neutralised when a description is expanded):
    the site policy refuses forbidden or malformed ones, as it does for Slurm's --export=NAME=value."""
    pairs: list[tuple[str, str]] = []
    if (v2 := view.text("Environment")) is not None:
        pairs = environment_v2(v2)
    elif (v1 := view.text("Env")) is not None:
        pairs = environment_v1(v1)
    return Environment(export=ExportMode.LISTED, variables=tuple(dict(pairs).items()))


def _stream(view: AdView, key: str) -> PathTemplate | None:
    path = view.text(key) or "/dev/null"  # HTCondor's default for each stream
    return None if key == "In" and path == "/dev/null" else PathTemplate.literal(path)


# Size requests as (submit command, whether 0 is a valid request). HTCondor rounds a negative
# request_memory to 0 and keeps other negatives: a number the user wrote must be > 0 (>= 0 for
# GPUs); an unset request is an expression (RequestMemory's default can evaluate to 0: floored).
_SIZES: dict[str, tuple[str, bool]] = {
    "RequestCpus": ("request_cpus", False),
    "RequestMemory": ("request_memory", False),
    "RequestDisk": ("request_disk", False),
    "RequestGPUs": ("request_gpus", True),
}


def _check_sizes(view: AdView) -> None:
    for key, (command, zero_ok) in _SIZES.items():
        value = view.number(key)
        if value is None:
            continue
        if value < 0 or (value == 0 and not zero_ok and key in view.literal):
            raise TranslationError(f"{command} = {value:g}: must be larger than 0 (negative sizes become 0)")


def _resources(view: AdView, settings: CondorSettings) -> Resources:
    _check_sizes(view)
    cpus = max(math.ceil(view.number("RequestCpus") or 1), 1)
    memory = max(math.ceil(view.number("RequestMemory") or 0), settings.min_memory_mib)
    gpus = min(math.ceil(view.number("RequestGPUs") or 0), 2**31)  # the site's cap refuses large ones
    disk_kib = view.number("RequestDisk") or 0
    cpus, memory = min(cpus, 2**31), min(memory, 2**62)
    return Resources(
        cpus_per_task=cpus,
        memory_per_node_mib=memory,
        gpus=GpuRequest(count=gpus, type=view.text("GPUsRequireType"), per=GpuScope.JOB) if gpus > 0 else None,
        ephemeral_disk_mib=max(math.ceil(disk_kib / 1024), 1) if 0 < disk_kib < 2**40 else None,
    )


def _listed(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _remaps(view: AdView) -> list[tuple[str, str]]:
    pairs = (remap.partition("=") for remap in (view.text("TransferOutputRemaps") or "").split(";"))
    return [(name.strip(), target.strip()) for name, _, target in pairs if name.strip() and target.strip()]


def _transfers(view: AdView) -> bool:
    """HTCondor transfers files only when told YES: IF_NEEDED (its default) transfers nothing where
    the execute side shares the submit side's file system, as the bridge's pods do."""
    return (view.text("ShouldTransferFiles") or "").upper() == "YES"


def _inputs(view: AdView) -> list[str]:
    image = view.text("ContainerImage")
    reads = [p for p in _listed(view.text("TransferInput")) if p != image]
    for path in reads:
        if "://" in path:
            raise TranslationError(f"transfer_input_files: {path!r} is a URL; only site storage is reachable")
    return reads


def _files(view: AdView, iwd: str, warnings: list[str]) -> tuple[Extension, ...]:
    """Every other file the job or the bridge reads or writes for it, for the site policy to check:
    transfer_input_files, the user log (the bridge writes it), transfer_output_remaps targets and
    what file transfer writes back, and what expanding the description read."""
    reads = _inputs(view)
    if reads and not _transfers(view):
        warnings.append("transfer_input_files: should_transfer_files is not YES; the job reads site storage in place")
    writes = [log] if (log := view.text("UserLog")) else []
    writes += [target for _, target in _remaps(view) if "://" not in target]
    if _transfers(view):
        writes += [iwd, *(posixpath.basename(n) for n in _listed(view.text("TransferOutput")))]
    made = [(READS, p) for p in [*reads, *view.reads]] + [(WRITES, p) for p in writes]
    return tuple(Extension(source=Source.HTCONDOR, name=n, value=normalise(p, iwd)) for n, p in made)


def _output_name(name: str) -> str:
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "://" in name:
        raise TranslationError(f"transfer_output_files: {name!r} must name a file in the job's scratch directory")
    return name


def _transfer(view: AdView, payload: Command, iwd: str) -> FileTransfer | None:
    """What file transfer copies in and out, made absolute against Iwd (None: nothing transferred)."""
    if not _transfers(view):
        return None
    inputs = [normalise(p, iwd) + ("/" if p.endswith("/") else "") for p in _inputs(view)]
    if not payload.in_image and payload.executable not in inputs:
        inputs.insert(0, payload.executable)  # the starter transfers the executable too
    outputs = view.text("TransferOutput")
    remaps = _remaps(view)
    for _, target in remaps:
        if "://" in target:
            raise TranslationError(f"transfer_output_remaps: {target!r} is a URL; only site storage is reachable")
    return FileTransfer(
        inputs=tuple(inputs),
        outputs=None if outputs is None else tuple(_output_name(n) for n in _listed(outputs)),
        remaps=tuple((name, normalise(target, iwd)) for name, target in remaps),
    )


def _streams(view: AdView) -> IOSpec:
    """stdin/stdout/stderr; with file transfer, a remapped stream goes straight to its target."""
    remap = dict(_remaps(view)) if _transfers(view) else {}

    def out(key: str) -> PathTemplate | None:
        stream = _stream(view, key)
        if stream is None or not stream.is_literal:
            return stream
        return PathTemplate.literal(remap.get(stream.render({}), stream.render({})))

    return IOSpec(stdin=_stream(view, "In"), stdout=out("Out"), stderr=out("Err"), open_mode=OpenMode.TRUNCATE)


def _payload(view: AdView, cmd: str, iwd: str, warnings: list[str]) -> Command:
    executable = posixpath.join(iwd, cmd)
    in_image = view.values.get("TransferExecutable") is False  # transfer_executable = false
    if not in_image and executable.startswith(SYSTEM_PREFIXES):
        in_image = True
        warnings.append(f"executable {executable} is a system program: the image's copy runs")
    return Command(executable=executable, args=_arguments(view), in_image=in_image)


def to_ir(view: AdView, ctx: AdContext, settings: CondorSettings | None = None) -> BatchJob:
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
    warnings: list[str] = list(view.warnings)
    payload = _payload(view, cmd, iwd, warnings)
    limit = _int(view, "AllowedExecuteDuration")
    qdate = _int(view, "QDate")
    return BatchJob(
        source=Source.HTCONDOR,
        source_id=f"{cluster_id}.{proc_id}",
        # A schedd's QDate; the translator's placeholder (1, no schedd involved) is no submit time.
        submit_time=datetime.fromtimestamp(qdate, UTC) if qdate and 1 < qdate < 2**32 else None,
        cluster=ctx.cluster,
        name=view.text("JobBatchName") or posixpath.basename(cmd) or "job",
        identity=ctx.identity,
        account=view.text("AcctGroup") or view.text("AccountingGroup"),
        priority=_int(view, "JobPrio"),
        resources=_resources(view, settings),
        time_limit_s=limit if limit and limit > 0 else None,
        payload=payload,
        environment=_environment(view),
        working_dir=posixpath.normpath(iwd),
        submit_dir=ctx.submit_dir or iwd,
        io=_streams(view),
        image=_image(view),
        transfer=_transfer(view, payload, iwd),
        extensions=_files(view, iwd, warnings),
        warnings=tuple(warnings),
    )
