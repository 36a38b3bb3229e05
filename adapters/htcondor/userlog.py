"""Writing a job's user log with its owner's rights, never the bridge's.

The daemon runs as the unprivileged bridge user and cannot (and must not) write users' files. It
hands each event to a small fixed program, ``site/batch-bridge-userlog``, run through sudo as the
job's owner: sudoers grants the bridge user that one program, as the site's batch users only
(docs/admin/htcondor.md). The kernel then checks the owner's own rights on the path, so a log the
owner could not write is not written, and a symlink planted in its place is not followed. The
program appends an event only while the log holds fewer than ``nth`` of that code for the job, so
a daemon that repeats a step after a restart never writes an event twice. No shell is involved:
the argv is fixed and the event goes through stdin.
"""

from __future__ import annotations

import logging
import re
import subprocess
from typing import Protocol

from adapters.htcondor.events import Event

log = logging.getLogger(__name__)
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


class UserLog(Protocol):
    def append(self, owner: str, path: str, event: Event) -> bool:
        """Append ``event`` to ``path`` as ``owner``; False (logged) when it could not be written."""
        ...


class NoUserLog:
    """The site runs no helper (a daemon in a pod without sudo): events are not written."""

    def append(self, owner: str, path: str, event: Event) -> bool:
        return False


class SudoUserLog:
    def __init__(self, sudo: str, helper: str, timeout_s: float = 10.0) -> None:
        self.sudo, self.helper, self.timeout_s = sudo, helper, timeout_s

    def append(self, owner: str, path: str, event: Event) -> bool:
        if not _USER.match(owner) or owner == "root" or not path.startswith("/"):
            log.warning("user log %r of job %d.%d: owner %r not written", path, event.cluster, event.proc, owner)
            return False
        argv = [self.sudo, "-n", "-u", owner, "--", self.helper, path, str(event.nth)]
        try:
            proc = subprocess.run(
                argv, input=event.text.encode(), capture_output=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("user log %s of job %d.%d: %s", path, event.cluster, event.proc, exc)
            return False
        if proc.returncode != 0:
            why = proc.stderr.decode(errors="replace").strip()[:300]
            log.warning("user log %s of job %d.%d not written: %s", path, event.cluster, event.proc, why)
            return False
        return True
