"""Backend ``slurm``: slurmrestd with the user's own JWT, into the bridged partition.

The job is the user's Slurm job (sbatch through REST): job_submit.lua holds it, the bridge daemon
runs it on Kubernetes, and squeue/sacct tell the truth as for any sbatch. Pipelines map their edges
to Slurm's own ``--dependency``. Status: the daemon's light poll (adapters.slurm.view): one
``GET /jobs/state/`` listing per interval for every tracked job, and a job's full record only when
it is new or its state changed (a pending job's also every ``REASON_REFRESH_S``: its reason and the
bridge's AdminComment change without a state change); slurmdbd once for a job slurmctld has
forgotten. The listing is cut to ids from the oldest tracked job up (ids only grow), so other users'
older jobs cost nothing. ``find`` and ``list`` are one-off: one full ``GET /jobs/``. A keyed submit
finds an earlier job of the same key by its comment (the user's own field: this is adoption of one's
own work, not a security boundary).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from adapters.slurm.view import JobView
from bridge.config.settings import BridgeSettings
from bridge.domain.states import JobState
from bridge.sdk import slurm_script as sc
from bridge.sdk.backend import Dependency, Filter, LogSource
from bridge.sdk.identity import caller_identity
from bridge.sdk.polling import Polling
from bridge.sdk.slurm_rest import Record, SlurmRest
from bridge.sdk.slurm_status import number, state_of, status_of
from bridge.sdk.spec import JobSpec
from bridge.sdk.status import JobStatus

BACKEND: Final = "slurm"
REASON_REFRESH_S: Final = 5.0
# what the SDK reads of a record (the view keeps these only)
FIELDS: Final = (
    "job_id", "array_job_id", "array_task_id", "job_state", "state", "state_reason", "admin_comment", "comment",
    "name", "user_name", "partition", "exit_code", "submit_time", "start_time", "end_time", "time",
)  # fmt: skip


def job_key(record: Record) -> str:
    """The id the SDK uses: the array's id for its tasks, else the job's."""
    array = number(record.get("array_job_id"))
    return str(array or record.get("job_id"))


def _waits(record: Record) -> frozenset[str] | None:
    """Pending: read again every refresh (reason, AdminComment); else only on a state change."""
    return frozenset() if state_of(record) is JobState.PENDING else None


class _Since:
    """The listing from job id ``floor()`` up: what the view reads a record of once."""

    def __init__(self, rest: SlurmRest, floor: Callable[[], int]) -> None:
        self.rest, self.floor = rest, floor

    def states(self) -> list[tuple[str, str]]:
        floor = self.floor()
        return [(rid, state) for rid, state in self.rest.states() if rid.isdigit() and int(rid) >= floor]

    def records(self, ids: Iterable[str]) -> list[Record]:
        return self.rest.records(ids)


class SlurmBackend(Polling):
    name = BACKEND
    dependencies = True

    def __init__(
        self,
        settings: BridgeSettings,
        url: str | None = None,
        token_file: str | None = None,
        poll_interval_s: float | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.identity = caller_identity()
        self.rest = SlurmRest(url or settings.slurm.daemon.transport.rest_url, self.identity.user, token_file)
        self.partition = settings.slurm.partitions[0]
        self.interval = poll_interval_s or max(settings.engine.poll_interval_s, 1.0)
        self._tracked: set[str] = set()
        self.view = JobView(
            _Since(self.rest, self._floor),
            keep=self._keep,
            waits_on=_waits,
            refresh_s=REASON_REFRESH_S,
            followable=lambda _: False,  # a changed state means a new exit code, times, outcome: read it
        )
        self._outputs: dict[str, tuple[str, str, str, int]] = {}  # id -> (pattern, cwd, name, first index)

    # --- submit ------------------------------------------------------------------------------------
    def submit(self, spec: JobSpec, key: str | None = None, after: Sequence[Dependency] = ()) -> tuple[str, bool]:
        if key is not None:
            found = self.find({key: spec}).get(key)
            if found is not None and not (found.final and not found.ok):
                return found.job_id, True
        text = sc.script(spec, self.settings.site)
        job = sc.description(spec, cwd=os.getcwd(), partition=self.partition, key=key, after=after)
        job_id = str(self.rest.submit(text, job))
        first = spec.array[0] if spec.array else 0
        self._outputs[job_id] = (job["standard_output"], job["current_working_directory"], spec.name, first)
        self.track(job_id)
        return job_id, False

    def check(self, spec: JobSpec) -> None:
        sc.script(spec, self.settings.site)

    def find(self, specs: Mapping[str, JobSpec]) -> dict[str, JobStatus]:
        marks = {sc.KEY_MARK + key: key for key in specs}
        newest: dict[str, tuple[str, list[Record]]] = {}
        for job_id, records in self._mine(self.rest.jobs()).items():
            key = marks.get(str(records[0].get("comment") or ""))
            if key is not None and (key not in newest or int(job_id) > int(newest[key][0])):
                newest[key] = (job_id, records)
        for job_id, _ in newest.values():
            self.track(job_id)
        return {key: status_of(job_id, records) for key, (job_id, records) in newest.items()}

    def _mine(self, records: list[Record]) -> dict[str, list[Record]]:
        grouped: defaultdict[str, list[Record]] = defaultdict(list)
        for record in records:
            if record.get("user_name") == self.identity.user:
                grouped[job_key(record)].append(record)
        return grouped

    # --- status: one batched query per interval ----------------------------------------------------
    def _floor(self) -> int:
        with self._lock:
            return min((int(t) for t in self._tracked), default=2**62)

    def _add(self, job_id: str) -> bool:
        new = job_id not in self._tracked
        self._tracked.add(job_id)
        return new

    def _keep(self, record: Record) -> Record | None:
        return {k: record[k] for k in FIELDS if k in record} if record.get("user_name") == self.identity.user else None

    def poll(self) -> None:
        """One listing for every tracked job, records of what changed; slurmdbd only for a job
        slurmctld no longer has."""
        self.polls += 1
        self.view.refresh()
        grouped = self._mine(self.view.records())
        with self._lock:
            tracked = list(self._tracked)
        for job_id in tracked:
            records = grouped.get(job_id)
            if records is None:
                latest = self.hub.latest(job_id)
                if latest is not None and latest.final:
                    continue
                records = [r for r in self.rest.accounting(job_id) if job_key(r) == job_id]
            if records:
                self.hub.publish(status_of(job_id, records))

    def list(self, selection: Filter) -> list[JobStatus]:
        bridged = set(self.settings.slurm.partitions)
        found = self._mine(self.rest.jobs())
        out = [status_of(i, r) for i, r in sorted(found.items()) if r[0].get("partition") in bridged]
        return [s for s in out if selection.keep(s)]

    def cancel(self, job_id: str) -> None:
        self.rest.cancel(job_id)
        self._wake.set()

    # --- output ------------------------------------------------------------------------------------
    def logs(self, job_id: str, follow: bool) -> LogSource:
        pattern, cwd, name, first = self._outputs.get(job_id, ("slurm-%j.out", "", "", 0))
        values = {"job": job_id, "array": job_id, "index": str(first), "name": name, "user": self.identity.user}
        return LogSource(path=sc.expand(pattern, cwd or self.identity.home or "/", values))
