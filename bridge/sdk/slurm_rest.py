"""The user's own slurmrestd client: the daemon's RestTransport with her JWT, Slurm's own error text.

The token comes from ``token_file`` or ``$SLURM_JWT`` (what ``scontrol token`` prints); the user name
sent is the caller's from NSS, and slurmrestd checks it against the token, so nobody can act as
another user. The REST call and its error parsing are the transport's (adapters.slurm.transport);
here only the calls the daemon does not make (submit, slurmdbd by id) and the SDK's exceptions.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from adapters.slurm.transport import API, RestTransport, SlurmError
from bridge.sdk.errors import BackendError, SdkError, SubmitError

Record = dict[str, Any]


class SlurmRest:
    def __init__(self, url: str, user: str, token_file: str | None = None, timeout_s: float = 30.0) -> None:
        token = Path(token_file).read_text().strip() if token_file else os.environ.get("SLURM_JWT", "")
        if not token:
            raise SdkError("slurm: no JWT: pass token_file= or set $SLURM_JWT (scontrol token)")
        self.transport = RestTransport(url, user, timeout_s=timeout_s, token=token.removeprefix("SLURM_JWT="))
        self.calls = 0  # slurmrestd requests

    @contextlib.contextmanager
    def _sdk_errors(self, what: str, error: type[BackendError] = BackendError, calls: int = 1) -> Iterator[None]:
        self.calls += calls
        try:
            yield
        except SlurmError as exc:
            raise error("slurm", what, exc.detail, exc.status) from None

    def submit(self, script: str, job: Record) -> int:
        path = f"/slurm/{API}/job/submit"
        with self._sdk_errors(f"POST {path}", SubmitError):
            result = self.transport.call("POST", path, {"script": script, "job": job})
        return int(result["job_id"])

    def jobs(self) -> list[Record]:
        """Every job slurmctld holds, in full (one RPC, but heavy: for one-off look-ups only)."""
        with self._sdk_errors("GET jobs"):
            return self.transport.jobs()

    def states(self) -> list[tuple[str, str]]:
        """(record id, state) of every job: the light listing each poll starts with."""
        with self._sdk_errors("GET jobs/state"):
            return self.transport.states()

    def records(self, ids: Iterable[str]) -> list[Record]:
        wanted = list(ids)
        with self._sdk_errors("GET job", calls=len(wanted)):
            return list(self.transport.records(wanted))

    def accounting(self, job_id: str) -> list[Record]:
        """The job (and its array tasks) from slurmdbd, once slurmctld has forgotten it."""
        path = f"/slurmdb/{API}/job/{urllib.parse.quote(job_id)}"
        with self._sdk_errors(f"GET {path}"):
            jobs: list[Record] = self.transport.call("GET", path).get("jobs", [])
        return jobs

    def cancel(self, job_id: str) -> None:
        with self._sdk_errors(f"DELETE job {job_id}"):
            self.transport.cancel(job_id)
