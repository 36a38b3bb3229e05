"""The user's own slurmrestd client: her JWT, her name, Slurm's own error text.

The token comes from ``token_file`` or ``$SLURM_JWT`` (what ``scontrol token`` prints); the user name
sent is the caller's from NSS, and slurmrestd checks it against the token, so nobody can act as
another user. One method per RPC the SDK makes.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from adapters.slurm.transport import API
from bridge.sdk.errors import BackendError, SdkError, SubmitError

Record = dict[str, Any]


def _errors(payload: bytes) -> str:
    """Slurm's error list, each as "error: description" (the daemon's transport keeps only one of
    the two; a user needs both: "Invalid partition name specified" is the error, not the description)."""
    try:
        data = json.loads(payload or b"{}")
    except ValueError:
        return payload.decode(errors="replace")[:300]
    errors = data.get("errors") or []
    return "; ".join(f"{e.get('error', '')}: {e.get('description', '')}".strip(": ") for e in errors) or "no detail"


class SlurmRest:
    def __init__(self, url: str, user: str, token_file: str | None = None, timeout_s: float = 30.0) -> None:
        self.url, self.user, self.timeout = url.rstrip("/"), user, timeout_s
        token = Path(token_file).read_text().strip() if token_file else os.environ.get("SLURM_JWT", "")
        if not token:
            raise SdkError("slurm: no JWT: pass token_file= or set $SLURM_JWT (scontrol token)")
        self._token = token.removeprefix("SLURM_JWT=")
        self.calls = 0

    def call(self, method: str, path: str, body: Any = None, error: type[BackendError] = BackendError) -> Record:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("X-SLURM-USER-NAME", self.user)
        req.add_header("X-SLURM-USER-TOKEN", self._token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        self.calls += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            raise error("slurm", f"{method} {path}", _errors(exc.read()), exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise error("slurm", f"{method} {path}", str(exc)) from None
        result: Record = json.loads(payload or b"{}")
        if result.get("errors"):
            raise error("slurm", f"{method} {path}", _errors(payload))
        return result

    def submit(self, script: str, job: Record) -> int:
        result = self.call("POST", f"/slurm/{API}/job/submit", {"script": script, "job": job}, SubmitError)
        return int(result["job_id"])

    def jobs(self) -> list[Record]:
        """Every job slurmctld holds (one RPC, whatever their number)."""
        jobs: list[Record] = self.call("GET", f"/slurm/{API}/jobs/").get("jobs", [])
        return jobs

    def accounting(self, job_id: str) -> list[Record]:
        """The job (and its array tasks) from slurmdbd, once slurmctld has forgotten it."""
        jobs: list[Record] = self.call("GET", f"/slurmdb/{API}/job/{urllib.parse.quote(job_id)}").get("jobs", [])
        return jobs

    def cancel(self, job_id: str) -> None:
        self.call("DELETE", f"/slurm/{API}/job/{urllib.parse.quote(job_id)}")
