"""One list+watch of the caller's Jobs and pods per namespace (bridge.kube.reflector), feeding the hub.

Every change of a Job or of one of its pods recomputes that job's status (kube_status) and
publishes it; status never comes from per-job GETs, so a thousand tracked jobs cost two watches.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from datetime import UTC, datetime

from bridge.domain.states import JobState
from bridge.engine.observe import PodSummary, summarise_pod
from bridge.kube.client import Kube, KubeError
from bridge.kube.reflector import Key, Reflector
from bridge.sdk.hub import StatusHub
from bridge.sdk.kube_status import JobView, gone, status_of, summarise

SYNC_TIMEOUT_S = 30.0


class NamespaceWatch:
    def __init__(self, kube: Kube, namespace: str, selector: str, hub: StatusHub, image_pull_timeout_s: float) -> None:
        self.namespace, self.hub, self._pull_s, self._kube = namespace, hub, image_pull_timeout_s, kube
        self._ending: set[str] = set()
        self._lock = threading.RLock()
        self._ids: dict[str, str] = {}  # Job name -> SDK job id
        self._pods: defaultdict[str, dict[str, PodSummary]] = defaultdict(dict)  # Job name -> pods
        self._pod_job: dict[str, str] = {}  # pod name -> Job name
        self.jobs: Reflector[JobView] = Reflector(
            "jobs", kube.lister("jobs", namespace), selector, summarise, self._job_changed, namespace=namespace
        )
        self.pods: Reflector[PodSummary] = Reflector(
            "pods", kube.lister("pods", namespace), selector, summarise_pod, self._pod_changed, namespace=namespace
        )
        self._threads = [self.jobs.start(), self.pods.start()]

    def synced(self, timeout: float = SYNC_TIMEOUT_S) -> bool:
        return self.jobs.synced.wait(timeout) and self.pods.synced.wait(timeout)

    def job_id_of(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def names(self) -> list[str]:
        return [name for (_, name), _ in self.jobs.items()]

    def view(self, name: str) -> JobView | None:
        return self.jobs.get((self.namespace, name))

    def _job_changed(self, key: Key, view: JobView | None) -> None:
        name = key[1]
        with self._lock:
            if view is None:
                job_id = self._ids.pop(name, None)
                if job_id is not None:
                    self.hub.publish(gone(job_id, self.hub.latest(job_id)))
                return
            self._ids[name] = self.job_id_of(name)
            self._recompute(name)

    def _pod_changed(self, key: Key, pod: PodSummary | None) -> None:
        with self._lock:
            job = self._pod_job.pop(key[1], None) if pod is None else pod.job_name
            if job is None:
                return
            if pod is None:
                self._pods[job].pop(key[1], None)
            else:
                self._pod_job[key[1]] = job
                self._pods[job][key[1]] = pod
            if job in self._ids:
                self._recompute(job)

    def _recompute(self, name: str) -> None:
        view = self.view(name)
        if view is None:
            return
        pods = list(self._pods.get(name, {}).values())
        status = status_of(self._ids[name], view, pods, datetime.now(UTC), self._pull_s)
        self.hub.publish(status)
        stuck = status.state is JobState.FAILED and pods and all(p.phase == "Pending" for p in pods)
        if stuck and not view.base.conditions and not view.base.deleting and name not in self._ending:
            # Failed as far as the user is concerned (an image that can never be used) while the
            # Job would wait on: delete it, as the adapters do, so nothing is left pending for ever.
            self._ending.add(name)
            threading.Thread(target=self._end, args=(name,), daemon=True).start()

    def _end(self, name: str) -> None:
        with contextlib.suppress(KubeError):
            self._kube.delete_job(self.namespace, name)

    def pods_of(self, name: str) -> list[PodSummary]:
        with self._lock:
            return list(self._pods.get(name, {}).values())

    def stop(self, timeout: float = 5.0) -> None:
        for reflector in (self.jobs, self.pods):
            reflector.interrupt()
        for thread in self._threads:
            thread.join(timeout)
