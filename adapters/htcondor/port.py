"""The HTCondor side of the engine's BatchPort: an external manager of the jobs the site selected.

Each poll is a few schedd calls whatever the number of jobs: one edit per distinct deferred change
(pending reasons, finished removals: most jobs share theirs), one constraint edit claims
every selected idle job nobody else manages (``record.claimable``: a running, held, removed or
already-claimed job cannot match, so two daemons or the negotiator never share one), one query reads
every job this manager manages (a few attributes), and one reads the whole ads of the claimed jobs
still to take in. The phase of each job comes from ``record.PHASES``.

Actions write one edit (one transaction) each, built by ``edits``; the user-log event of a transition
is appended before its edit, through the owner's helper, which never writes an event twice. So a
daemon killed between the two repeats the step and lands on the same log and the same ad.

A cluster from ``queue N`` becomes one Kubernetes Job per proc, not one Indexed Job: procs differ in
anything the description varies per item (arguments, paths, requests, even the executable), each
proc is held, released, removed and accounted on its own (condor_rm 12.3, condor_hold 12.4), and each
writes its own events; an Indexed Job's pods share one template and one fate.
"""

from __future__ import annotations

import logging
import pwd
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from adapters.htcondor import edits
from adapters.htcondor import events as ev
from adapters.htcondor.ad import AdContext, AdView, to_ir, view_of
from adapters.htcondor.record import KEEP, CondorJob, State, Status, claimable, in_state, managed_by, parse, phase
from adapters.htcondor.settings import CondorSettings
from adapters.htcondor.transport import CondorError, Counted, Schedd
from adapters.htcondor.userlog import UserLog
from bridge.domain.errors import PolicyError, TranslationError
from bridge.domain.ir import BatchJob, Identity, Source
from bridge.domain.lifecycle import BatchPhase, Outcome
from bridge.domain.naming import job_name
from bridge.engine.identity import from_nss
from bridge.engine.ports import BatchRecord

log = logging.getLogger(__name__)
RUNNING_TEXT = "k8s Running on "  # the engine's text for a running pod: "k8s Running on <node>"


def owner_identity(owner: str) -> Identity:
    """uid, gid and groups of the schedd's authenticated Owner, from NSS on the bridge host."""
    try:
        entry = pwd.getpwnam(owner)
    except (KeyError, ValueError):
        raise PolicyError(f"job owner {owner!r} is unknown to NSS on the bridge host") from None
    return from_nss(owner, entry.pw_uid)


class CondorPort:
    source = Source.HTCONDOR

    def __init__(
        self,
        schedd: Schedd,
        settings: CondorSettings,
        cluster: str,
        userlog: UserLog,
        clock: Callable[[], float] = time.time,
        identity: Callable[[str], Identity] = owner_identity,
    ) -> None:
        self.counted = Counted(schedd)
        self.schedd: Schedd = self.counted
        self.settings, self.daemon, self.cluster = settings, settings.daemon, cluster
        self.userlog, self.clock, self._identity = userlog, clock, identity
        self._highest = 0  # the highest cluster id among managed jobs seen
        self._runs: dict[str, int] = {}  # job id -> its current run, from the last poll
        self._finished: set[str] = set()  # keys this process wrote an outcome for, until a poll shows it
        self._views: dict[str, AdView] = {}  # claimed jobs to take in: what view_of read of their whole ad
        # Edits written at the next poll, batched: (condition, attributes) -> job ids.
        self._deferred: dict[tuple[str, tuple[tuple[str, object], ...]], set[str]] = {}
        self._lock = threading.Lock()  # workers finish and report while the poll thread prunes and flushes
        self._checks: dict[str, _Check] = {}  # job id -> the transition edit the next poll verifies
        self._polls = 0

    # --- intake ----------------------------------------------------------------------------------
    def poll(self) -> list[BatchRecord]:
        now = int(self.clock())
        manager = self.daemon.manager
        with self._lock:
            self._polls += 1
            seq = self._polls
        self._flush()
        self.schedd.edit_where(claimable(manager), edits.claim(manager, now))
        jobs = [j for ad in self.schedd.query(managed_by(manager), KEEP) if (j := parse(_plain(ad))) is not None]
        self._verify({j.job_id: j for j in jobs}, seq)
        self._read_views([j for j in jobs if j.state is State.CLAIMED])
        out: list[BatchRecord] = []
        fixes: list[tuple[list[str], edits.Edit]] = []
        for job in jobs:
            if job.state is State.CLAIMED and job.job_id in self._views:
                job = replace(job, view=self._views[job.job_id])
            job_phase, known = phase(job)
            if job.state is State.RUNNING and job.status in (Status.IDLE, Status.COMPLETED):
                # The owner (or a schedd restart) changed JobStatus of a job the bridge runs: re-assert.
                fixes.append(([job.job_id], edits.running(job, self._host(job), job.node, job.reported, now)))
            out.append(
                BatchRecord(
                    key=job.kube_id,
                    phase=job_phase,
                    outcome_known=known,
                    kube_id=job.kube_id,
                    reported=job.reported,
                    native=job,
                    submitted=job.submitted,
                )
            )
        for ids, fix in fixes:  # rare: one edit each
            self.schedd.edit(ids, fix)
        self._runs = {j.job_id: j.run for j in jobs}
        self._highest = max([self._highest, *(j.cluster for j in jobs)])
        shown = {r.key for r in out if r.outcome_known or r.phase is not BatchPhase.READY}
        with self._lock:
            self._finished &= {r.key for r in out} - shown
        return out

    def _read_views(self, claimed: list[CondorJob]) -> None:
        """The evaluated views of claimed jobs to take in, read once per job (whole ads, by cluster)."""
        missing = sorted({j.cluster for j in claimed if j.job_id not in self._views})
        if missing:
            clusters = " || ".join(f"ClusterId == {c}" for c in missing)
            for ad in self.schedd.query(
                f'{managed_by(self.daemon.manager)} && BridgeState == "claimed" && ({clusters})'
            ):
                self._views[f"{ad.get('ClusterId')}.{ad.get('ProcId')}"] = view_of(ad)
        wanted = {j.job_id for j in claimed}
        self._views = {k: v for k, v in self._views.items() if k in wanted}

    def gone(self, kube_id: str) -> bool:
        job_id, _, run = kube_id.partition(".r")
        cluster, _, proc = job_id.partition(".")
        if not (cluster.isdigit() and proc.isdigit() and (run.isdigit() or not run)):
            return False  # not an id this schedd issues: someone else's object
        if job_id in self._runs:
            return int(run or 0) != self._runs[job_id]  # a run that a hold ended
        return 0 < int(cluster) <= self._highest

    def to_ir(self, record: BatchRecord) -> BatchJob:
        job: CondorJob = record.native
        view = job.view
        if view is None:
            raise CondorError(f"job {job.job_id}: its whole ad was not read yet (retried, never refused for it)")
        if self.daemon.uid_domain and job.user != f"{job.owner}@{self.daemon.uid_domain}":
            raise PolicyError(f"job User {job.user!r} is not {job.owner}@{self.daemon.uid_domain}")
        identity = self._identity(job.owner)
        try:
            ir = to_ir(view, AdContext(identity, self.cluster), self.settings)
        except ValueError as exc:  # pydantic: a value the IR refuses
            raise TranslationError(f"the job ad does not describe a job the bridge can run: {exc}") from None
        return ir if job.run == 0 else ir.model_copy(update={"source_id": job.kube_id})

    # --- batch-side actions ----------------------------------------------------------------------
    def _host(self, job: CondorJob) -> str:
        """RemoteHost: the run's Kubernetes Job (its pods are named after it) and node."""
        return f"{job_name(self.cluster, self.source.value, job.kube_id)}@{job.node or 'kubernetes'}"

    def _event(self, job: CondorJob, event: ev.Event) -> None:
        for path in job.logs:
            self.userlog.append(job.owner, path, event)

    def _edit(self, job: CondorJob, edit: edits.Edit, check: str | None = None) -> None:
        """One transaction; with ``check``, the next poll verifies BridgeState (the bindings may report
        a refused edit) rather than a re-read now: the bindings serialise every schedd call of the
        process under one lock, and a re-read per transition doubled the calls the workers wait for."""
        self.schedd.edit([job.job_id], edit)
        if check is not None:
            with self._lock:
                self._checks[job.job_id] = _Check(edit, job.state.value, check, self._polls)

    def _verify(self, jobs: dict[str, CondorJob], seq: int) -> None:
        """Transition edits written before this poll's query: one the schedd did not keep (the job is
        still where it was) is written again, only onto that state; a job that moved on is left alone."""
        with self._lock:
            due = {k: c for k, c in self._checks.items() if c.polls < seq}
            for key in due:
                del self._checks[key]
        for job_id, check in due.items():
            job = jobs.get(job_id)
            if job is None or job.state.value != check.was:
                continue  # kept, moved on since, or gone from the queue
            log.warning("job %s: the schedd did not keep BridgeState=%r: written again", job_id, check.want)
            where = f"ClusterId == {job.cluster} && ProcId == {job.proc} && {in_state(check.was)}"
            self.schedd.edit_where(where, check.edit)
            with self._lock:
                self._checks.setdefault(job_id, replace(check, polls=seq))

    def report(self, record: BatchRecord, text: str) -> None:
        """Pending reasons are batched: written at the next poll, only on jobs still claimed (a job that
        started or ended since keeps the status its own transition wrote)."""
        job: CondorJob = record.native
        self._later(job, 'BridgeState == "claimed"', {"KubernetesStatus": text[:500]})

    def _later(self, job: CondorJob, condition: str, edit: edits.Edit) -> None:
        key = (condition, tuple(sorted(edit.items())))
        with self._lock:
            for ids in self._deferred.values():
                ids.discard(job.job_id)  # the latest deferred edit of a job wins
            self._deferred.setdefault(key, set()).add(job.job_id)

    def _flush(self) -> None:
        """Deferred edits: one constraint edit per distinct change (most jobs share theirs), whatever
        the number of jobs; one that no longer applies matches nothing."""
        with self._lock:
            deferred, self._deferred = self._deferred, {}
        for (condition, items), ids in deferred.items():
            if not ids:
                continue
            which = " || ".join(f"(ClusterId == {c} && ProcId == {p})" for c, _, p in (i.partition(".") for i in ids))
            self.schedd.edit_where(f"{managed_by(self.daemon.manager)} && {condition} && ({which})", dict(items))

    def release(self, record: BatchRecord, text: str) -> None:
        """The pod runs: JobStatus 2 with its times and place, and the execute event."""
        job: CondorJob = record.native
        if self._done(record.key) or job.state is not State.CLAIMED:
            return  # the outcome is written (nothing else to start), or it runs already
        node = text.removeprefix(RUNNING_TEXT) if text.startswith(RUNNING_TEXT) else ""
        running = replace(job, node=node)
        now = int(self.clock())
        host = self._host(running)
        self._event(job, ev.execute(job.cluster, job.proc, now, host, job.starts + 1))
        self._edit(job, edits.running(running, host, node, text, now), check=State.RUNNING.value)

    def finish(self, record: BatchRecord, outcome: Outcome) -> None:
        job: CondorJob = record.native
        if record.outcome_known or self._done(record.key):
            return  # written before: never a second, different outcome
        now = int(self.clock())
        sub = edits.hold_subcode(outcome)
        detail = dict(outcome.detail)
        # The pod ran (and ended) before the bridge saw it run: its start first.
        ran = job.state is State.CLAIMED and (sub is None or "start" in detail)
        if ran:
            host = self._host(replace(job, node=detail.get("node", "")))
            self._event(job, ev.execute(job.cluster, job.proc, now, host, job.starts + 1))
        started = edits.unseen_start(job, edits.times(job, outcome, now).start) if ran else {}
        if sub is None:
            self._event(job, ev.terminate(job.cluster, job.proc, now, outcome.exit_code, outcome.signal))
            self._edit(job, edits.completed(job, outcome, now), check=State.DONE.value)
        elif sub is edits.HoldSub.PLATFORM and self.daemon.platform_failures == "rerun":
            if ran or job.state is State.RUNNING:  # a run was lost: evicted, as HTCondor writes it
                self._event(job, ev.evicted(job.cluster, job.proc, now, max(job.starts + (1 if ran else 0), 1)))
            self._edit(job, edits.rerun(job, outcome.reason, now) | started, check=State.HELD.value)
        else:
            reason = edits.hold_reason(outcome.reason)
            self._event(job, ev.held(job.cluster, job.proc, now, reason, edits.HOLD_CODE, sub, job.holds + 1))
            self._edit(job, edits.hold(job, outcome.reason, sub, now) | started, check=State.HELD.value)
        with self._lock:
            self._finished.add(record.key)

    def _done(self, key: str) -> bool:
        with self._lock:
            return key in self._finished

    def signal(self, record: BatchRecord) -> None:
        return None  # no gateway process: the outcome is in the ad, the schedd hands the job back

    def cancel(self, record: BatchRecord) -> None:
        return None  # HTCondor jobs have no dependency that can never be satisfied (DAGMan submits when ready)

    def audit(self, record: BatchRecord) -> None:
        """Finish what the user did: condor_rm (aborted event, ScheddDone) or condor_hold (held event, new run)."""
        job: CondorJob = record.native
        now = int(self.clock())
        if job.status is Status.REMOVED:
            reason = job.remove_reason or "removed"
            self._event(job, ev.aborted(job.cluster, job.proc, now, reason))
            # Batched (a removed cluster of thousands is one edit per poll); the next poll re-reads it.
            self._later(job, "JobStatus == 3", edits.removed(f"removed: {reason}"[:500]))
        elif job.status is Status.HELD and job.state in (State.CLAIMED, State.RUNNING):
            reason = job.hold_reason or "held"
            nth = job.holds + 1
            self._event(job, ev.held(job.cluster, job.proc, now, reason, job.hold_code, job.hold_subcode, nth))
            text = f"held: {reason}; the pod was stopped (its Kubernetes Job deleted)"[:500]
            self._edit(job, {**edits.between_runs(job), "KubernetesStatus": text}, check=State.HELD.value)
        else:
            log.warning("job %s ended outside batch-bridge (JobStatus %s): left as it is", job.job_id, job.status)


@dataclass(frozen=True)
class _Check:
    edit: edits.Edit
    was: str  # BridgeState the transition started from
    want: str  # BridgeState it writes
    polls: int  # polls begun before it was written: a later poll's query shows it


def _plain(ad: Any) -> dict[str, Any]:
    """A queried ad's attributes as Python values (expressions evaluated; what cannot be is None)."""
    out: dict[str, Any] = {}
    for key in KEEP:
        if key in ad:
            try:
                value = ad.eval(key) if hasattr(ad, "eval") else ad[key]
            except Exception:
                value = None
            out[key] = value if isinstance(value, str | int | float | bool) else None
    return out
