"""``batch-bridge translate``: a batch script or submit description -> Kubernetes objects, offline."""

from __future__ import annotations

import os
import pwd
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.htcondor.ad import AdContext
from adapters.htcondor.translate import translate as translate_submit
from adapters.slurm.translate import SubmitContext
from adapters.slurm.translate import translate as translate_sbatch
from bridge.config.settings import BridgeSettings
from bridge.domain.errors import TranslationError
from bridge.domain.ir import BatchJob, Identity
from bridge.kube.objects import build_job


@dataclass(frozen=True)
class Request:
    path: Path
    kind: str  # "slurm" | "htcondor"
    identity: Identity
    job_id: str
    submit_dir: str
    now: datetime  # the submission time, timezone-aware: relative --begin resolves against it
    sbatch_args: Sequence[str] = ()
    script_args: Sequence[str] = ()
    environment: Mapping[str, str] | None = None


MAX_SOURCE_BYTES = 16 * 1024 * 1024  # above any front door's own limit: refused before reading it


def read_source(path: Path) -> str:
    """The file as its bytes say: no newline translation (sbatch refuses CR LF, so must we), and
    bytes that are not UTF-8 kept as surrogates for the front doors to refuse with a line number."""
    with path.open("rb") as source:
        data = source.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise TranslationError(f"{path}: larger than {MAX_SOURCE_BYTES} bytes; not read")
    return data.decode("utf-8", "surrogateescape")


def detect_kind(path: Path, text: str) -> str:
    """Slurm for scripts (``#!``), HTCondor for ``.sub``/``.submit``/``.condor`` or anything else."""
    if path.suffix in (".sub", ".submit", ".condor", ".jdl"):
        return "htcondor"
    return "slurm" if text.startswith("#!") else "htcondor"


def identity(user: str | None, uid: int | None, gid: int | None, groups: str | None) -> Identity:
    """From the flags; what is missing is looked up in NSS (as the bridge does with a batch record)."""
    try:
        entry = pwd.getpwnam(user) if user else pwd.getpwuid(uid if uid is not None else os.getuid())
    except KeyError:
        entry = None
    name = user or (entry.pw_name if entry else None)
    the_uid = uid if uid is not None else (entry.pw_uid if entry else None)
    the_gid = gid if gid is not None else (entry.pw_gid if entry else None)
    if name is None or the_uid is None or the_gid is None:
        raise TranslationError("unknown user: give --user, --uid and --gid")
    if groups is not None:
        extra = tuple(int(g) for g in groups.split(",") if g.strip())
    else:
        extra = tuple(sorted(set(os.getgrouplist(name, the_gid)) - {the_gid})) if entry else ()
    return Identity(user=name, uid=the_uid, gid=the_gid, groups=extra)


def to_jobs(req: Request, settings: BridgeSettings) -> list[BatchJob]:
    text = read_source(req.path)
    env = dict(req.environment or {})
    if req.kind == "slurm":
        ctx = SubmitContext(
            identity=req.identity,
            job_id=req.job_id,
            submit_dir=req.submit_dir,
            cluster=settings.cluster,
            script_name=str(req.path),
            environment=env,
            now=req.now,
        )
        return [
            translate_sbatch(text, ctx, req.sbatch_args, req.script_args, settings.slurm, settings.site.env_denylist)
        ]
    if not req.job_id.isdigit():
        raise TranslationError(f"HTCondor cluster id must be a number, not {req.job_id!r}")
    return translate_submit(
        text,
        AdContext(identity=req.identity, cluster=settings.cluster, submit_dir=req.submit_dir),
        req.submit_dir,
        cluster_id=int(req.job_id),
        settings=settings.htcondor,
        source=str(req.path),
    )


def to_objects(req: Request, settings: BridgeSettings) -> tuple[list[dict[str, Any]], list[str]]:
    """All objects for the request, and the warnings the user should see."""
    objects: list[dict[str, Any]] = []
    warnings: list[str] = []
    for job in to_jobs(req, settings):
        try:
            objects += build_job(job, settings.site, settings.kube).as_list()
        except TranslationError as exc:
            raise exc.at(str(req.path)) from None
        warnings += [f"{job.source_id}: {w}" for w in job.warnings]
    return objects, warnings


def split_args(text: str | None) -> list[str]:
    try:
        return shlex.split(text or "")
    except ValueError as exc:
        raise TranslationError(f"--sbatch-args: {exc}") from None
