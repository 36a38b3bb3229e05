"""Running a Pipeline on a backend, resumably.

Start: every step's key is looked up first (one query on Slurm); a step whose job exists and did
not end badly is adopted, so re-running a pipeline after its process was killed runs only what is
missing. Every spec is checked against the site policy before anything is submitted.
- Slurm (native dependencies): every missing step is submitted at once with ``--dependency``;
  Slurm holds them, the bridge runs each when Slurm would. If a submit fails, the jobs this run
  submitted are cancelled and PipelineError names any job that still exists.
- Kubernetes: a driver thread submits each step once its edges hold (pipeline.readiness), woken
  by the status changes the watch publishes; steps that can never run are marked, not submitted.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Final

from bridge.domain.states import JobState
from bridge.sdk.backend import Backend, Dependency
from bridge.sdk.errors import PipelineError, SdkError, WaitTimeout
from bridge.sdk.pipeline import NEVER_REASON, Pipeline, Readiness, readiness
from bridge.sdk.status import JobStatus

CANCELLED_REASON: Final = "CANCELLED: the pipeline was cancelled"
Snapshot = dict[str, JobStatus | None]


class PipelineRun:
    def __init__(self, pipeline: Pipeline, backend: Backend) -> None:
        self.pipeline, self.backend = pipeline, backend
        self.ids: dict[str, str] = {}  # step -> job id
        self.adopted: set[str] = set()
        self.unrun: dict[str, JobStatus] = {}  # steps that will not run, and why
        self._changes: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._done, self._cancelled = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- starting ----------------------------------------------------------------------------------
    def start(self) -> None:
        steps = self.pipeline.steps
        for step in steps.values():
            self.backend.check(step.spec)
        keys = {self.pipeline.key(name): name for name in steps}
        found = self.backend.find({key: steps[name].spec for key, name in keys.items()})
        for key, status in found.items():
            if not (status.final and not status.ok):
                self._follow(keys[key], status.job_id, adopted=True)
        if self.backend.dependencies:
            self._submit_native()
        self._thread = threading.Thread(target=self._drive, name=f"pipeline-{self.pipeline.name}", daemon=True)
        self._thread.start()

    def _follow(self, step: str, job_id: str, adopted: bool) -> None:
        with self._lock:
            self.ids[step] = job_id
            if adopted:
                self.adopted.add(step)
        self.backend.hub.subscribe(job_id, lambda _status: self._changes.put(step))

    def _submit_native(self) -> None:
        mine: list[str] = []
        for name, step in self.pipeline.steps.items():
            if name in self.ids:
                continue
            after = [Dependency(kind, tuple(self.ids[n] for n in names)) for kind, names in step.after]
            try:
                job_id, adopted = self.backend.submit(step.spec, self.pipeline.key(name), after)
            except SdkError as exc:
                raise PipelineError(f"step {name}: {exc}", self._undo(mine)) from None
            self._follow(name, job_id, adopted)
            if not adopted:
                mine.append(name)

    def _undo(self, mine: list[str]) -> dict[str, str]:
        """Cancel what this run submitted; what still exists (adopted, or not cancellable), by step."""
        left = {s: self.ids[s] for s in self.adopted}
        for step in mine:
            try:
                self.backend.cancel(self.ids[step])
            except SdkError:
                left[step] = self.ids[step]
        return left

    # --- driving -----------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        hub = self.backend.hub
        with self._lock:
            out: Snapshot = dict.fromkeys(self.pipeline.steps)
            out.update({name: hub.latest(job_id) for name, job_id in self.ids.items()})
            out.update(self.unrun)
        return out

    def _advance(self, now: Snapshot) -> None:
        for name, step in self.pipeline.steps.items():
            if name in self.ids or name in self.unrun:
                continue
            ready = readiness(step, now)
            if ready is Readiness.NEVER:
                self.unrun[name] = JobStatus(f"-/{name}", JobState.CANCELLED, NEVER_REASON, name=step.spec.name)
                self._changes.put(name)
            elif ready is Readiness.READY and not self.backend.dependencies:
                try:
                    job_id, adopted = self.backend.submit(step.spec, self.pipeline.key(name))
                except SdkError as exc:
                    self.unrun[name] = JobStatus(f"-/{name}", JobState.FAILED, f"not submitted: {exc}")
                    self._changes.put(name)
                    continue
                self._follow(name, job_id, adopted)

    def _drive(self) -> None:
        while not self._cancelled.is_set():
            now = self.snapshot()
            if all(s is not None and s.final for s in now.values()):
                break
            self._advance(now)
            self._changes.get()
        self._done.set()

    # --- following ---------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> Snapshot:
        """Block until every step has ended (or will never run); the final snapshot."""
        if not self._done.wait(timeout):
            raise WaitTimeout(self.pipeline.name, timeout or 0, self.summary())
        return self.snapshot()

    def watch(self, interval: float = 0.5) -> Iterator[Snapshot]:
        """Snapshots as they change (at most one per ``interval``), the final one last."""
        last: Snapshot | None = None
        while True:
            done = self._done.wait(interval)
            now = self.snapshot()
            if now != last:
                yield now
                last = now
            if done:
                return

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self.snapshot().values():
            state = status.state.value if status is not None else "waiting"
            counts[state] = counts.get(state, 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        """Every step succeeded, or was not to run (an edge that never held, e.g. a cleanup step)."""
        return all(s is not None and (s.ok or NEVER_REASON in s.reason) for s in self.snapshot().values())

    def cancel(self) -> dict[str, str]:
        """Cancel running and pending steps; steps not submitted yet never will be. Returns the
        steps whose cancel the backend refused (step -> its message)."""
        self._cancelled.set()
        refused: dict[str, str] = {}
        for name, status in self.snapshot().items():
            if status is None:
                self.unrun[name] = JobStatus(f"-/{name}", JobState.CANCELLED, CANCELLED_REASON)
            elif not status.final:
                try:
                    self.backend.cancel(self.ids[name])
                except SdkError as exc:
                    refused[name] = str(exc)
        self._changes.put("")
        deadline = time.monotonic() + 60
        for name, job_id in list(self.ids.items()):
            if name not in refused:
                self.backend.hub.wait(job_id, lambda s: s.final, max(0.0, deadline - time.monotonic()))
        return refused
