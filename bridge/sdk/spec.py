"""``JobSpec``: what to run and with what, checked when it is made, turned into the IR at submit.

A spec is frozen and backend-neutral. ``JobSpec.script(text, ...)`` runs a script (its shebang, or
``/bin/sh``); ``JobSpec.command([...])`` runs one program found on the image's PATH, its arguments
passed as they are (quoted into a ``/bin/sh`` script that only ``exec``s it: nothing is expanded).
Invalid values raise ``InvalidSpec`` naming each bad field. Who runs the job is not part of the spec:
the backend fills the identity from NSS for the calling user.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import Field, ValidationError, field_validator, model_validator

from bridge.domain.ir import (
    ArraySpec,
    BatchJob,
    Environment,
    ExportMode,
    GpuRequest,
    GpuScope,
    Identity,
    IOSpec,
    Model,
    PathField,
    PathPart,
    PathTemplate,
    Placeholder,
    Resources,
    Script,
    Source,
)
from bridge.domain.jobenv import valid_env_name
from bridge.domain.policy import normalise
from bridge.sdk.errors import InvalidSpec

_UNITS: Final = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_MEMORY = re.compile(r"^(\d+)\s*([KMGT]?)(i?B)?$", re.IGNORECASE)
_CLOCK = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")
_INDEX = re.compile(r"\{index(?::0(\d+)d?)?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
DEFAULT_SHELL: Final = "/bin/sh"


def memory_mib(value: int | str) -> int:
    """``2048`` (MiB), ``"512M"``, ``"2G"``, ``"2GiB"`` -> MiB."""
    if isinstance(value, int):
        return value
    match = _MEMORY.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a memory size (e.g. 512M, 2G)")
    number, unit = int(match.group(1)), match.group(2).upper()
    return max(1, int(number * _UNITS[unit]))


def seconds(value: int | float | timedelta | str) -> int:
    """``600``, ``timedelta(minutes=10)``, ``"10:00"``, ``"1-00:00:00"`` -> seconds."""
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, int | float):
        return int(value)
    match = _CLOCK.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration ([D-][HH:]MM:SS or seconds)")
    days, hours, minutes, secs = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + secs


def path_template(text: str) -> PathTemplate:
    """``/data/out-{index}.txt`` (or ``{index:03d}``) -> a PathTemplate with the array index field."""
    parts: list[PathPart] = []
    pos = 0
    for match in _INDEX.finditer(text):
        if match.start() > pos:
            parts.append(text[pos : match.start()])
        parts.append(PathField(field=Placeholder.ARRAY_TASK_ID, width=int(match.group(1) or 0)))
        pos = match.end()
    if pos < len(text) or not parts:
        parts.append(text[pos:])
    return PathTemplate(parts=tuple(parts))


def interpreter(body: str) -> tuple[str, ...]:
    first = body.split("\n", 1)[0]
    if not first.startswith("#!"):
        return (DEFAULT_SHELL,)
    words = first[2:].strip().split(None, 1)
    return tuple(words) if words else (DEFAULT_SHELL,)


PositiveInt = Annotated[int, Field(ge=1)]


class JobSpec(Model):
    """One job (or one array of them): payload, resources, image, files, environment."""

    name: str = Field(default="job", description="Job name (letters, digits, ._+-; at most 100).")
    body: str = Field(min_length=1, description="The script that runs (a command becomes a two-line script).")
    command_argv: tuple[str, ...] | None = Field(default=None, description="The argv, when made by command().")
    image: str | None = Field(default=None, description="Container image; the site default when unset.")
    cpus: PositiveInt = 1
    memory_mib: PositiveInt | None = Field(default=None, description="Memory of the job, MiB.")
    gpus: int = Field(default=0, ge=0)
    gpu_type: str | None = None
    time_limit_s: PositiveInt | None = None
    array: tuple[int, ...] | None = Field(default=None, description="Array indexes (sorted, unique, >= 0).")
    throttle: PositiveInt | None = Field(default=None, description="At most this many array tasks at once.")
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = Field(default=None, description="Absolute; the submitting directory when unset.")
    stdout: str | None = Field(default=None, description="Output file; {index} is the array index.")
    stderr: str | None = Field(default=None, description="Error file; joined with stdout when unset.")
    stdin: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    account: str | None = None
    queue: str | None = Field(default=None, description="Slurm partition / queue; the backend's default when unset.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use 1-100 letters, digits, '.', '_', '+' or '-', starting with a letter or digit")
        return value

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("contains a NUL byte")
        return value

    @field_validator("array")
    @classmethod
    def _array(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("an array needs at least one index")
            if min(value) < 0 or list(value) != sorted(set(value)):
                raise ValueError("indexes must be >= 0, sorted and unique")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for name, text in value:
            if not valid_env_name(name):
                raise ValueError(f"{name!r} is not a valid variable name")
            if "\0" in text:
                raise ValueError(f"the value of {name} contains a NUL byte")
        return value

    @field_validator("working_dir")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must be an absolute path")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> JobSpec:
        if self.throttle is not None and self.array is None:
            raise ValueError("throttle: only an array can be throttled")
        if self.gpu_type is not None and not self.gpus:
            raise ValueError("gpu_type: set gpus too")
        return self

    # --- constructors ------------------------------------------------------------------------------
    @classmethod
    def script(cls, text: str, **options: Any) -> JobSpec:
        """A job running ``text`` (with its shebang's interpreter, else /bin/sh). See ``build``."""
        return cls.build(body=text, **options)

    @classmethod
    def command(cls, argv: Sequence[str], **options: Any) -> JobSpec:
        """A job running ``argv`` (argv[0] from the image's PATH or an absolute path), unexpanded."""
        argv = tuple(argv)
        if not argv or not argv[0]:
            raise InvalidSpec({"command": "needs at least a program name"})
        body = f"#!{DEFAULT_SHELL}\nexec {' '.join(shlex.quote(a) for a in argv)}\n"
        program = argv[0].rsplit("/", 1)[-1]
        options.setdefault("name", program if _NAME.match(program) else "job")
        return cls.build(body=body, command_argv=argv, **options)

    @classmethod
    def build(
        cls,
        *,
        memory: int | str | None = None,
        time_limit: int | float | timedelta | str | None = None,
        array: Iterable[int] | None = None,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> JobSpec:
        """Validate everything; raise InvalidSpec with one message per bad field."""
        problems: dict[str, str] = {}
        conversions: tuple[tuple[str, str, Any, Any], ...] = (
            ("memory", "memory_mib", memory, memory_mib),
            ("time_limit", "time_limit_s", time_limit, seconds),
        )
        for key, field_name, value, convert in conversions:
            if value is not None:
                try:
                    fields[field_name] = convert(value)
                except (ValueError, TypeError) as exc:
                    problems[key] = str(exc)
        if array is not None:
            fields["array"] = tuple(array)
        fields["env"] = tuple(sorted((env or {}).items()))
        fields["labels"] = tuple(sorted((labels or {}).items()))
        try:
            spec = cls(**fields)
        except ValidationError as exc:
            problems.update(_problems(exc))
            raise InvalidSpec(problems) from None
        if problems:
            raise InvalidSpec(problems)
        return spec

    def with_options(self, **changes: Any) -> JobSpec:
        """A copy with some fields changed, validated again."""
        data = self.model_dump()
        data.update(changes)
        try:
            return type(self)(**data)
        except ValidationError as exc:
            raise InvalidSpec(_problems(exc)) from None

    # --- the IR ------------------------------------------------------------------------------------
    def to_ir(self, *, identity: Identity, source_id: str, cluster: str, cwd: str, queue: str | None) -> BatchJob:
        """The IR of this spec for one submission (the backend supplies identity and id)."""
        working_dir = normalise(self.working_dir or cwd, "/")
        gpus = GpuRequest(count=self.gpus, type=self.gpu_type, per=GpuScope.JOB) if self.gpus else None
        io = IOSpec(
            stdin=path_template(self.stdin) if self.stdin else None,
            stdout=path_template(self.stdout) if self.stdout else None,
            stderr=path_template(self.stderr) if self.stderr else None,
        )
        return BatchJob(
            source=Source.SDK,
            source_id=source_id,
            cluster=cluster,
            name=self.name,
            identity=identity,
            account=self.account,
            queue=self.queue or queue,
            resources=Resources(cpus_per_task=self.cpus, memory_per_node_mib=self.memory_mib, gpus=gpus),
            time_limit_s=self.time_limit_s,
            payload=Script(body=self.body, interpreter=interpreter(self.body)),
            environment=Environment(export=ExportMode.LISTED if self.env else ExportMode.NONE, variables=self.env),
            working_dir=working_dir,
            submit_dir=normalise(cwd, "/"),
            io=io,
            array=ArraySpec(indexes=self.array, throttle=self.throttle) if self.array else None,
            image=self.image,
            labels=self.labels,
        )


def _problems(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "spec"
        msg = err["msg"].removeprefix("Value error, ")
        if ":" in msg and loc == "spec":  # a model-level rule names its own field
            loc, msg = (s.strip() for s in msg.split(":", 1))
        out[loc] = msg
    return out
