"""The schedd, behind the few calls the adapter makes (HTCondor's v1 Python bindings, IDTOKENS).

The v1 bindings (24.x wheels) are used for their edit with a whole ClassAd: every attribute of one
edit is set in one schedd transaction (htcondor2 edits one attribute per call and has no
transaction). Their edit_multiple raises NotImplementedError (24.12), so several jobs share one
call only when they get the same values (a list of ids, or a constraint). The bindings can report
success for an edit the schedd refused, and raise when a constraint matched nothing: callers re-read
what matters. Every call is counted (RPCs per change).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bridge.domain.errors import BridgeError

Edit = Mapping[str, object]


class CondorError(BridgeError):
    """The schedd could not be reached or refused a call."""


class Schedd(Protocol):
    def query(self, constraint: str, projection: Sequence[str] = ()) -> list[Any]:
        """Ads of the jobs matching ``constraint`` (every attribute when ``projection`` is empty)."""
        ...

    def edit_where(self, constraint: str, edit: Edit) -> int:
        """Set ``edit`` on every job matching ``constraint``, atomically per job; how many matched."""
        ...

    def edit(self, job_ids: Sequence[str], edit: Edit) -> None:
        """Set every attribute of ``edit`` on the jobs, in one transaction."""
        ...


class BindingsSchedd:
    """The real schedd. ``name`` None: the schedd of CONDOR_CONFIG's SCHEDD_HOST or local pool."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._schedd: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        from adapters.htcondor.bindings import htcondor

        with self._lock:
            if self._schedd is None:
                try:
                    collector = htcondor.Collector()
                    ad = collector.locate(htcondor.DaemonTypes.Schedd, self.name) if self.name else None
                    self._schedd = htcondor.Schedd(ad) if ad is not None else htcondor.Schedd()
                except Exception as exc:
                    raise CondorError(f"cannot locate the schedd {self.name or ''}: {exc}") from None
            return self._schedd

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            with self._lock:
                self._schedd = None  # located again next time (a restarted schedd has a new address)
            raise CondorError(f"schedd {what}: {exc}") from None

    @staticmethod
    def _ad(edit: Edit) -> Any:
        import classad

        return classad.ClassAd(dict(edit))

    def query(self, constraint: str, projection: Sequence[str] = ()) -> list[Any]:
        schedd = self._get()
        return list(self._call("query", schedd.query, constraint, list(projection)))

    def edit_where(self, constraint: str, edit: Edit) -> int:
        schedd = self._get()
        try:
            return int(schedd.edit(constraint, self._ad(edit)))
        except Exception as exc:
            if "Unable to edit jobs matching constraint" in str(exc):
                return 0  # nothing matched (the bindings raise); the caller re-reads anyway
            with self._lock:
                self._schedd = None
            raise CondorError(f"schedd edit: {exc}") from None

    def edit(self, job_ids: Sequence[str], edit: Edit) -> None:
        schedd = self._get()
        self._call("edit", schedd.edit, list(job_ids), self._ad(edit))


class Counted:
    """Counts the schedd calls by kind (the daemon's status line and the benchmark report them)."""

    def __init__(self, inner: Schedd) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def query(self, constraint: str, projection: Sequence[str] = ()) -> list[Any]:
        self.calls["query"] += 1
        return self.inner.query(constraint, projection)

    def edit_where(self, constraint: str, edit: Edit) -> int:
        self.calls["edit"] += 1
        return self.inner.edit_where(constraint, edit)

    def edit(self, job_ids: Sequence[str], edit: Edit) -> None:
        self.calls["edit"] += 1
        self.inner.edit(job_ids, edit)
