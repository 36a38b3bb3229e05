"""The process that runs HTCondor's submit code on untrusted descriptions: ``python -m adapters.htcondor.expander``.

One long-lived server (single-threaded, so forking is safe) imports the bindings once and, per
request, forks a child that sets its address-space limit and expands the description. The server
never parses what a child sends back: it relays the child's JSON, so a child subverted by its input
can hurt neither the server nor the daemon (JSON, never pickle). A child that runs past its time is
killed; one that dies (out of memory, or a crash in the bindings: deleting a key from a v1 Submit
segfaults) gives an error reply. The server runs with a clean environment and ends when its stdin
closes. Frames on stdin/stdout are an 8-byte big-endian length and that many bytes of JSON.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import time
from typing import IO, Any

from adapters.htcondor import submit

HEADER = 8
_PRIVATE: tuple[int, ...] = ()  # the server's protocol descriptors, closed in each child


def read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(HEADER)
    if len(header) < HEADER:
        return None
    size = int.from_bytes(header, "big")
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(HEADER, "big") + data)
    stream.flush()


def _error(message: str, line: int | None = None) -> bytes:
    return json.dumps({"error": message, "line": line}).encode()


def _run_child(request: dict[str, Any], out: int) -> None:
    """In the forked child: limit memory, expand, write the JSON reply, exit without cleanup."""
    code = 4
    try:
        limit_mib = int(request["settings"]["expand_memory_mib"])
        reply = _error(submit.memory_message(limit_mib))  # made before the limit: sent if memory runs out
        resource.setrlimit(resource.RLIMIT_AS, (limit_mib << 20, limit_mib << 20))
        try:
            reply, code = json.dumps(submit.expand_request(request)).encode(), 0
        except MemoryError:
            code = 3
        except Exception as exc:  # anything else: a reply, never a hang
            reply = _error(f"expanding the description failed: {type(exc).__name__}")
        view = memoryview(reply)
        while view:
            view = view[os.write(out, view) :]
    finally:
        os._exit(code)  # never return into the server's loop


def _collect(fd: int, pid: int, timeout: float, limit_mib: int) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return _error(f"expanding the description took longer than {timeout:g} s: refused")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if chunks:
        return b"".join(chunks)
    how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"status {os.waitstatus_to_exitcode(status)}"
    return _error(
        f"HTCondor's submit code died expanding the description ({how}; memory limit {limit_mib} MiB): refused"
    )


def serve_one(raw: bytes) -> bytes:
    try:
        request = json.loads(raw)
        timeout = float(request["settings"]["expand_timeout_s"])
        limit_mib = int(request["settings"]["expand_memory_mib"])
    except (ValueError, KeyError, TypeError):
        return _error("malformed request to the expander")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        for fd in _PRIVATE:
            os.close(fd)
        _run_child(request, write_end)
    os.close(write_end)
    try:
        return _collect(read_end, pid, timeout, limit_mib)
    finally:
        os.close(read_end)


def main() -> None:
    import adapters.htcondor.bindings  # noqa: F401  (loaded once; every child inherits it)

    # The protocol streams get private descriptors; 0 and 1 become /dev/null and stderr, so nothing
    # the bindings print (in the server or a child) can corrupt a frame.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    global _PRIVATE
    _PRIVATE = (requests.fileno(), replies.fileno())
    while (raw := read_frame(requests)) is not None:
        write_frame(replies, serve_one(raw))


if __name__ == "__main__":
    main()
