"""The one intermediate representation of a batch job.

Every adapter translates *into* these models and every builder reads *from* them; nothing translates
Slurm or HTCondor to Kubernetes directly. All models are frozen and refuse unknown fields.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class Model(BaseModel):
    """Base: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(StrEnum):
    """Which front door a job came through."""

    SLURM = "slurm"
    HTCONDOR = "htcondor"
    SDK = "sdk"


class Identity(Model):
    """Who runs the job. Only ever filled from the batch system's authenticated record."""

    user: str = Field(min_length=1, description="Login name of the submitter.")
    uid: NonNegativeInt
    gid: NonNegativeInt
    groups: tuple[NonNegativeInt, ...] = Field(default=(), description="Supplementary gids.")
    home: str | None = Field(default=None, description="Home directory from NSS (the pod's HOME and passwd entry).")
    shell: str | None = Field(default=None, description="Login shell from NSS (the pod's passwd entry).")
    group_names: tuple[tuple[NonNegativeInt, str], ...] = Field(
        default=(), description="(gid, name) of the primary and supplementary groups, for the pod's group file."
    )


class GpuScope(StrEnum):
    """What a GPU count is counted per."""

    JOB = "job"
    NODE = "node"
    TASK = "task"


class GpuRequest(Model):
    count: PositiveInt
    type: str | None = Field(default=None, description="Model name such as a100, or None for any.")
    per: GpuScope = GpuScope.NODE


class Resources(Model):
    """What one job asks for. Memory in MiB; at most one of the memory fields is set."""

    cpus_per_task: PositiveInt = 1
    tasks: PositiveInt = 1
    tasks_per_node: PositiveInt | None = None
    nodes_min: PositiveInt = 1
    nodes_max: PositiveInt | None = None
    memory_per_node_mib: PositiveInt | None = None
    memory_per_cpu_mib: PositiveInt | None = None
    memory_per_gpu_mib: PositiveInt | None = None
    gpus: GpuRequest | None = None
    ephemeral_disk_mib: PositiveInt | None = None
    features: tuple[str, ...] = Field(default=(), description="Node features that must all be present.")
    exclusive: bool = False

    @model_validator(mode="after")
    def _one_memory_form(self) -> Resources:
        forms = [self.memory_per_node_mib, self.memory_per_cpu_mib, self.memory_per_gpu_mib]
        if sum(f is not None for f in forms) > 1:
            raise ValueError("memory per node, per cpu and per gpu are mutually exclusive")
        if self.nodes_max is not None and self.nodes_max < self.nodes_min:
            raise ValueError("nodes_max < nodes_min")
        return self


class Script(Model):
    """A batch script carried inline (Slurm, SDK)."""

    kind: Literal["script"] = "script"
    body: str
    interpreter: tuple[str, ...] = Field(description="From the shebang: path and optional argument.")
    args: tuple[str, ...] = ()


class Command(Model):
    """An executable on site storage plus its arguments (HTCondor, SDK)."""

    kind: Literal["command"] = "command"
    executable: str
    args: tuple[str, ...] = ()
    in_image: bool = Field(default=False, description="The executable is a file of the image, not of site storage.")


Payload = Annotated[Script | Command, Field(discriminator="kind")]


class ExportMode(StrEnum):
    """Which of the submitter's variables reach the job (Slurm --export semantics)."""

    ALL = "all"
    NONE = "none"
    LISTED = "listed"


class Environment(Model):
    """The resolved variables to set in the job, and how they were chosen (for the record)."""

    export: ExportMode = ExportMode.NONE
    variables: tuple[tuple[str, str], ...] = ()


class OpenMode(StrEnum):
    TRUNCATE = "truncate"
    APPEND = "append"


class Placeholder(StrEnum):
    """Parts of an output path known only where the job runs."""

    ARRAY_TASK_ID = "array_task_id"
    NODE_NAME = "node_name"


class PathField(Model):
    field: Placeholder
    width: NonNegativeInt = 0


PathPart = str | PathField


class PathTemplate(Model):
    """A file path as literal text and run-time placeholders (e.g. the array task id)."""

    parts: tuple[PathPart, ...]

    @classmethod
    def literal(cls, path: str) -> PathTemplate:
        return cls(parts=(path,))

    def render(self, values: dict[Placeholder, str]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(values[part.field].zfill(part.width))
        return "".join(out)

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)


class IOSpec(Model):
    """Standard streams. ``stderr=None`` means joined with stdout; ``stdin=None`` is /dev/null."""

    stdin: PathTemplate | None = None
    stdout: PathTemplate | None = None
    stderr: PathTemplate | None = None
    open_mode: OpenMode = OpenMode.TRUNCATE


class ArraySpec(Model):
    indexes: tuple[NonNegativeInt, ...] = Field(min_length=1)
    throttle: PositiveInt | None = None

    @model_validator(mode="after")
    def _sorted_unique(self) -> ArraySpec:
        if list(self.indexes) != sorted(set(self.indexes)):
            raise ValueError("array indexes must be sorted and unique")
        return self

    @property
    def progression(self) -> tuple[int, int] | None:
        """(start, step) when the indexes are an arithmetic progression, else None."""
        idx = self.indexes
        step = idx[1] - idx[0] if len(idx) > 1 else 1
        return (idx[0], step) if all(b - a == step for a, b in pairwise(idx)) else None


class DependencyKind(StrEnum):
    AFTER = "after"
    AFTER_ANY = "afterany"
    AFTER_OK = "afterok"
    AFTER_NOT_OK = "afternotok"
    AFTER_CORR = "aftercorr"
    SINGLETON = "singleton"


class Dependency(Model):
    kind: DependencyKind
    job_ids: tuple[str, ...] = ()


class Dependencies(Model):
    """``all_of=True``: every item must hold (Slurm ``,``); else any one (Slurm ``?``)."""

    items: tuple[Dependency, ...] = ()
    all_of: bool = True


class Signal(Model):
    """Send ``name`` ``seconds_before`` the time limit; ``batch_only``: to the script only."""

    name: str
    seconds_before: NonNegativeInt = 60
    batch_only: bool = False


class FileTransfer(Model):
    """HTCondor's file transfer (should_transfer_files = YES), done inside the pod: the job runs in
    its scratch directory with copies of ``inputs``; when it exits, ``outputs`` (None: each file it
    made or changed at the top of that directory) go to the working directory, or where ``remaps``
    sends them."""

    inputs: tuple[str, ...] = Field(
        default=(), description="Absolute paths; one ending in '/' copies a directory's contents, not the directory."
    )
    outputs: tuple[str, ...] | None = Field(default=None, description="Names relative to the scratch directory.")
    remaps: tuple[tuple[str, str], ...] = Field(default=(), description="(name, absolute destination) pairs.")


class Extension(Model):
    """Typed escape hatch for a scheduler-specific field the IR has no place for."""

    source: Source
    name: str
    value: str | int | float | bool


class BatchJob(Model):
    """One batch job (or one array of them, or one task of an array), independent of where it came from."""

    source: Source
    source_id: str = Field(description="The batch system's id: Slurm job id, HTCondor cluster.proc.")
    submit_time: datetime | None = Field(default=None, description="When the batch system accepted the job.")
    cluster: str = Field(description="Name of the batch cluster / pool.")
    name: str
    identity: Identity
    account: str | None = None
    queue: str | None = Field(default=None, description="Slurm partition or HTCondor queue label.")
    qos: str | None = None
    priority: int | None = None
    resources: Resources = Resources()
    time_limit_s: PositiveInt | None = None
    payload: Payload
    environment: Environment = Environment()
    working_dir: str
    submit_dir: str
    io: IOSpec = IOSpec()
    array: ArraySpec | None = None
    array_task: NonNegativeInt | None = Field(
        default=None, description="This job is the one task of ``array`` with this index (its own batch job id)."
    )
    array_job_id: str | None = Field(default=None, description="The array's id when this job is one of its tasks.")
    dependencies: Dependencies = Dependencies()
    begin_time: datetime | None = None
    requeue: bool = False
    signal: Signal | None = None
    image: str | None = None
    transfer: FileTransfer | None = Field(default=None, description="Files copied in and out (HTCondor).")
    comment: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    extensions: tuple[Extension, ...] = ()
    warnings: tuple[str, ...] = Field(default=(), description="Accepted with a recorded caveat.")
