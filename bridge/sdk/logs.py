"""A job's output as lines, from the file on shared storage when this host can read it (aiofiles
in asyncio), else from the backend (pod logs). ``follow`` keeps reading until the job has ended and
the file has no more to give; the wait between reads is on the job's status, not a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator

import aiofiles  # type: ignore[import-untyped]  # no stubs in the dev extras

from bridge.domain.ir import BatchJob, Placeholder
from bridge.domain.policy import normalise
from bridge.sdk.backend import LogSource

FOLLOW_POLL_S = 0.25
Ended = Callable[[float], bool]  # wait up to s seconds for the job to end; True once it has


def output_path(job: BatchJob, index: int | None = None) -> str | None:
    """The job's stdout file (array: of task ``index``, default the first), if it names one."""
    if job.io.stdout is None:
        return None
    first = index if index is not None else (job.array.indexes[0] if job.array else 0)
    values = {Placeholder.ARRAY_TASK_ID: str(first), Placeholder.NODE_NAME: ""}
    return normalise(job.io.stdout.render(values), job.working_dir)


def readable(path: str | None) -> bool:
    return path is not None and os.access(path, os.R_OK)


def file_lines(path: str, follow: bool, ended: Ended) -> Iterator[str]:
    with open(path, errors="replace") as f:
        pending = ""
        while True:
            chunk = f.read(65536)
            if chunk:
                pending += chunk
                *lines, pending = pending.split("\n")
                yield from lines
                continue
            if not follow or ended(FOLLOW_POLL_S):
                rest = f.read()
                pending += rest
                if not rest:
                    break
        if pending:
            yield pending


async def afile_lines(path: str, follow: bool, ended: Ended) -> AsyncIterator[str]:
    async with aiofiles.open(path, errors="replace") as f:
        pending = ""
        while True:
            chunk = await f.read(65536)
            if chunk:
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    yield line
                continue
            if not follow or await asyncio.to_thread(ended, FOLLOW_POLL_S):
                rest = await f.read()
                pending += rest
                if not rest:
                    break
        if pending:
            yield pending


def _appears(path: str, ended: Ended) -> bool:
    """Wait for the file to exist (it does once the job starts); False when the job ended first."""
    while not readable(path):
        if ended(FOLLOW_POLL_S):
            return readable(path)
    return True


def _use_file(source: LogSource, follow: bool, ended: Ended) -> str | None:
    path = source.path
    if path is None:
        return None
    if readable(path):
        return path
    # Its directory not reachable from here: another host's storage, use the backend's stream.
    reachable = os.access(os.path.dirname(path) or "/", os.X_OK)
    return path if follow and reachable and _appears(path, ended) else None


def lines_of(source: LogSource, follow: bool, ended: Ended) -> Iterator[str]:
    path = _use_file(source, follow, ended)
    if path is not None:
        yield from file_lines(path, follow, ended)
    elif source.lines is not None:
        yield from source.lines


async def alines_of(source: LogSource, follow: bool, ended: Ended) -> AsyncIterator[str]:
    path = await asyncio.to_thread(_use_file, source, follow, ended)
    if path is not None:
        async for line in afile_lines(path, follow, ended):
            yield line
    elif source.lines is not None:
        iterator = source.lines

        def step() -> str | None:
            return next(iterator, None)

        while True:
            text: str | None = await asyncio.to_thread(step)
            if text is None:
                break
            yield text
