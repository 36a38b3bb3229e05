"""HTCondor user-log events the bridge writes for the jobs it manages (pure text builders).

The schedd writes only the submit (000) and release (013) events of an externally managed job; the
manager must write execute (001), evicted (004), terminate (005), aborted (009) and held (012) itself, in the
classic user-log format that ``condor_wait``, ``htcondor2.JobEventLog`` and DAGMan read: a header
line ``NNN (CCC.PPP.000) YYYY-MM-DD HH:MM:SS text``, body lines starting with a tab, ``...`` last.
Times are the schedd's local time, as the schedd writes its own events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

EXECUTE: Final = 1
EVICTED: Final = 4
TERMINATE: Final = 5
ABORTED: Final = 9
HELD: Final = 12
CODES: Final = frozenset({EXECUTE, EVICTED, TERMINATE, ABORTED, HELD})
_USAGE: Final = (
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Remote Usage\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Remote Usage\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Local Usage\n"
    "\t0  -  Run Bytes Sent By Job\n"
    "\t0  -  Run Bytes Received By Job\n"
    "\t0  -  Total Bytes Sent By Job\n"
    "\t0  -  Total Bytes Received By Job\n"
)


@dataclass(frozen=True)
class Event:
    code: int
    cluster: int
    proc: int
    text: str  # the whole event, header to "..."
    nth: int  # append only while the log holds fewer than this many events of this code for the job

    @property
    def head(self) -> str:
        return head(self.code, self.cluster, self.proc)


def head(code: int, cluster: int, proc: int) -> str:
    return f"{code:03d} ({cluster:03d}.{proc:03d}.000)"


def _one_line(text: str, limit: int = 500) -> str:
    """Free text from a reason: one line, no control characters (a newline would end the event)."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(cleaned.split())[:limit] or "-"


def _event(code: int, cluster: int, proc: int, when: float, title: str, body: list[str], nth: int) -> Event:
    stamp = datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S")
    lines = "".join(f"\t{line}\n" for line in body)
    return Event(code, cluster, proc, f"{head(code, cluster, proc)} {stamp} {title}\n{lines}...\n", nth)


def execute(cluster: int, proc: int, when: float, host: str, nth: int) -> Event:
    """001: the pod runs. ``host`` names the Kubernetes node (and Job) in HTCondor's <...> form."""
    return _event(EXECUTE, cluster, proc, when, f"Job executing on host: <{_one_line(host, 200)}>", [], nth)


def evicted(cluster: int, proc: int, when: float, nth: int) -> Event:
    """004: the run was lost to the platform (node, eviction) and the job goes back to idle for
    another (the "rerun" policy); nothing was checkpointed."""
    stamp = datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S")
    usage = "".join(line + "\n" for line in _USAGE.splitlines()[:2]) + "\t0  -  Run Bytes Sent By Job\n"
    usage += "\t0  -  Run Bytes Received By Job\n"
    text = f"{head(EVICTED, cluster, proc)} {stamp} Job was evicted.\n\t(0) Job was not checkpointed.\n{usage}...\n"
    return Event(EVICTED, cluster, proc, text, nth)


def terminate(cluster: int, proc: int, when: float, exit_code: int, signal: int) -> Event:
    """005: the pod ended with an exit code (or was killed by ``signal``)."""
    if signal:
        first = f"(0) Abnormal termination (signal {signal})\n\t(0) No core file"
    else:
        first = f"(1) Normal termination (return value {exit_code})"
    stamp = datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S")
    text = f"{head(TERMINATE, cluster, proc)} {stamp} Job terminated.\n\t{first}\n{_USAGE}...\n"
    return Event(TERMINATE, cluster, proc, text, 1)


def aborted(cluster: int, proc: int, when: float, reason: str) -> Event:
    """009: condor_rm (the reason is the schedd's RemoveReason)."""
    return _event(ABORTED, cluster, proc, when, "Job was aborted.", [_one_line(reason)], 1)


def held(cluster: int, proc: int, when: float, reason: str, code: int, subcode: int, nth: int) -> Event:
    """012: on hold, by the bridge (a refusal, a failure it detected) or by the user."""
    body = [_one_line(reason), f"Code {code} Subcode {subcode}"]
    return _event(HELD, cluster, proc, when, "Job was held.", body, nth)
