"""The level-triggered reconciler both front doors share.

Desired state comes from the batch system (one batched poll per interval, through a BatchPort);
observed state from the reflectors' watch of Jobs and pods. Each batch key is reconciled by one worker
at a time: the row of ``bridge.domain.lifecycle.TRANSITIONS`` for (batch phase, outcome known,
Kubernetes phase) names the action. Keys are queued by every poll and by every watch change, so a
pod's end reaches the batch system without waiting for the next poll.

No local database, on purpose: everything the bridge must remember lives where it cannot be lost or
diverge - the batch record (the adapter's marker: held, released, outcome) and the Kubernetes objects
(deterministic names, labels, annotations, status). A restarted daemon lists both and lands on the
same rows; create is create-or-adopt, release and signal are repeatable, and an outcome once written
is read back, never recomputed. The in-memory ``_Memo`` only bridges the gap until the next poll shows
what this process just wrote (it is never the truth for anything the batch record already says).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from bridge.domain import wellknown as wk
from bridge.domain.errors import BridgeError, TranslationError
from bridge.domain.lifecycle import Action, BatchPhase, KubePhase, Outcome, decide
from bridge.domain.naming import dns_label
from bridge.domain.policy import SitePolicy
from bridge.domain.states import JobState
from bridge.engine.observe import (
    EventSummary,
    JobSummary,
    Observation,
    PodSummary,
    observe,
    outcome_of,
    summarise_event,
    summarise_job,
    summarise_pod,
)
from bridge.engine.ports import BatchPort, BatchRecord
from bridge.engine.settings import EngineSettings
from bridge.engine.workqueue import WorkQueue
from bridge.kube.client import Kube, KubeError
from bridge.kube.event_sink import EventSink
from bridge.kube.events import job_event
from bridge.kube.objects import build_job
from bridge.kube.reflector import Key, Reflector
from bridge.kube.settings import KubeSettings
from bridge.kube.storage_sync import ensure_storage
from bridge.observability.logfields import job_fields
from bridge.observability.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Memo:
    released: bool = False
    outcome: Outcome | None = None
    reported: str = ""
    report_at: float = 0.0
    seen: str = ""  # the pending reason last observed, and since when: written only once it holds
    seen_at: float = 0.0
    signal_at: float = 0.0
    created_at: float = 0.0
    finished_at: float | None = None  # when the pod finished (epoch), until the batch record is final


@dataclass
class Stats:
    created: int = 0
    adopted: int = 0
    released: int = 0
    finished: int = 0
    refused: int = 0
    deleted: int = 0
    errors: int = 0
    polls: int = 0
    events: int = 0  # Kubernetes Events written (apiserver writes too)


def _find(reflectors: list[Reflector[T]], key: Key) -> T | None:
    """``key`` in whichever namespace's reflector holds it."""
    return next((v for r in reflectors if (v := r.get(key)) is not None), None)


def _signature(rec: BatchRecord) -> tuple[object, ...]:
    """What of a batch record can change the action taken for it."""
    return (rec.phase, rec.outcome_known, rec.reported, rec.running, rec.kube_id, rec.index)


# The batch phases as an admin reads them (batch_bridge_jobs{state}).
_STATE_OF: dict[BatchPhase, str] = {
    BatchPhase.WAITING: "waiting",
    BatchPhase.DOOMED: "waiting",
    BatchPhase.READY: "kubernetes_pending",
    BatchPhase.RELEASED: "running",
    BatchPhase.FINAL: "final",
}


def _epoch(stamp: str | None) -> float | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None
    except ValueError:
        return None


def refusal(exc: TranslationError) -> Outcome:
    return Outcome(state=JobState.FAILED, exit_code=1, reason=f"refused by batch-bridge: {exc}")


class Reconciler:
    def __init__(
        self,
        port: BatchPort,
        kube: Kube,
        policy: SitePolicy,
        kube_settings: KubeSettings,
        settings: EngineSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
    ) -> None:
        self.port, self.kube, self.policy, self.kube_settings, self.settings = (
            port,
            kube,
            policy,
            kube_settings,
            settings,
        )
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._source = port.source.value
        self.queue = WorkQueue()
        self.stats = Stats()
        self.stop_event = threading.Event()
        self.polled = threading.Event()
        self.last_poll_ok = 0.0  # monotonic time of the last poll that reached the batch system
        self._lock = threading.Lock()
        self.event_sink = EventSink(kube, on_written=self._event_written, busy=lambda: len(self.queue) > 0)
        self._records: dict[str, BatchRecord] = {}
        self._by_kube_id: dict[str, list[str]] = {}
        self._memo: dict[str, _Memo] = defaultdict(_Memo)
        self._jobs_by_source: dict[str, Key] = {}
        self._pods_by_job: dict[tuple[str, str], set[Key]] = defaultdict(set)
        # Reverse maps: a deletion finds its entries without scanning every job (10,000 tracked).
        self._source_of_job: dict[Key, str] = {}
        self._job_of_pod: dict[Key, tuple[str, str]] = {}
        self._orphan_polls: dict[str, int] = defaultdict(int)
        self._storage_ready: set[str] = set()
        self._signatures: dict[str, tuple[object, ...]] = {}
        self._next_resync = 0.0
        self._needs_storage = any(m.volume.kind == "csiStatic" for m in policy.storage)
        selector = ",".join(
            f"{k}={v}"
            for k, v in (
                (wk.LABEL_MANAGED_BY, wk.MANAGED_BY_VALUE),
                (wk.LABEL_SOURCE, port.source.value),
                (wk.LABEL_CLUSTER, port.cluster),
            )
        )
        namespaces: tuple[str | None, ...] = settings.watch_namespaces or (None,)
        self.jobs: list[Reflector[JobSummary]] = [
            Reflector("jobs", kube.lister("jobs", ns), selector, summarise_job, self._job_changed, ns)
            for ns in namespaces
        ]
        self.pods: list[Reflector[PodSummary]] = [
            Reflector("pods", kube.lister("pods", ns), selector, summarise_pod, self._pod_changed, ns)
            for ns in namespaces
        ]
        # Warning events are advisory (pending reasons): not part of synced(), so a missing grant or a
        # slow events watch never stops the bridge. Events carry no labels: selected by name prefix.
        ours = partial(summarise_event, prefix=dns_label(f"{port.source.value}-{port.cluster}") + "-")
        self.events: list[Reflector[EventSummary]] = [
            Reflector(
                "events", kube.lister("events", ns), "", ours, self._event_changed, ns, field_selector="type=Warning"
            )
            for ns in namespaces
        ]
        self._warnings: dict[tuple[str, str, str], tuple[Key, EventSummary]] = {}  # (ns, kind, name) -> newest
        self._warned: dict[Key, tuple[str, str, str]] = {}  # event -> what it is about
        self._threads: list[threading.Thread] = []

    # --- watch callbacks -------------------------------------------------------------------------
    def _job_changed(self, key: Key, job: JobSummary | None) -> None:
        with self._lock:
            if job is not None and job.source_id:
                self._jobs_by_source[job.source_id] = key
                self._source_of_job[key] = job.source_id
            elif job is None:
                sid = self._source_of_job.pop(key, None)
                if sid is not None and self._jobs_by_source.get(sid) == key:
                    del self._jobs_by_source[sid]
                    self._wake(sid)
                return
        if job is not None:
            self._wake(job.source_id)

    def _pod_changed(self, key: Key, pod: PodSummary | None) -> None:
        with self._lock:
            if pod is None:
                owner = self._job_of_pod.pop(key, None)
                if owner is not None and (pods := self._pods_by_job.get(owner)) is not None:
                    pods.discard(key)
                    if not pods:
                        del self._pods_by_job[owner]
            else:
                self._job_of_pod[key] = (pod.namespace, pod.job_name)
                self._pods_by_job[(pod.namespace, pod.job_name)].add(key)
        job_key = (key[0], pod.job_name) if pod else None
        if job_key is not None:
            job = self._job(job_key)
            if job is not None:
                self._wake(job.source_id)

    def _event_changed(self, key: Key, event: EventSummary | None) -> None:
        with self._lock:
            if event is None:
                gone = self._warned.pop(key, None)
                if gone is not None and self._warnings.get(gone, (None,))[0] == key:
                    del self._warnings[gone]
                return
            target = (event.namespace, event.kind, event.name)
            self._warned[key] = target
            held = self._warnings.get(target)
            if held is not None and held[1].at > event.at:
                return
            self._warnings[target] = (key, event)
        job_key = (event.namespace, event.name)
        if event.kind == "Pod" and (pod := self._pod(job_key)) is not None:
            job_key = (pod.namespace, pod.job_name)
        if (job := self._job(job_key)) is not None:
            self._wake(job.source_id)

    def _warning(self, job: JobSummary, pod: PodSummary | None) -> EventSummary | None:
        with self._lock:
            held = self._warnings.get((pod.namespace, "Pod", pod.name)) if pod else None
            held = held or self._warnings.get((job.namespace, "Job", job.name))
        return held[1] if held else None

    def _wake(self, kube_id: str) -> None:
        for key in self._by_kube_id.get(kube_id, [kube_id]):
            self.queue.add(key)

    # --- lookups ---------------------------------------------------------------------------------
    def _job(self, key: Key) -> JobSummary | None:
        return _find(self.jobs, key)

    def _pod(self, key: Key) -> PodSummary | None:
        return _find(self.pods, key)

    def observation(self, rec: BatchRecord) -> Observation:
        with self._lock:
            job_key = self._jobs_by_source.get(rec.kube_id)
        job = self._job(job_key) if job_key else None
        pod: PodSummary | None = None
        if job is not None:
            with self._lock:
                keys = list(self._pods_by_job.get((job.namespace, job.name), ()))
            pods = [p for k in keys if (p := self._pod(k)) is not None and (rec.index is None or p.index == rec.index)]
            pod = max(pods, key=lambda p: p.created, default=None)
        warning = self._warning(job, pod) if job is not None else None
        return observe(job, pod, self.clock(), self.settings.image_pull_timeout_s, warning)

    # --- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        for r in [*self._reflectors(), *self.events]:
            self._threads.append(r.start())
        self._threads.extend(self.event_sink.start())
        self._threads.append(threading.Thread(target=self._poll_loop, name="poll", daemon=True))
        self._threads[-1].start()
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._work_loop, name=f"worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def synced(self) -> bool:
        return self.polled.is_set() and all(r.synced.is_set() for r in self._reflectors())

    def _reflectors(self) -> list[Reflector[Any]]:
        return [*self.jobs, *self.pods]

    def stop(self) -> None:
        self.stop_event.set()
        self.queue.close()
        self.event_sink.close()
        for r in [*self._reflectors(), *self.events]:
            r.interrupt()  # stop() could wait a bookmark interval for an idle watch's next event

    def _poll_loop(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
                self.last_poll_ok = time.monotonic()
            except Exception as exc:  # the batch system may be down: keep the last view, retry
                self.metrics.api_errors.labels(self._source, "batch").inc()
                log.warning("batch poll failed: %s", exc)
            self.stop_event.wait(max(self.settings.poll_interval_s - (time.monotonic() - started), 0.01))

    def poll_once(self) -> None:
        records = self.port.poll()
        by_kube: dict[str, list[str]] = defaultdict(list)
        for rec in records:
            by_kube[rec.kube_id].append(rec.key)
        with self._lock:
            self._records = {r.key: r for r in records}
            self._by_kube_id = dict(by_kube)
            for key in list(self._memo):
                if key not in self._records:
                    del self._memo[key]
            previous, self._signatures = self._signatures, {r.key: _signature(r) for r in records}
        self.stats.polls += 1
        self.polled.set()
        self._count(records)
        # Level-triggered, but only what changed is queued each poll (watch events queue their own
        # jobs); everything is queued again every resync interval.
        resync = time.monotonic() >= self._next_resync
        if resync:
            self._next_resync = time.monotonic() + self.settings.resync_s
        for rec in records:
            if resync or previous.get(rec.key) != self._signatures[rec.key]:
                self.queue.add(rec.key)
        self._reap_orphans(set(by_kube))

    def _count(self, records: list[BatchRecord]) -> None:
        m, source = self.metrics, self._source
        m.polls.labels(source).inc()
        m.tracked.labels(source).set(len(records))
        counts = dict.fromkeys(_STATE_OF.values(), 0)
        for rec in records:
            counts[_STATE_OF[rec.phase]] += 1
            memo = self._memo.get(rec.key)
            if rec.phase is BatchPhase.FINAL and memo is not None and memo.finished_at is not None:
                m.to_final.labels(source).observe(max(time.time() - memo.finished_at, 0.0))
                memo.finished_at = None
        for state, n in counts.items():
            m.jobs.labels(source, state).set(n)

    def _reap_orphans(self, known: set[str]) -> None:
        """A live Job whose batch job vanished for good (purged, or never ours) is deleted."""
        if not all(r.synced.is_set() for r in self.jobs):
            return
        with self._lock:
            sources = dict(self._jobs_by_source)
        for sid, key in sources.items():
            if sid in known or not self.port.gone(sid):
                self._orphan_polls.pop(sid, None)
                continue
            job = self._job(key)
            if job is None or job.conditions or job.deleting:
                continue
            self._orphan_polls[sid] += 1
            if self._orphan_polls[sid] >= self.settings.orphan_grace_polls:
                log.warning("Job %s/%s: batch job %s is gone: deleting", key[0], key[1], sid,
                            extra=job_fields(self._source, sid, key[0], key[1]))  # fmt: skip
                self.kube.delete_job(*key)
                self.stats.deleted += 1
                self._orphan_polls.pop(sid, None)

    def _work_loop(self) -> None:
        while not self.stop_event.is_set():
            key = self.queue.get(timeout_s=0.5)
            if key is None:
                continue
            try:
                if self.synced():
                    self.reconcile(key)
                    self.queue.forget(key)
                else:
                    self.queue.add_after(key, 0.2)
            except Exception as exc:
                self.stats.errors += 1
                if isinstance(exc, BridgeError):
                    target = "kubernetes" if isinstance(exc, KubeError) else "batch"
                    self.metrics.api_errors.labels(self._source, target).inc()
                delay = self.queue.retry(key)
                log.warning("job %s: %s (retry in %.1fs)", key, exc, delay, exc_info=not isinstance(exc, KubeError),
                            extra=job_fields(self._source, key))  # fmt: skip
            finally:
                self.queue.done(key)

    # --- one key ---------------------------------------------------------------------------------
    def reconcile(self, key: str) -> Action:
        with self._lock:
            rec = self._records.get(key)
        if rec is None:
            return Action.NONE
        memo = self._memo[key]
        obs = self.observation(rec)
        phase = BatchPhase.RELEASED if rec.phase is BatchPhase.READY and memo.released else rec.phase
        action = decide(phase, rec.outcome_known or memo.outcome is not None, obs.phase)
        handler: Callable[[BatchRecord, Observation, _Memo], None] = getattr(self, f"_do_{action.value}")
        with self.metrics.reconcile.labels(self._source).time():
            handler(rec, obs, memo)
        self.metrics.transitions.labels(self._source, action.value).inc()
        return action

    def _since_submit(self, rec: BatchRecord) -> float | None:
        return max(time.time() - rec.submitted, 0.0) if rec.submitted else None

    def _do_none(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        return None

    def _storage(self, namespace: str) -> str | None:
        """Ensure the site storage claims of ``namespace`` (once per process); the reason when not bound."""
        if not self._needs_storage or namespace in self._storage_ready:
            return None
        result = ensure_storage(self.kube.api, self.policy, namespace, self.port.cluster, timeout=10)
        if result.ready:
            self._storage_ready.add(namespace)
            return None
        return result.reason or "site storage claims are not bound"

    def _do_create(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        try:
            objects = build_job(self.port.to_ir(rec), self.policy, self.kube_settings)
            waiting = self._storage(objects.job["metadata"]["namespace"])
            if waiting is not None:
                self._do_report(rec, Observation(KubePhase.PENDING, f"k8s Pending: storage: {waiting}"), memo)
                self.queue.add_after(rec.key, 5.0)
                return
            live, created = self.kube.create_or_adopt(objects)
        except TranslationError as exc:
            self.stats.refused += 1
            log.info("job %s refused: %s", rec.key, exc, extra=job_fields(self._source, rec.key))
            self._finish(rec, memo, refusal(exc))
            return
        except KubeError as exc:
            if exc.status not in (400, 403, 409, 422):
                raise  # transient: retried with backoff
            self.stats.refused += 1
            self._finish(rec, memo, Outcome(state=JobState.FAILED, exit_code=1, reason=f"Kubernetes refused: {exc}"))
            return
        if created:
            self.stats.created += 1
            if (waited := self._since_submit(rec)) is not None:
                self.metrics.intake.labels(self._source).observe(waited)
        else:
            self.stats.adopted += 1
            m = live.get("metadata", {})
            self._event(m.get("namespace"), m.get("name"), m.get("uid"), "Adopted",
                        f"{self._source} job {rec.key}: an existing Job taken over (restart or failover)")  # fmt: skip
        meta = objects.job["metadata"]
        log.info("job %s: Kubernetes Job %s/%s %s", rec.key, meta["namespace"], meta["name"],
                 "created" if created else "adopted",
                 extra=job_fields(self._source, rec.key, meta["namespace"], meta["name"]))  # fmt: skip
        # No write to the batch system here: the watch brings the pod, and its reason is written only
        # if it is still pending after report_settle_s (most pods start first: one write saved per job).
        memo.created_at = time.monotonic()

    def _do_report(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        text = obs.reason
        now = time.monotonic()
        if not text or text in (rec.reported, memo.reported):
            return
        if text != memo.seen:
            memo.seen, memo.seen_at = text, now
        # A step a pod passes in passing costs no batch write; nor do a burst's routine steps.
        wait = max(
            memo.report_at + self.settings.report_min_interval_s - now,
            max(memo.created_at, memo.seen_at) + self.settings.report_settle_s - now,
            memo.created_at + self.settings.report_routine_after_s - now if obs.routine else 0.0,
        )
        if wait > 0:
            self.queue.add_after(rec.key, wait)
            return
        self.port.report(rec, text)
        memo.reported, memo.report_at = text, now

    def _do_release(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        text = memo.outcome.reason if memo.outcome else obs.reason
        self.port.release(rec, text)
        self._job_event(
            obs.job, "Released", f"{self._source} job {rec.key}: the batch system shows it running ({text})"
        )
        memo.released = True
        memo.reported = text
        self.stats.released += 1
        if (waited := self._since_submit(rec)) is not None:
            self.metrics.to_running.labels(self._source).observe(waited)

    def _finish(self, rec: BatchRecord, memo: _Memo, outcome: Outcome) -> None:
        self.port.finish(rec, outcome)
        memo.outcome, memo.signal_at = outcome, time.monotonic()
        memo.released = True
        self.stats.finished += 1
        self.queue.add_after(rec.key, self.settings.signal_repeat_s)

    def _do_finish(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        outcome = outcome_of(obs)
        self._finish(rec, memo, outcome)
        kind = "Normal" if outcome.state is JobState.SUCCEEDED else "Warning"
        self._job_event(obs.job, "BatchRecordFinal", f"{self._source} job {rec.key}: {outcome.reason}", kind)
        if (ended := _epoch(obs.pod.finished if obs.pod else None)) is not None:
            self.metrics.status_lag.labels(self._source).observe(max(time.time() - ended, 0.0))
            memo.finished_at = ended

    def _job_event(self, job: JobSummary | None, reason: str, message: str, kind: str = "Normal") -> None:
        if job is not None:
            self._event(job.namespace, job.name, job.uid, reason, message, kind)

    def _event(self, ns: str | None, name: str | None, uid: str | None, reason: str, message: str,
               kind: str = "Normal") -> None:  # fmt: skip
        if self.settings.events and ns and name and uid:
            self.event_sink.offer(job_event(ns, name, uid, reason, message, kind))

    def _event_written(self) -> None:
        with self._lock:
            self.stats.events += 1

    def _do_lost(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        reason = "NODE_FAIL: the Kubernetes Job disappeared before it finished (deleted outside batch-bridge?)"
        self._finish(rec, memo, Outcome(state=JobState.NODE_FAIL, exit_code=1, reason=reason))

    def _do_signal(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        now = time.monotonic()
        wait = memo.signal_at + self.settings.signal_repeat_s - now
        if wait > 0:
            self.queue.add_after(rec.key, wait)
            return
        if rec.running:
            self.port.signal(rec)
        elif rec.phase is BatchPhase.READY:
            self.port.release(rec, memo.outcome.reason if memo.outcome else "")
        memo.signal_at = now
        self.queue.add_after(rec.key, self.settings.signal_repeat_s)

    def _do_delete(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        job = obs.job
        if job is None:
            return
        if rec.index is None:
            if self.kube.delete_job(job.namespace, job.name):
                self.stats.deleted += 1
        elif obs.pod is not None:
            self.kube.delete_pod(obs.pod.namespace, obs.pod.name)
            self.stats.deleted += 1

    def _do_cancel(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        self.port.cancel(rec)

    def _do_audit(self, rec: BatchRecord, obs: Observation, memo: _Memo) -> None:
        self.port.audit(rec)


def summary(reconciler: Reconciler) -> dict[str, Any]:
    return {"tracked": len(reconciler._records), **reconciler.stats.__dict__}
