"""The narrow port every backend implements; Client, Job and Pipeline speak only to this.

A backend turns a JobSpec into a job of its own (``submit``), keeps the hub up to date for the jobs
it is asked to ``track`` (a watch on Kubernetes, one batched query per interval on a batch system),
and answers ``get``/``list``/``cancel``/``logs``. ``dependencies`` says whether it can hold a job
until others end (Slurm ``--dependency``); without it a Pipeline submits a step when it is ready
(Kubernetes, HTCondor).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bridge.sdk.hub import StatusHub
from bridge.sdk.spec import JobSpec
from bridge.sdk.status import JobStatus


class After(StrEnum):
    """Edges of a pipeline: run a step after others ended (ok / in any way / not ok)."""

    OK = "afterok"
    ANY = "afterany"
    NOT_OK = "afternotok"


@dataclass(frozen=True)
class Dependency:
    kind: After
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class Filter:
    """``list()`` selection: by state names, by a job-name prefix; always the caller's own jobs."""

    states: tuple[str, ...] = ()
    name_prefix: str = ""

    def keep(self, status: JobStatus) -> bool:
        return (not self.states or status.state.value in self.states) and status.name.startswith(self.name_prefix)


@dataclass(frozen=True)
class LogSource:
    """Where a job's output is: a file this host can read, else the backend's stream."""

    path: str | None
    lines: Iterator[str] | None = None


class Backend(Protocol):
    name: str
    hub: StatusHub
    dependencies: bool  # holds jobs on native dependencies (Slurm), else the SDK runs the DAG

    def submit(self, spec: JobSpec, key: str | None = None, after: Sequence[Dependency] = ()) -> tuple[str, bool]:
        """Submit; returns (job id, adopted). With ``key`` it is idempotent: a job made before under
        the same key is adopted unless it ended badly, in which case it runs again."""
        ...

    def check(self, spec: JobSpec) -> None:
        """Raise PolicyRefused/InvalidSpec for a spec the site would refuse (nothing is submitted)."""
        ...

    def find(self, specs: Mapping[str, JobSpec]) -> dict[str, JobStatus]:
        """The jobs earlier keyed submits made, by key (one query for all of them where possible)."""
        ...

    def track(self, job_id: str) -> None:
        """Keep the hub's status of ``job_id`` current from now on (and publish the current one)."""
        ...

    def get(self, job_id: str) -> JobStatus:
        """The current status; JobNotFound when the backend has no such job."""
        ...

    def list(self, selection: Filter) -> list[JobStatus]:
        """The caller's jobs."""
        ...

    def cancel(self, job_id: str) -> None: ...

    def logs(self, job_id: str, follow: bool) -> LogSource: ...

    def close(self) -> None: ...
