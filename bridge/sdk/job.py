"""``Job``: a handle on one submitted job, the same on every backend.

``state``/``reason``/``exit_code`` read the latest status the backend's watch or poll published;
``wait`` blocks on the next ones (no polling of its own); ``watch()`` is an iterator and an async
iterator of state changes, ending with the final one; ``logs()`` likewise yields output lines.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from bridge.domain.states import JobState
from bridge.sdk.errors import WaitTimeout
from bridge.sdk.logs import alines_of, lines_of
from bridge.sdk.status import JobResult, JobStatus

if TYPE_CHECKING:
    from bridge.sdk.backend import Backend


def _final(status: JobStatus) -> bool:
    return status.final


class Job:
    def __init__(self, backend: Backend, job_id: str, adopted: bool = False) -> None:
        self.backend, self.id, self.adopted = backend, job_id, adopted

    def __repr__(self) -> str:
        return f"Job({self.backend.name}:{self.id})"

    # --- the latest status -------------------------------------------------------------------------
    def status(self) -> JobStatus:
        latest = self.backend.hub.latest(self.id)
        return latest if latest is not None else self.backend.get(self.id)

    @property
    def state(self) -> JobState:
        return self.status().state

    @property
    def reason(self) -> str:
        return self.status().reason

    @property
    def exit_code(self) -> int | None:
        return self.status().exit_code

    # --- waiting -----------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job has ended; WaitTimeout after ``timeout`` seconds."""
        self.backend.track(self.id)
        status = self.backend.hub.wait(self.id, _final, timeout)
        if status is None:
            raise WaitTimeout(self.id, timeout or 0, self.backend.hub.latest(self.id))
        return status

    def result(self, timeout: float | None = None) -> JobResult:
        """Wait, then the outcome with its times and accounting detail."""
        return JobResult.of(self.wait(timeout))

    def cancel(self) -> None:
        self.backend.cancel(self.id)

    def watch(self, reasons: bool = False) -> StatusStream:
        """State changes (with ``reasons``: reason changes too), the current one first, the final one last."""
        return StatusStream(self, reasons)

    def logs(self, follow: bool = False) -> LogStream:
        return LogStream(self, follow)

    def _ended(self, timeout: float) -> bool:
        return self.backend.hub.wait(self.id, _final, timeout) is not None

    # --- asyncio -----------------------------------------------------------------------------------
    async def wait_async(self, timeout: float | None = None) -> JobStatus:
        return await asyncio.to_thread(self.wait, timeout)

    async def result_async(self, timeout: float | None = None) -> JobResult:
        return JobResult.of(await self.wait_async(timeout))

    async def cancel_async(self) -> None:
        await asyncio.to_thread(self.cancel)


class StatusStream:
    """Iterate (``for``/``async for``) over a job's state changes until it has ended."""

    def __init__(self, job: Job, reasons: bool) -> None:
        self.job, self.reasons = job, reasons

    def _changed(self, last: JobStatus | None, new: JobStatus) -> bool:
        if last is None or last.state is not new.state:
            return True
        return self.reasons and last.reason != new.reason

    def __iter__(self) -> Iterator[JobStatus]:
        inbox: queue.SimpleQueue[JobStatus] = queue.SimpleQueue()
        hub = self.job.backend.hub
        self.job.backend.track(self.job.id)
        hub.subscribe(self.job.id, inbox.put)
        try:
            last: JobStatus | None = None
            while last is None or not last.final:
                new = inbox.get()
                if self._changed(last, new):
                    yield new
                    last = new
        finally:
            hub.unsubscribe(self.job.id, inbox.put)

    async def __aiter__(self) -> AsyncIterator[JobStatus]:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[JobStatus] = asyncio.Queue()

        def sink(status: JobStatus) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, status)

        hub = self.job.backend.hub
        await asyncio.to_thread(self.job.backend.track, self.job.id)
        hub.subscribe(self.job.id, sink)
        try:
            last: JobStatus | None = None
            while last is None or not last.final:
                new = await inbox.get()
                if self._changed(last, new):
                    yield new
                    last = new
        finally:
            hub.unsubscribe(self.job.id, sink)


class LogStream:
    """The job's output lines (``for`` or ``async for``); ``follow`` until the job has ended."""

    def __init__(self, job: Job, follow: bool) -> None:
        self.job, self.follow = job, follow

    def __iter__(self) -> Iterator[str]:
        source = self.job.backend.logs(self.job.id, self.follow)
        yield from lines_of(source, self.follow, self.job._ended)

    async def __aiter__(self) -> AsyncIterator[str]:
        source = await asyncio.to_thread(self.job.backend.logs, self.job.id, self.follow)
        async for line in alines_of(source, self.follow, self.job._ended):
            yield line

    def text(self) -> str:
        return "".join(line + "\n" for line in self)
