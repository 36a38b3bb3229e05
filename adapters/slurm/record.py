"""A slurmctld job record (OpenAPI v0.0.42 ``job_info``) -> the IR.

The record is authoritative for everything it holds: user and uid/gid, partition, account, QOS,
resources as slurmctld stored them (site defaults such as DefMemPerCPU applied), time limit, working
directory, array, dependencies, requeue, comment, submit time. What it lacks comes from the payload
job_submit.lua left in the job's Extra field (the submitted script, its arguments, the user's own
-o/-e/-i patterns) and from the script's own directives, read by the same translator `batch-bridge
translate` uses (open mode, --signal, #BRIDGE image). Refusals are the translator's TranslationErrors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.slurm import values
from adapters.slurm.marker import PAYLOAD_HEAD
from adapters.slurm.patterns import PatternContext, expand
from adapters.slurm.settings import SlurmSettings
from adapters.slurm.translate import SubmitContext, translate
from bridge.domain.errors import TranslationError
from bridge.domain.ir import (
    ArraySpec,
    BatchJob,
    Dependencies,
    GpuRequest,
    GpuScope,
    Identity,
    IOSpec,
    PathTemplate,
    Resources,
    Script,
)

Record = Mapping[str, Any]
_GRES_GPU = re.compile(r"^gres/gpu(?::([A-Za-z0-9_.-]+))?:(\d+)$")
_DEP_STATE = re.compile(r"\([a-z_]+\)")


@dataclass(frozen=True)
class Payload:
    """What job_submit.lua kept for the daemon (see adapters/slurm/site/job_submit.lua)."""

    script: str
    args: tuple[str, ...] = ()
    stdout: str | None = None
    stderr: str | None = None
    stdin: str | None = None
    submit_dir: str | None = None


def _unhex(text: str) -> str:
    return bytes.fromhex(text).decode("utf-8", errors="surrogateescape")


def payload_text(rec: Mapping[str, Any]) -> str | None:
    """Where job_submit.lua put the payload: Extra, or (too big for Extra) AdminComment after the marker."""
    extra = rec.get("extra")
    if isinstance(extra, str) and extra.startswith(PAYLOAD_HEAD):
        return extra
    _, sep, tail = str(rec.get("admin_comment") or "").partition("\n" + PAYLOAD_HEAD)
    return PAYLOAD_HEAD + tail if sep else None


def parse_payload(extra: str | None) -> Payload | None:
    if not extra or not extra.startswith(PAYLOAD_HEAD):
        return None
    head, _, rest = extra.partition("\n")
    fields = dict(item.partition("=")[::2] for item in head[len(PAYLOAD_HEAD) :].split())
    try:
        count = int(fields.get("args", "0"))
        lines = rest.split("\n", count) if count else ["", rest]
        args = tuple(_unhex(a) for a in lines[:count])
        script = lines[count] if count else rest
        streams = {k: _unhex(fields[k]) or None for k in ("out", "err", "in", "dir") if k in fields}
    except ValueError:
        return None
    return Payload(script, args, streams.get("out"), streams.get("err"), streams.get("in"), streams.get("dir"))


def number(field: Any) -> int | None:
    """A v0.0.42 ``{set, infinite, number}`` value; None when unset or infinite."""
    if isinstance(field, int):
        return field
    if not isinstance(field, Mapping) or not field.get("set") or field.get("infinite"):
        return None
    return int(field.get("number", 0))


def base_state(rec: Record) -> str:
    states = rec.get("job_state") or ["PENDING"]
    return str(states[0]) if isinstance(states, list) else str(states)


def _gpus(rec: Record) -> GpuRequest | None:
    for key, per in (
        ("tres_per_node", GpuScope.NODE),
        ("tres_per_job", GpuScope.JOB),
        ("tres_per_task", GpuScope.TASK),
    ):
        for item in str(rec.get(key) or "").split(","):
            m = _GRES_GPU.match(item.strip())
            if m:
                return GpuRequest(count=int(m.group(2)), type=m.group(1), per=per)
    return None


def _memory(rec: Record) -> dict[str, int]:
    per_node, per_cpu = number(rec.get("memory_per_node")), number(rec.get("memory_per_cpu"))
    per_gpu = re.match(r"^gres/gpu:(\d+)$", str(rec.get("memory_per_tres") or ""))
    if per_gpu:
        return {"memory_per_gpu_mib": int(per_gpu.group(1))}
    if per_node:
        return {"memory_per_node_mib": per_node}
    if per_cpu:
        return {"memory_per_cpu_mib": per_cpu}
    return {}


def resources(rec: Record, base: Resources) -> Resources:
    features = tuple(f for f in str(rec.get("features") or "").split("&") if f)
    return Resources(
        cpus_per_task=number(rec.get("cpus_per_task")) or 1,
        tasks=number(rec.get("tasks")) or 1,
        tasks_per_node=number(rec.get("tasks_per_node")) or base.tasks_per_node,
        nodes_min=number(rec.get("node_count")) or 1,
        nodes_max=base.nodes_max,
        gpus=_gpus(rec),
        ephemeral_disk_mib=number(rec.get("minimum_tmp_disk_per_node")) or None,
        features=features,
        exclusive=base.exclusive,
        **_memory(rec),
    )


def array(rec: Record, max_size: int) -> ArraySpec | None:
    text = str(rec.get("array_task_string") or "")
    if not text:
        return None
    spec = values.array_spec(text.partition("%")[0], max_size)
    throttle = number(rec.get("array_max_tasks")) or None
    return ArraySpec(indexes=spec.indexes, throttle=throttle)


def array_task(rec: Record) -> int | None:
    """The index of a task split out of its array (it has a job id of its own), else None."""
    if rec.get("array_task_string") or not number(rec.get("array_job_id")):
        return None
    return number(rec.get("array_task_id"))


def dependencies(rec: Record, base: Dependencies) -> Dependencies:
    text = _DEP_STATE.sub("", str(rec.get("dependency") or "")).strip()
    if not text:
        return base
    try:
        return values.dependencies(text)
    except TranslationError:
        return base


def _time(field: Any) -> datetime | None:
    value = number(field)
    return datetime.fromtimestamp(value, UTC) if value else None


def to_ir(
    rec: Record,
    payload: Payload,
    identity: Identity,
    settings: SlurmSettings,
    cluster: str,
    now: datetime,
    begin: datetime | None = None,
    array_indexes: str = "",
) -> BatchJob:
    """The IR of one bridged job (an array, or one task of it) from its record; raises TranslationError."""
    task = array_task(rec)
    array_id = str(number(rec.get("array_job_id")) or rec["job_id"])
    job_id = str(rec["job_id"]) if task is not None else array_id
    name, workdir = str(rec.get("name") or "sbatch"), str(rec.get("current_working_directory") or "/")
    ctx = SubmitContext(
        identity=identity,
        job_id=job_id,
        submit_dir=payload.submit_dir or workdir,
        cluster=cluster,
        script_name=str(rec.get("command") or name),
        now=now,
    )
    # The script's directives, with the record's partition standing in for the command line's.
    base = translate(payload.script, ctx, ["--partition", str(rec["partition"])], payload.args, settings)
    arr = array(rec, settings.max_array_size)
    if task is not None:  # the whole array's indexes (kept in the marker, or the script's), else this one
        whole = values.array_spec(array_indexes, settings.max_array_size) if array_indexes else base.array
        known = whole.indexes if whole is not None and task in whole.indexes else (task,)
        arr = ArraySpec(indexes=known, throttle=number(rec.get("array_max_tasks")) or None)
    pctx = PatternContext(job_id=job_id, user=identity.user, job_name=name, is_array=arr is not None, array_id=array_id)

    def stream(pattern: str) -> PathTemplate:
        # sbatch made a relative -o/-e/-i absolute against the working directory; keep the user's form.
        prefix = workdir.rstrip("/") + "/"
        return expand(pattern[len(prefix) :] if pattern.startswith(prefix) else pattern, pctx)

    default_out = "slurm-%A_%a.out" if arr is not None else "slurm-%j.out"
    io = IOSpec(
        stdin=stream(payload.stdin) if payload.stdin and payload.stdin != "/dev/null" else None,
        stdout=stream(payload.stdout or default_out),
        stderr=stream(payload.stderr) if payload.stderr else None,
        open_mode=base.io.open_mode,
    )
    time_limit = number(rec.get("time_limit"))
    return base.model_copy(
        update={
            "source_id": job_id,
            "submit_time": _time(rec.get("submit_time")),
            "name": name,
            "account": rec.get("account") or None,
            "queue": str(rec["partition"]),
            "qos": rec.get("qos") or None,
            "resources": resources(rec, base.resources),
            "time_limit_s": time_limit * 60 if time_limit else None,
            "working_dir": workdir,
            "submit_dir": payload.submit_dir or workdir,
            "io": io,
            "array": arr,
            "array_task": task,
            "array_job_id": array_id if task is not None else None,
            "dependencies": dependencies(rec, base.dependencies),
            "begin_time": begin,
            "requeue": bool(rec.get("requeue")),
            "comment": rec.get("comment") or None,
            "payload": Script(body=payload.script, interpreter=_interpreter(base), args=payload.args),
        }
    )


def _interpreter(job: BatchJob) -> tuple[str, ...]:
    payload = job.payload
    return payload.interpreter if isinstance(payload, Script) else ("/bin/sh",)
