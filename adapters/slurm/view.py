"""What the Slurm port knows of slurmctld's jobs between polls: a light listing each poll, full records
only where something may have changed.

slurmrestd's full listing (``GET /jobs/``) is pretty-printed JSON of every job in memory, and a job's
``job_resources`` grows with the gateway's CPU count: 83 MB for 1,000 jobs with a 256-CPU gateway,
10 s per call, measured on the lab. Polled twice a second it was the daemon's main cost in CPU and
memory. ``GET /jobs/state/`` (``squeue -o %A|%T`` on the CLI) lists only ids and states: 82 KB for the
same jobs. So each poll is one listing, plus full records for

1. jobs the view has not seen (a state change of a known job is taken from the listing itself);
2. jobs the port wrote to since (``touch``: the listing does not show an AdminComment change);
3. bridged jobs that wait on something Slurm decides (``waits_on``: a dependency, a user hold), whose
   Reason changes without a state change of their own: each poll for ``settle_s`` after a job they
   depend on (or a task of an array they depend on) changed state or left, since slurmctld
   re-evaluates dependencies at its next scheduling pass, not at once; else once per ``refresh_s``
   when they name no job (a user hold, ``singleton``), once per ``named_refresh_s`` when they do (a
   safety net only), oldest first.

at most ``budget`` records per poll (the rest wait for the next one), so the Slurm work of a poll is
bounded however many jobs slurmctld holds. A job that is not the bridge's is remembered by its states
only and never fetched again until they change.

The listing names a job by its own record id: an array's pending tasks that have no record of their
own yet are listed under the array's id (which is also that record's id), so ids here are record ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Record = dict[str, Any]


class Lister(Protocol):
    def states(self) -> list[tuple[str, str]]:
        """(record id, state) of every job in slurmctld's memory; an array's unsplit tasks repeat its id."""
        ...

    def records(self, ids: Iterable[str]) -> Iterable[Record]:
        """The full records of ``ids`` (an array's id: every record of the array) as they arrive; purged
        ids are absent."""
        ...


@dataclass
class _Entry:
    states: tuple[str, ...]
    record: Record | None  # None: not the bridge's job (its states alone are remembered)
    fetched: float


class JobView:
    def __init__(
        self,
        lister: Lister,
        keep: Callable[[Record], Record | None],
        waits_on: Callable[[Record], frozenset[str] | None],
        budget: int = 200,
        refresh_s: float = 10.0,
        named_refresh_s: float = 300.0,
        settle_s: float = 10.0,
        aliases: Callable[[Record], frozenset[str]] = lambda _: frozenset(),
        followable: Callable[[Record], bool] = lambda _: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``keep`` slims a fetched record to what the port needs of it, or None for another's job;
        ``waits_on`` names the jobs a kept record waits on (None: it waits on nothing Slurm decides; its
        own id: on slurmctld itself, which has not given it a reason yet, so it is read at each poll);
        ``aliases`` the other ids a kept record answers to in a dependency (a task: its array's id)."""
        self.lister, self.keep, self.waits_on, self.aliases, self.clock = lister, keep, waits_on, aliases, clock
        self.budget, self.refresh_s, self.named_refresh_s, self.settle_s = budget, refresh_s, named_refresh_s, settle_s
        self._moved_at: dict[str, float] = {}  # id -> when it (or a task of it) last changed state
        self.followable = followable  # records whose state change must be read (an array's own record)
        self._entries: dict[str, _Entry] = {}
        self._touched: set[str] = set()
        self._listed: dict[str, tuple[str, ...]] = {}
        self.highest_id = 0
        self.fetched_last = self.fetched_total = 0  # records read (the benchmark's figures)

    def touch(self, record_id: str) -> None:
        """The port changed this job: fetch its record again at the next refresh."""
        self._touched.add(record_id)

    def patch(self, record_id: str, fields: Mapping[str, Any]) -> None:
        """The port wrote ``fields`` to this job: keep them without reading the record back."""
        entry = self._entries.get(record_id)
        if entry is not None and entry.record is not None:
            entry.record = {**entry.record, **fields}  # a new dict: a poll in progress keeps its own view

    def refresh(self) -> None:
        listed: dict[str, list[str]] = {}
        for rid, state in self.lister.states():
            listed.setdefault(rid, []).append(state)
        current = {rid: tuple(sorted(states)) for rid, states in listed.items()}
        # Job ids only grow: the highest ever listed tells an issued-and-purged id from a future one.
        self.highest_id = max([self.highest_id, *(int(r) for r in current if r.isdigit())])
        for rid in [r for r in self._entries if r not in current]:
            del self._entries[rid]
        self._touched &= current.keys()
        now = self.clock()
        # Moved: listed before, and now in other states or gone (a job first seen is not news to anyone).
        for rid in {r for r in self._listed if current.get(r) != self._listed[r]}:
            entry = self._entries.get(rid)
            for name in {rid} | (self.aliases(entry.record) if entry and entry.record else frozenset()):
                self._moved_at[name] = now
        self._moved_at = {r: t for r, t in self._moved_at.items() if now - t <= self.settle_s}
        self._listed = current
        wanted = self._wanted(current, set(self._moved_at))
        # Slimmed one by one as they arrive: 200 full records held at once are ~13 MiB of Python objects.
        for rec in self.lister.records(wanted) if wanted else ():
            rid = str(rec.get("job_id"))
            if rid in current:
                self._entries[rid] = _Entry(current[rid], self.keep(rec), now)
                self._touched.discard(rid)
        self.fetched_last = len(wanted)
        self.fetched_total += len(wanted)

    def _follow(self, entry: _Entry, states: tuple[str, ...]) -> bool:
        """Take a state change from the listing alone (True), when one state is all a job has: what the
        port reads of a job whose state changed is its state; a read would cost an RPC per job (8,000
        cancelled at once would starve the intake of new ones)."""
        if len(set(states)) != 1 or (entry.record is not None and not self.followable(entry.record)):
            return False
        entry.states = states
        if entry.record is not None:
            entry.record = {**entry.record, "job_state": states[0].split("+")}
        return True

    def _wanted(self, current: Mapping[str, tuple[str, ...]], moved: set[str]) -> list[str]:
        # New jobs and failed writes first: they are what intake and repair wait on; pending ones before
        # the rest (a restarted daemon meets every ended job slurmctld still holds: they can wait).
        changed = [rid for rid in current if rid in self._touched or rid not in self._entries]
        changed.sort(key=lambda rid: "PENDING" not in current[rid])
        changed += [
            rid
            for rid, states in current.items()
            if (e := self._entries.get(rid)) is not None
            and rid not in self._touched
            and e.states != states
            and not self._follow(e, states)
        ]
        if len(changed) >= self.budget:
            return changed[: self.budget]
        taken, now = set(changed), self.clock()
        waiting = sorted(
            (e.fetched, rid)
            for rid, e in self._entries.items()
            if e.record is not None
            and rid not in taken
            and (on := self.waits_on(e.record)) is not None
            and (
                now - e.fetched >= (self.named_refresh_s if on else self.refresh_s)
                or not on.isdisjoint(moved)
                or rid in on
            )
        )
        return changed + [rid for _, rid in waiting[: self.budget - len(changed)]]

    def records(self) -> list[Record]:
        """The bridge's jobs as last fetched."""
        return [e.record for e in self._entries.values() if e.record is not None]

    def __len__(self) -> int:
        return len(self._entries)
