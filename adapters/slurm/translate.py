"""sbatch script + options + environment -> BatchJob (the IR).

Precedence is sbatch's: command line > SBATCH_* environment > #SBATCH lines; within one source the
last occurrence wins. Each option converter is an entry in CONVERTERS; an option with no converter
is refused with the line it came from, or recorded as a warning when configured so.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from adapters.slurm import options as o
from adapters.slurm import script, values
from adapters.slurm.patterns import PatternContext, expand
from adapters.slurm.settings import SlurmSettings
from bridge.domain.errors import TranslationError
from bridge.domain.ir import (
    ArraySpec,
    BatchJob,
    Dependencies,
    Environment,
    ExportMode,
    Extension,
    GpuRequest,
    GpuScope,
    Identity,
    IOSpec,
    OpenMode,
    Resources,
    Script,
    Signal,
    Source,
)
from bridge.domain.jobenv import valid_env_name
from bridge.domain.policy import DEFAULT_ENV_DENYLIST, normalise

ALWAYS_REFUSED = frozenset({"uid", "gid"})


@dataclass(frozen=True)
class SubmitContext:
    """What the batch system knows about a submission besides the script and its options.

    ``now`` is the submission time (relative ``--begin`` resolves against it): required and
    timezone-aware, so no caller can fall back on a default clock (the epoch, or the host's).
    """

    identity: Identity
    job_id: str
    submit_dir: str
    cluster: str
    now: datetime
    script_name: str = "sbatch"
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("SubmitContext.now must be timezone-aware (e.g. datetime.now().astimezone())")


@dataclass
class _Acc:
    """Values gathered from the options, before the IR is built."""

    settings: SlurmSettings
    now: datetime
    job_name: str | None = None
    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    time_limit_s: int | None = None
    cpus_per_task: int = 1
    ntasks: int | None = None
    ntasks_per_node: int | None = None
    nodes: tuple[int, int | None] = (1, None)
    memory: dict[str, int] = field(default_factory=dict)
    gpus: dict[str, GpuRequest | None] = field(default_factory=dict)
    tmp_mib: int | None = None
    features: tuple[str, ...] = ()
    exclusive: bool = False
    output: str | None = None
    error: str | None = None
    input: str | None = None
    chdir: str | None = None
    export: str = "ALL"
    array: ArraySpec | None = None
    dependencies: Dependencies = field(default_factory=Dependencies)
    begin: datetime | None = None
    requeue: bool = False
    signal: Signal | None = None
    open_mode: OpenMode = OpenMode.TRUNCATE
    comment: str | None = None
    warnings: list[str] = field(default_factory=list)
    extensions: dict[str, str] = field(default_factory=dict)


def _one_partition(value: str) -> str:
    if "," in value:
        raise TranslationError(f"a bridged job must name one partition, not a list ({value!r})")
    return value


def _partition(acc: _Acc) -> str:
    """The job's partition, which must be one the configuration bridges to Kubernetes."""
    bridged = acc.settings.partitions
    names = ", ".join(bridged)
    chosen = acc.partition or acc.settings.default_partition
    if chosen is None:
        raise TranslationError(
            f"the job names no partition, so Slurm runs it in its default partition, which is not bridged: "
            f"add --partition={bridged[0]} (bridged to Kubernetes: {names})"
        )
    if chosen not in bridged:
        raise TranslationError(f"partition {chosen!r} is not bridged to Kubernetes (bridged: {names})")
    return chosen


def _memory(acc: _Acc, form: str, value: str, option: str) -> None:
    mib = values.size_mib(value, option, allow_zero=form == "per_node")
    if mib == 0:  # --mem=0: all the memory of the node, in Slurm
        whole = acc.settings.whole_node_memory_mib
        if whole is None:
            raise values.bad(option, value, "--mem=0 (all of a node's memory) is not configured here: ask for a size")
        acc.warnings.append(f"--mem=0: the job gets {whole} MiB, the largest node memory configured for Kubernetes")
        mib = whole
    acc.memory[form] = mib


def _features(value: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in value.split("&"))
    if any(not p or not p.replace("-", "").replace("_", "").replace(".", "").isalnum() for p in parts):
        raise TranslationError(f"constraint {value!r}: only FEATURE or A&B&... is supported")
    return parts


def _open_mode(value: str) -> OpenMode:
    try:
        return OpenMode(value.strip().lower())
    except ValueError:
        raise TranslationError(f"invalid --open-mode {value!r}: use append or truncate") from None


def _exclusive(acc: _Acc, value: str | None) -> None:
    acc.exclusive = True
    acc.warnings.append("--exclusive: Kubernetes pods share nodes; the job gets only what it requests")


Converter = Callable[[_Acc, str], None]

CONVERTERS: dict[str, Converter] = {
    "job_name": lambda a, v: setattr(a, "job_name", v),
    "account": lambda a, v: setattr(a, "account", v),
    "partition": lambda a, v: setattr(a, "partition", _one_partition(v)),
    "qos": lambda a, v: setattr(a, "qos", v),
    "time": lambda a, v: setattr(a, "time_limit_s", values.time_limit(v)),
    "cpus_per_task": lambda a, v: setattr(a, "cpus_per_task", values.positive(v, "--cpus-per-task")),
    "ntasks": lambda a, v: setattr(a, "ntasks", values.positive(v, "--ntasks")),
    "ntasks_per_node": lambda a, v: setattr(a, "ntasks_per_node", values.positive(v, "--ntasks-per-node")),
    "nodes": lambda a, v: setattr(a, "nodes", values.node_range(v)),
    "mem": lambda a, v: _memory(a, "per_node", v, "--mem"),
    "mem_per_cpu": lambda a, v: _memory(a, "per_cpu", v, "--mem-per-cpu"),
    "mem_per_gpu": lambda a, v: _memory(a, "per_gpu", v, "--mem-per-gpu"),
    "gres": lambda a, v: a.gpus.update({"gres": values.gres_spec(v)}),
    "gpus": lambda a, v: a.gpus.update({"gpus": values.gpu_spec(v, "--gpus", GpuScope.JOB)}),
    "gpus_per_node": lambda a, v: a.gpus.update({"per_node": values.gpu_spec(v, "--gpus-per-node", GpuScope.NODE)}),
    "gpus_per_task": lambda a, v: a.gpus.update({"per_task": values.gpu_spec(v, "--gpus-per-task", GpuScope.TASK)}),
    "tmp": lambda a, v: setattr(a, "tmp_mib", values.size_mib(v, "--tmp")),
    "constraint": lambda a, v: setattr(a, "features", _features(v)),
    "exclusive": _exclusive,
    "output": lambda a, v: setattr(a, "output", v),
    "error": lambda a, v: setattr(a, "error", v),
    "input": lambda a, v: setattr(a, "input", v),
    "chdir": lambda a, v: setattr(a, "chdir", v),
    "export": lambda a, v: setattr(a, "export", v),
    "array": lambda a, v: setattr(a, "array", values.array_spec(v, a.settings.max_array_size)),
    "dependency": lambda a, v: setattr(a, "dependencies", values.dependencies(v)),
    "begin": lambda a, v: setattr(a, "begin", values.begin_time(v, a.now)),
    "requeue": lambda a, v: setattr(a, "requeue", True),
    "no_requeue": lambda a, v: setattr(a, "requeue", False),
    "signal": lambda a, v: setattr(a, "signal", values.signal_spec(v)),
    "open_mode": lambda a, v: setattr(a, "open_mode", _open_mode(v)),
    "comment": lambda a, v: setattr(a, "comment", v),
}


def _apply(acc: _Acc, parsed: o.Parsed, where: str, source: str, line: int | None) -> None:
    opt = parsed.opt
    if opt.dest == o.CLIENT_ONLY:
        return
    if opt.dest == o.KEEP:
        acc.extensions[opt.long] = parsed.value or ""
        return
    if opt.dest == o.WARN:
        acc.warnings.append(f"--{opt.long} ({where}): no mail is sent for jobs run on Kubernetes")
        acc.extensions[opt.long] = parsed.value or ""  # kept: the batch side may still mail
        return
    converter = CONVERTERS.get(opt.dest or "")
    if converter is None:
        why = f": {opt.why}" if opt.why else ""
        message = f"option --{opt.long} ({where}) is not supported by batch-bridge{why}"
        if acc.settings.unknown_options == "warn" and opt.long not in ALWAYS_REFUSED:
            acc.warnings.append(message + "; ignored")
            return
        raise TranslationError(message, source=source, line=line)
    try:
        converter(acc, parsed.value or "")
    except TranslationError as exc:
        raise exc.at(source, line) from None


def _apply_words(acc: _Acc, words: Sequence[str], where: str, source: str, line: int | None) -> None:
    try:
        parsed = list(o.tokenize(words))
    except TranslationError as exc:
        if acc.settings.unknown_options == "warn" and "unexpected argument" not in exc.message:
            acc.warnings.append(f"{exc.message} ({where}); ignored")
            return
        raise exc.at(source, line) from None
    for item in parsed:
        _apply(acc, item, where, source, line)


def bridge_image(directives: Sequence[script.Directive], source: str) -> str | None:
    """The image named by ``#BRIDGE --image=...`` lines (the last wins), or None. Only the directive's
    shape is checked here: the reference grammar, normalisation and allow-list are the site policy's
    (``bridge.domain.policy.resolve_image``), the same for every front door."""
    image: str | None = None
    for d in directives:
        words = list(d.words)
        while words:
            word = words.pop(0)
            if word.startswith("--image="):
                image = word.removeprefix("--image=")
            elif word == "--image" and words:
                image = words.pop(0)
            else:
                raise TranslationError(
                    f"unknown #BRIDGE option {word!r} (known: --image=IMAGE)", source=source, line=d.line
                )
            if not image:
                raise TranslationError("#BRIDGE --image needs a value", source=source, line=d.line)
    return image


def _environment(acc: _Acc, caller: Mapping[str, str], denylist: Sequence[str]) -> Environment:
    """Inherited variables the site forbids are dropped with a warning; explicit NAME=value ones
    reach the IR as written and the site policy refuses forbidden ones (as for HTCondor)."""
    items = [i.strip() for i in acc.export.split(",") if i.strip()]
    words = {i.upper() for i in items if "=" not in i}
    mode = (
        ExportMode.ALL
        if "ALL" in words
        else ExportMode.NONE
        if ("NONE" in words or "NIL" in words)
        else ExportMode.LISTED
    )
    deny = set(denylist)
    chosen: dict[str, str] = {}
    inherited = (
        sorted(caller)
        if mode is ExportMode.ALL
        else [i for i in items if "=" not in i and i.upper() not in ("ALL", "NONE", "NIL")]
    )
    for name in inherited:
        if name not in caller:
            continue
        if name in deny:
            acc.warnings.append(f"--export: {name} from the submit environment is not passed to the job")
        elif _encodable(name, caller[name]):
            chosen[name] = caller[name]
        else:
            acc.warnings.append(f"--export: {name!r} from the submit environment is not a valid variable; not passed")
    for item in items:
        name, eq, value = item.partition("=")
        if eq:
            if not name or not _encodable(name, value):
                raise TranslationError(f"--export: {item!r} is not a valid NAME=value")
            chosen[name] = value
    return Environment(export=mode, variables=tuple(chosen.items()))


def _encodable(name: str, value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return valid_env_name(name) and "\0" not in value


def _gpus(acc: _Acc) -> GpuRequest | None:
    given = {k: v for k, v in acc.gpus.items() if v is not None}
    if len(given) > 1:
        raise TranslationError("give GPUs one way only: --gres=gpu, --gpus, --gpus-per-node or --gpus-per-task")
    return next(iter(given.values()), None)


def _resources(acc: _Acc) -> Resources:
    if len(acc.memory) > 1:
        raise TranslationError("--mem, --mem-per-cpu and --mem-per-gpu are mutually exclusive")
    nodes_min, nodes_max = acc.nodes
    tasks = acc.ntasks or (acc.ntasks_per_node or 1) * nodes_min
    return Resources(
        cpus_per_task=acc.cpus_per_task,
        tasks=tasks,
        tasks_per_node=acc.ntasks_per_node,
        nodes_min=nodes_min,
        nodes_max=nodes_max,
        memory_per_node_mib=acc.memory.get("per_node"),
        memory_per_cpu_mib=acc.memory.get("per_cpu"),
        memory_per_gpu_mib=acc.memory.get("per_gpu"),
        gpus=_gpus(acc),
        ephemeral_disk_mib=acc.tmp_mib,
        features=acc.features,
        exclusive=acc.exclusive,
    )


def wrap_script(command: str) -> str:
    """The script sbatch 24.11 writes for ``--wrap=COMMAND`` (byte for byte)."""
    return f"#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{command}\n"


def _wrapped(argv: Sequence[str]) -> str | None:
    try:
        parsed = list(o.tokenize(argv))
    except TranslationError:
        return None  # reported with its position when the command line is applied
    commands = [p.value or "" for p in parsed if p.opt.long == "wrap"]
    return wrap_script(commands[-1]) if commands else None


def translate(
    body: str,
    ctx: SubmitContext,
    argv: Sequence[str] = (),
    script_args: Sequence[str] = (),
    settings: SlurmSettings | None = None,
    env_denylist: Sequence[str] = DEFAULT_ENV_DENYLIST,
) -> BatchJob:
    """The IR of one sbatch submission; raises TranslationError (with file and line) on bad input.

    ``env_denylist`` (the site's) names the inherited variables to drop with a warning; explicit
    ones are refused by the site policy, which every job passes before any object is built."""
    settings = settings or SlurmSettings()
    source = ctx.script_name
    body = _wrapped(argv) or body  # --wrap: sbatch ignores any script file and writes its own
    try:
        directives = script.read(body)
    except TranslationError as exc:
        raise exc.at(source) from None
    acc = _Acc(settings=settings, now=ctx.now, warnings=list(directives.warnings))
    for d in directives.sbatch:
        _apply_words(acc, d.words, f"line {d.line}", source, d.line)
    for name in sorted(k for k in ctx.environment if k in o.BY_ENV):
        opt = o.BY_ENV[name]
        _apply(acc, o.Parsed(opt, ctx.environment[name], name), f"environment {name}", source, None)
    _apply_words(acc, argv, "command line", source, None)
    try:
        return _build(acc, body, directives, ctx, script_args, env_denylist, source)
    except TranslationError as exc:
        raise exc.at(source) from None


def _build(
    acc: _Acc,
    body: str,
    directives: script.ScriptDirectives,
    ctx: SubmitContext,
    script_args: Sequence[str],
    env_denylist: Sequence[str],
    source: str,
) -> BatchJob:
    name = acc.job_name or posixpath.basename(ctx.script_name) or "sbatch"
    workdir = normalise(acc.chdir, ctx.submit_dir) if acc.chdir else normalise(".", ctx.submit_dir)
    is_array = acc.array is not None
    pctx = PatternContext(job_id=ctx.job_id, user=ctx.identity.user, job_name=name, is_array=is_array)
    default_out = "slurm-%A_%a.out" if is_array else "slurm-%j.out"
    io = IOSpec(
        stdin=expand(acc.input, pctx) if acc.input else None,
        stdout=expand(acc.output or default_out, pctx),
        stderr=expand(acc.error, pctx) if acc.error else None,
        open_mode=acc.open_mode,
    )
    environment = _environment(acc, ctx.environment, env_denylist)
    return BatchJob(
        source=Source.SLURM,
        source_id=ctx.job_id,
        cluster=ctx.cluster,
        name=name,
        identity=ctx.identity,
        account=acc.account,
        queue=_partition(acc),
        qos=acc.qos,
        resources=_resources(acc),
        time_limit_s=acc.time_limit_s,
        payload=Script(body=body, interpreter=directives.interpreter, args=tuple(script_args)),
        environment=environment,
        working_dir=workdir,
        submit_dir=ctx.submit_dir,
        io=io,
        array=acc.array,
        dependencies=acc.dependencies,
        begin_time=acc.begin,
        requeue=acc.requeue,
        signal=acc.signal,
        image=bridge_image(directives.bridge, source),
        comment=acc.comment,
        extensions=tuple(Extension(source=Source.SLURM, name=k, value=v) for k, v in acc.extensions.items()),
        warnings=tuple(acc.warnings),
    )
