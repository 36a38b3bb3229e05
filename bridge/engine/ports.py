"""The narrow port each front door implements for the engine, and the record it hands over.

The engine knows nothing of Slurm or HTCondor: an adapter turns its batch system's records into
BatchRecords (with the phase and "outcome already written" the state machine needs) and carries out
the batch-side actions. All of them must be idempotent: the engine may repeat any call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bridge.domain.ir import BatchJob, Source
from bridge.domain.lifecycle import BatchPhase, Outcome


@dataclass(frozen=True)
class BatchRecord:
    key: str  # the batch system's id of this job (or array task)
    phase: BatchPhase
    outcome_known: bool  # the batch record already carries the bridge's outcome
    kube_id: str  # source_id of the Kubernetes Job that runs it (the array's id for a task)
    index: int | None = None  # the task's completion index in an Indexed Job
    reported: str = ""  # the status text the batch record shows now
    running: bool = False  # the gateway side runs (the shim can be signalled)
    native: Any = None  # the adapter's own record
    submitted: float | None = None  # submit time (epoch seconds), for the latency metrics


class BatchPort(Protocol):
    source: Source
    cluster: str

    def poll(self) -> list[BatchRecord]:
        """Every bridged job the batch system knows, in one batched query."""
        ...

    def gone(self, kube_id: str) -> bool:
        """The batch system issued this job and no longer knows it (purged): its Kubernetes Job may go.

        An id the last poll did not show is not enough: objects with the bridge's labels but an id the
        batch system never issued are someone else's, and are left alone.
        """
        ...

    def to_ir(self, record: BatchRecord) -> BatchJob:
        """The IR from the authoritative batch record; TranslationError refuses the job."""
        ...

    def report(self, record: BatchRecord, text: str) -> None:
        """Show ``text`` (pending reason, running node) where the user reads job status."""
        ...

    def release(self, record: BatchRecord, text: str) -> None:
        """Let the batch system start the job now (the pod runs, or the outcome is known)."""
        ...

    def finish(self, record: BatchRecord, outcome: Outcome) -> None:
        """Write ``outcome`` to the batch record (once), then release the job or wake its shim."""
        ...

    def signal(self, record: BatchRecord) -> None:
        """Wake the gateway side again so it reads the outcome already written."""
        ...

    def cancel(self, record: BatchRecord) -> None:
        """End a job the batch system will never start, keeping the batch system's reason."""
        ...

    def audit(self, record: BatchRecord) -> None:
        """The job ended without the bridge's outcome: flag it in the record (once), if it ran."""
        ...
