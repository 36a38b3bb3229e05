"""The narrow port to slurmctld, and its two backends: slurmrestd with a JWT, and the Slurm CLI's --json.

Both speak the same job records (OpenAPI v0.0.42 ``job_info``): slurmrestd returns them, and
``squeue --json`` prints the same schema. Every call is one Slurm RPC (bulk where Slurm has a bulk
form), except ``records`` over REST, one per id (slurmrestd reads one job per request). The daemon's
poll is one ``states()`` listing plus ``records()`` of what changed (``adapters.slurm.view``). Nothing
here runs a shell: the CLI backend passes argv lists, and values never reach a command line unquoted.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from bridge.domain.errors import BridgeError

Record = dict[str, Any]
API = "v0.0.42"
INVALID_JOB_ID = 2017  # ESLURM_INVALID_JOB_ID: purged, or never existed


class SlurmError(BridgeError):
    """slurmctld (or slurmrestd) refused or failed a request; the message is Slurm's own.
    ``detail`` is Slurm's text alone, ``status`` the HTTP status (0: none), for callers that show it."""

    def __init__(self, message: str, numbers: Sequence[int] = (), detail: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.numbers, self.detail, self.status = tuple(numbers), detail or message, status


class SlurmTransport(Protocol):
    name: str

    def jobs(self) -> list[Record]:
        """Every job slurmctld holds in memory (pending, running and recently ended)."""
        ...

    def states(self) -> list[tuple[str, str]]:
        """(record id, state) of every job in memory: the light listing a poll starts with."""
        ...

    def records(self, ids: Iterable[str]) -> Iterable[Record]:
        """Full records of ``ids`` (an array's id: all its records), as they arrive; purged ids are left
        out. A caller that slims each one as it comes holds a few full records at a time, not all."""
        ...

    def address(self, job_id: str, array_id: str | None, task: int | None) -> str:
        """The id to pass to the other calls for this job (array tasks differ between backends)."""
        ...

    def script(self, job_id: str) -> str:
        """The batch script as slurmctld stores it."""
        ...

    def update(self, job_id: str, admin_comment: str, release: bool = False, clear_extra: bool = False) -> None:
        """Set AdminComment; with ``release`` also StartTime=now; ``clear_extra`` empties Extra. One RPC."""
        ...

    def signal(self, job_ids: Sequence[str], signal: str = "URG") -> None:
        """Send ``signal`` to the batch step (the gateway shim) of each job."""
        ...

    def cancel(self, job_id: str) -> None:
        """scancel the job (as the bridge, an administrator)."""
        ...

    def split(self, array_id: str, indexes: Sequence[int], admin_comment: str, task_comment: str) -> bool:
        """Give the array's pending tasks (``indexes``, sorted) their own job records by admin updates
        (two different AdminComment values, as the split needs); False when the backend cannot address
        array tasks."""
        ...

    def annotate_ended(self, job_id: str, admin_comment: str) -> None:
        """Set AdminComment of a job that has ended (in the accounting record)."""
        ...


class Counted:
    """A transport that counts its calls by method (the benchmark's Slurm RPCs per poll and per job)."""

    def __init__(self, inner: SlurmTransport) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    def __getattr__(self, method: str) -> Any:
        target = getattr(self.inner, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            if method != "address":  # not a call to Slurm
                self.calls[method] += 1
            return target(*args, **kwargs)

        return call


# --- slurmrestd ------------------------------------------------------------------------------------
class RestTransport:
    """slurmrestd with ``X-SLURM-USER-NAME``/``X-SLURM-USER-TOKEN``; the token file is re-read on change
    (or a fixed ``token``: the SDK's user passes hers)."""

    name = "rest"

    def __init__(
        self,
        url: str,
        user: str,
        token_file: str = "",
        timeout_s: float = 10.0,
        fetchers: int = 4,
        token: str | None = None,
    ) -> None:
        self.url, self.user, self.token_file, self.timeout = url.rstrip("/"), user, token_file, timeout_s
        self.fetchers = fetchers  # concurrent record reads (slurmrestd serves them in parallel)
        self._token: tuple[float, str] | None = None if token is None else (-1.0, token)

    def _token_value(self) -> str:
        if self._token is not None and self._token[0] < 0:
            return self._token[1]
        path = Path(self.token_file)
        mtime = path.stat().st_mtime
        if self._token is None or self._token[0] != mtime:
            self._token = (mtime, path.read_text().strip())
        return self._token[1]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; slurmrestd's errors (in an HTTP error or a 200 body) raise SlurmError."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("X-SLURM-USER-NAME", self.user)
        req.add_header("X-SLURM-USER-TOKEN", self._token_value())
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            text, numbers = _errors(payload)
            raise SlurmError(f"slurmrestd {method} {path}: HTTP {exc.code}: {text}", numbers, text, exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise SlurmError(f"slurmrestd {method} {path}: {exc}", detail=str(exc)) from None
        result = json.loads(payload or b"{}")
        if result.get("errors"):
            text, numbers = _errors(payload)
            raise SlurmError(f"slurmrestd {method} {path}: {text}", numbers, text)
        return result

    def jobs(self) -> list[Record]:
        jobs: list[Record] = self.call("GET", f"/slurm/{API}/jobs/").get("jobs", [])
        return jobs

    def states(self) -> list[tuple[str, str]]:
        # Listed as "ID" or "ID_TASK", ID being the record's own id (the array's for unsplit tasks).
        listed = self.call("GET", f"/slurm/{API}/jobs/state/").get("jobs", [])
        return [(str(j["job_id"]).partition("_")[0], "+".join(j.get("state") or ["PENDING"])) for j in listed]

    def records(self, ids: Iterable[str]) -> Iterator[Record]:
        with ThreadPoolExecutor(max_workers=self.fetchers) as pool:
            for recs in pool.map(self._record, ids):
                yield from recs

    def _record(self, job_id: str) -> list[Record]:
        try:
            jobs: list[Record] = self.call("GET", f"/slurm/{API}/job/{urllib.parse.quote(job_id)}").get("jobs", [])
        except SlurmError as exc:
            if INVALID_JOB_ID in exc.numbers:
                return []
            raise
        return jobs

    def address(self, job_id: str, array_id: str | None, task: int | None) -> str:
        # slurmrestd takes no task ids, and job/<id> of the task that kept the array's id is that task.
        return job_id

    def script(self, job_id: str) -> str:
        # slurmrestd has no batch-script endpoint; slurmdbd keeps it (AccountingStoreFlags=job_script).
        result = self.call("GET", f"/slurmdb/{API}/job/{urllib.parse.quote(job_id)}")
        for job in result.get("jobs", []):
            script = job.get("script")
            if script:
                return str(script)
        raise SlurmError(f"job {job_id}: slurmdbd has no batch script (is AccountingStoreFlags=job_script set?)")

    def update(self, job_id: str, admin_comment: str, release: bool = False, clear_extra: bool = False) -> None:
        body: dict[str, Any] = {"admin_comment": admin_comment}
        if clear_extra:
            body["extra"] = ""
        if release:
            body["begin_time"] = {"set": True, "infinite": False, "number": int(time.time())}
        self.call("POST", f"/slurm/{API}/job/{urllib.parse.quote(job_id)}", body)

    def signal(self, job_ids: Sequence[str], signal: str = "URG") -> None:
        for job_id in job_ids:
            query = urllib.parse.urlencode({"signal": signal, "flags": "BATCH_JOB"})
            self.call("DELETE", f"/slurm/{API}/job/{urllib.parse.quote(job_id)}?{query}")

    def cancel(self, job_id: str) -> None:
        self.call("DELETE", f"/slurm/{API}/job/{urllib.parse.quote(job_id)}")

    def split(self, array_id: str, indexes: Sequence[int], admin_comment: str, task_comment: str) -> bool:
        # slurmrestd 24.11 refuses updates of array tasks ("Submit job update against Array Job's
        # JobID instead of array task id"): tasks get their own ids only when Slurm starts them.
        return False

    def annotate_ended(self, job_id: str, admin_comment: str) -> None:
        # slurmrestd 24.11 can change neither an ended job (HTTP 500 "Job update requested failed") nor
        # an accounting record (no slurmdb job update endpoint): the AdminComment written at release
        # already says that no outcome was written, which is the flag. Nothing more to do here.
        return None


def _error_text(entry: dict[str, Any]) -> str:
    """Both of Slurm's fields, "error: description": the error ("Invalid partition name specified") is
    often the part a user needs, the description where slurmrestd failed ("Job submission failed")."""
    parts = [str(entry[k]) for k in ("error", "description") if entry.get(k)]
    return ": ".join(dict.fromkeys(parts)) or str(entry)


def _errors(payload: bytes) -> tuple[str, list[int]]:
    """slurmrestd's errors (each "error: description"), and their Slurm error numbers."""
    try:
        data = json.loads(payload or b"{}")
    except ValueError:
        return payload.decode(errors="replace")[:300], []
    errs = [e for e in data.get("errors") or [] if isinstance(e, dict)]
    text = "; ".join(_error_text(e) for e in errs) or "no detail"
    return text, [int(e["error_number"]) for e in errs if isinstance(e.get("error_number"), int)]


# --- Slurm CLI -------------------------------------------------------------------------------------
class CliTransport:
    """The Slurm commands on this host (or behind ``prefix``, e.g. a wrapper entering a Slurm host)."""

    name = "cli"

    def __init__(self, prefix: Sequence[str] = (), timeout_s: float = 30.0) -> None:
        self.prefix, self.timeout = list(prefix), timeout_s

    def _run(self, *argv: str) -> str:
        try:
            proc = subprocess.run(
                [*self.prefix, *argv], capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlurmError(f"{argv[0]}: {exc}") from None
        if proc.returncode != 0:
            raise SlurmError(f"{' '.join(argv[:2])}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def jobs(self) -> list[Record]:
        jobs: list[Record] = json.loads(self._run("squeue", "--json", "--states=all")).get("jobs", [])
        return jobs

    def states(self) -> list[tuple[str, str]]:
        # %A: the record's own id (the array's for unsplit tasks, one line per task with --array).
        out = self._run("squeue", "--noheader", "--states=all", "--array", "--format=%A|%T")
        return [(rid, state) for line in out.splitlines() for rid, _, state in [line.strip().partition("|")] if rid]

    def records(self, ids: Iterable[str]) -> Iterator[Record]:
        wanted = list(ids)
        for start in range(0, len(wanted), 100):  # argv stays short, and so does the JSON held at once
            chunk = ",".join(wanted[start : start + 100])
            try:
                yield from json.loads(self._run("squeue", "--json", "--states=all", f"--jobs={chunk}")).get("jobs", [])
            except SlurmError as exc:
                if "Invalid job id" not in str(exc):  # one id, purged: squeue's only way to say so
                    raise

    def address(self, job_id: str, array_id: str | None, task: int | None) -> str:
        # scontrol/scancel of an array's id mean every task of it: name a task as ARRAY_TASK.
        return f"{array_id}_{task}" if array_id and task is not None else job_id

    def script(self, job_id: str) -> str:
        return self._run("scontrol", "write", "batch_script", job_id, "-")

    def update(self, job_id: str, admin_comment: str, release: bool = False, clear_extra: bool = False) -> None:
        argv = ["scontrol", "update", f"JobId={job_id}", f"AdminComment={admin_comment}"]
        if clear_extra:
            argv.append("Extra=")
        if release:
            argv.append("StartTime=now")
        self._run(*argv)

    def signal(self, job_ids: Sequence[str], signal: str = "URG") -> None:
        if job_ids:
            self._run("scancel", "--batch", f"--signal={signal}", *job_ids)

    def cancel(self, job_id: str) -> None:
        self._run("scancel", job_id)

    def split(self, array_id: str, indexes: Sequence[int], admin_comment: str, task_comment: str) -> bool:
        # An admin update of some tasks splits them out (an update of all of them changes the array
        # record alone, and one that changes nothing splits nothing): the array record first, then
        # every task but the last with a different value; the array record is then the last task.
        self._run("scontrol", "update", f"JobId={array_id}", f"AdminComment={admin_comment}")
        if len(indexes) > 1:
            tasks = f"JobId={array_id}_[{ranges(indexes[:-1])}]"
            self._run("scontrol", "update", tasks, f"AdminComment={task_comment}")
        return True

    def annotate_ended(self, job_id: str, admin_comment: str) -> None:
        self._run("sacctmgr", "-i", "modify", "job", "where", f"jobid={job_id}", "set", f"AdminComment={admin_comment}")


def ranges(indexes: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (the form scontrol takes between brackets)."""
    parts: list[str] = []
    start = prev = indexes[0]
    for i in [*indexes[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}-{prev}" if prev != start else str(start))
        if i is not None:
            start = prev = i
    return ",".join(parts)
