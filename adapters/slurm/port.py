"""The Slurm side of the engine's BatchPort: bridged jobs in, AdminComment, release and wake-ups out.

A job is bridged when it is in a bridged partition and its AdminComment carries the marker
job_submit.lua wrote (users cannot write AdminComment). Its phase, for the shared state machine:

| Slurm                                             | phase    |
|---------------------------------------------------|----------|
| an ended state (COMPLETED, FAILED, CANCELLED...)  | FINAL    |
| RUNNING or SUSPENDED, or PENDING after release    | RELEASED |
| PENDING, Reason=BeginTime, the user's --begin due | READY    |
| PENDING, Reason=DependencyNeverSatisfied          | DOOMED   |
| PENDING for any other reason (Dependency, hold)   | WAITING  |

slurmctld evaluates dependencies before the begin time, so Reason=BeginTime on a held job means
nothing but the bridge's hold keeps it: Slurm would start it now. A dependency that can never be
satisfied would keep a held job pending for ever (SchedulerParameters=kill_invalid_depend does not
act on it, tested on 24.11.5): the bridge cancels it, with Slurm's reason in AdminComment.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final, cast

from adapters.slurm import marker as mk
from adapters.slurm import values
from adapters.slurm.patterns import PatternContext, expand
from adapters.slurm.record import Payload, array_task, base_state, number, parse_payload, payload_text, to_ir
from adapters.slurm.settings import SlurmSettings
from adapters.slurm.transport import Counted, Record, SlurmError, SlurmTransport
from adapters.slurm.view import JobView
from bridge.domain.errors import TranslationError
from bridge.domain.ir import BatchJob, Source
from bridge.domain.lifecycle import BatchPhase, Outcome
from bridge.domain.policy import normalise
from bridge.engine.identity import from_nss
from bridge.engine.ports import BatchRecord

log = logging.getLogger(__name__)
ENDED: Final = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
)
RUNNING: Final = frozenset({"RUNNING", "SUSPENDED"})
# What the state machine needs of every record; the rest (to build the IR) only of jobs to take in.
KEEP: Final = (
    "job_id",
    "partition",
    "admin_comment",
    "job_state",
    "state_reason",
    "array_job_id",
    "array_task_id",
    "array_task_string",
    "user_name",
    "current_working_directory",
    "dependency",
    "submit_time",
)
INTAKE: Final = (
    *KEEP, "extra", "name", "command", "user_id", "group_id", "account", "qos", "cpus_per_task", "tasks",
    "tasks_per_node", "node_count", "memory_per_cpu", "memory_per_node", "memory_per_tres", "tres_per_node",
    "tres_per_job", "tres_per_task", "minimum_tmp_disk_per_node", "features", "array_max_tasks",
    "time_limit", "requeue", "comment",
)  # fmt: skip
NEVER: Final = frozenset({"DependencyNeverSatisfied"})
# Paths the shim may append a reason to: no blanks or brackets, so its sed can read them back.
_DEPENDENCY_ID = re.compile(r":(\d+)")  # "afterok:12:13_4(unfulfilled),afterany:14" -> 12, 13, 14
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+@%,=:~-]+$")
NO_OUTCOME_YET = "no outcome yet: if the job ends before batch-bridge writes one, its exit code is not the pod's"
UNACCOUNTED = (
    "ended without batch-bridge's outcome: the exit code in sacct was not set by the bridge "
    "(the job was completed or killed outside it)"
)


@dataclass(frozen=True)
class SlurmJob:
    record: Mapping[str, Any]
    marker: mk.Marker

    @property
    def state(self) -> str:
        return base_state(self.record)

    @cached_property
    def payload(self) -> Payload | None:
        """Decoded only when needed (intake, a refusal's stderr path), not at every poll."""
        return parse_payload(payload_text(self.record))

    def keeping_payload(self, admin_comment: str) -> str:
        """``admin_comment`` followed by the payload when it travels in AdminComment (an array's
        records must keep it until each task is taken in)."""
        _, sep, tail = str(self.record.get("admin_comment") or "").partition("\n" + mk.PAYLOAD_HEAD)
        return admin_comment + sep + tail


def phase(job: SlurmJob, now: datetime) -> BatchPhase:
    state = job.state
    if state in ENDED:
        return BatchPhase.FINAL
    if state in RUNNING or job.marker.released:
        return BatchPhase.RELEASED
    reason = job.record.get("state_reason")
    if reason == "BeginTime" and job.marker.begin <= now.timestamp():
        return BatchPhase.READY
    if reason in NEVER:
        return BatchPhase.DOOMED
    return BatchPhase.WAITING


class SlurmPort:
    source = Source.SLURM

    def __init__(
        self,
        transport: SlurmTransport,
        settings: SlurmSettings,
        cluster: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        identity: Callable[[str, int, int], Any] = from_nss,
    ) -> None:
        self.counted = Counted(transport)
        self.transport: SlurmTransport = cast(SlurmTransport, self.counted)
        self.settings, self.cluster, self.clock = settings, cluster, clock
        self.partitions = frozenset(settings.partitions)
        self.view = JobView(
            self.transport,
            self._keep,
            self._waits_on,
            budget=settings.daemon.fetch_budget,
            aliases=self._aliases,
            # An array's own record changes more than its state when tasks start (its task list).
            followable=lambda rec: not rec.get("array_task_string"),
        )
        self._identity = identity

    # --- intake ----------------------------------------------------------------------------------
    def _keep(self, rec: Record) -> Record | None:
        """A fetched record slimmed to what later actions read (10,000 full records would cost hundreds
        of MiB); None when it is not a bridged job."""
        marker = mk.parse(rec.get("admin_comment"))
        if rec.get("partition") not in self.partitions or marker is None:
            return None
        # Until the bridge releases it the job may still be taken in (an array task Slurm started
        # itself, too), so it keeps what the IR is built from.
        fields = KEEP if marker.released or base_state(rec) in ENDED else INTAKE
        return {k: rec[k] for k in fields if k in rec}

    @staticmethod
    def _aliases(rec: Record) -> frozenset[str]:
        """An array task also answers, in a dependency, to its array's id (afterok:12_*)."""
        array_id = number(rec.get("array_job_id"))
        return frozenset({str(array_id)}) if array_id else frozenset()

    @staticmethod
    def _waits_on(rec: Record) -> frozenset[str] | None:
        """The jobs a pending job waits on (its dependency's ids; none named for a hold or singleton),
        or None when nothing but the bridge's hold keeps it. A job slurmctld has not yet given a reason
        (Reason=None just after submit) waits on itself: read again at the next poll, not in refresh_s."""
        reason = rec.get("state_reason")
        if base_state(rec) != "PENDING" or reason == "BeginTime":
            return None
        if reason in (None, "", "None"):
            return frozenset({str(rec.get("job_id"))})
        return frozenset(_DEPENDENCY_ID.findall(str(rec.get("dependency") or "")))

    def poll(self) -> list[BatchRecord]:
        self.view.refresh()
        now = self.clock()
        out: list[BatchRecord] = []
        for rec in self.view.records():
            marker = mk.parse(rec.get("admin_comment"))
            if marker is None:
                continue
            job = SlurmJob(rec, marker)
            job_phase = phase(job, now)
            if rec.get("array_task_string"):  # tasks of an array not yet split out: not a job of their own
                if job_phase is BatchPhase.READY:
                    try:
                        self._split(job)
                    except (SlurmError, TranslationError) as exc:  # one array must not stop every job's poll
                        log.warning("array %s: %s (next poll retries)", rec["job_id"], exc)
                continue
            if job_phase is BatchPhase.RELEASED and not marker.released and array_task(rec) is not None:
                job_phase = BatchPhase.READY  # started by Slurm itself before the bridge (REST arrays)
            key = str(rec["job_id"])
            out.append(
                BatchRecord(
                    key=key,
                    phase=job_phase,
                    outcome_known=marker.outcome_known,
                    kube_id=key,
                    reported=marker.text,
                    running=job.state in RUNNING,
                    native=job,
                    submitted=number(rec.get("submit_time")) or None,
                )
            )
        return out

    def _target(self, record: BatchRecord) -> str:
        """How the transport names this job: an array task that kept the array's id needs its task form."""
        job: SlurmJob = record.native
        task = array_task(job.record)
        array_id = str(number(job.record.get("array_job_id")) or "")
        return self.transport.address(record.key, array_id if task is not None else None, task)

    def gone(self, kube_id: str) -> bool:
        # Slurm's job ids only grow: one at or below the highest it reports, and not reported, was purged.
        return kube_id.isdigit() and 0 < int(kube_id) <= self.view.highest_id

    def _split(self, job: SlurmJob) -> None:
        """Tasks that Slurm would start now get job ids of their own, then each is a job of the bridge.

        With the CLI, one admin update of the pending tasks splits them (each keeps the hold and gets
        its real SLURM_JOB_ID before its pod starts). slurmrestd cannot address tasks: the array is
        released instead and Slurm starts (and splits) tasks within its %N throttle; each started task
        then gets its pod, showing RUNNING in squeue while the pod may still be pending.
        """
        rec = job.record
        array_id, tasks = str(rec["job_id"]), str(rec["array_task_string"]).partition("%")[0]
        marker = replace(job.marker, array=job.marker.array or tasks)
        indexes = values.array_spec(tasks, self.settings.max_array_size).indexes
        self.view.touch(array_id)
        first = job.keeping_payload(marker.render())
        others = job.keeping_payload(marker.with_text(f"{marker.text} (array task)").render())
        if not self.transport.split(array_id, indexes, first, others):
            text = "array released to Slurm: each task runs on Kubernetes when Slurm starts it"
            self.transport.update(array_id, job.keeping_payload(marker.with_text(text).render()), release=True)

    def to_ir(self, record: BatchRecord) -> BatchJob:
        job: SlurmJob = record.native
        if job.payload is None:
            raise TranslationError("the submitted script is no longer in the job record (Extra was cleared)")
        rec = job.record
        identity = self._identity(str(rec["user_name"]), int(rec["user_id"]), int(rec["group_id"]))
        begin = datetime.fromtimestamp(job.marker.begin, UTC) if job.marker.begin else None
        try:
            return to_ir(rec, job.payload, identity, self.settings, self.cluster, self.clock(), begin, job.marker.array)
        except ValueError as exc:  # pydantic: a value the IR refuses
            raise TranslationError(f"the job record does not describe a job the bridge can run: {exc}") from None

    # --- batch-side actions ----------------------------------------------------------------------
    def report(self, record: BatchRecord, text: str) -> None:
        job: SlurmJob = record.native
        self._write(record, job.marker.with_text(text).render())

    def _write(self, record: BatchRecord, admin_comment: str, release: bool = False, clear_extra: bool = False) -> None:
        """Update the job; the view keeps what was written (the light listing shows no AdminComment),
        or reads the record back at the next poll when the update failed (what happened is unknown)."""
        try:
            self.transport.update(self._target(record), admin_comment, release=release, clear_extra=clear_extra)
        except BaseException:
            self.view.touch(record.key)
            raise
        self.view.patch(record.key, {"admin_comment": admin_comment, **({"extra": ""} if clear_extra else {})})

    def release(self, record: BatchRecord, text: str) -> None:
        job: SlurmJob = record.native
        # Until the outcome replaces it, this text is also the flag of a job that ends without one.
        marker = replace(job.marker, released=True).with_text(f"{text} ({NO_OUTCOME_YET})")
        if job.state in RUNNING or not self._update_pending(record, marker.render()):
            self._write(record, marker.render())

    def finish(self, record: BatchRecord, outcome: Outcome) -> None:
        job: SlurmJob = record.native
        if job.marker.outcome_known:  # written before: never a second, different outcome
            self.signal(record)
            return
        marker = job.marker.with_outcome(outcome)
        if outcome.failed and not job.marker.released:
            marker = replace(marker, err=self._stderr_path(job) or "")
        text = marker.render()
        pending = job.state not in RUNNING
        if pending and self._update_pending(record, text):
            return
        self._write(record, text)
        self.transport.signal([self._target(record)])

    def _update_pending(self, record: BatchRecord, text: str) -> bool:
        """Write ``text`` and release a job the last poll saw pending; False if Slurm started it since
        (a StartTime update of a running job fails as a whole, AdminComment included)."""
        try:
            self._write(record, text, release=True, clear_extra=True)
        except SlurmError:
            return False
        return True

    def signal(self, record: BatchRecord) -> None:
        self.transport.signal([self._target(record)])

    def cancel(self, record: BatchRecord) -> None:
        job: SlurmJob = record.native
        reason = f"{job.record.get('state_reason')}: {job.record.get('dependency') or 'dependency'}"
        text = f"CANCELLED by batch-bridge: {reason} can never be satisfied, so Slurm would never start it"
        self._write(record, job.marker.with_text(text).render())
        self.transport.cancel(self._target(record))

    def audit(self, record: BatchRecord) -> None:
        job: SlurmJob = record.native
        if job.marker.outcome_known or not job.marker.released or job.state not in ("COMPLETED", "FAILED"):
            return
        marker = replace(job.marker, unaccounted=True).with_text(UNACCOUNTED)
        self.transport.annotate_ended(record.key, marker.render())  # sacctmgr takes the raw job id

    def _stderr_path(self, job: SlurmJob) -> str | None:
        """Where the shim appends the reason of a failure found before the job ran (refusal, image)."""
        payload = job.payload
        if payload is None:
            return None
        rec = job.record
        ctx = PatternContext(
            job_id=str(rec["job_id"]),
            user=str(rec.get("user_name", "")),
            job_name=str(rec.get("name", "")),
            is_array=array_task(rec) is not None,
        )
        template = expand(payload.stderr or payload.stdout or "slurm-%j.out", ctx)
        if not template.is_literal:  # %N, %a: known only where the job would have run
            return None
        path = normalise(template.render({}), str(rec.get("current_working_directory") or "/"))
        return path if _SAFE_PATH.match(path) else None
