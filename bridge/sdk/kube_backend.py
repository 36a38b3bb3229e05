"""Backend ``kubernetes``: the caller's own kubeconfig, the site's policy and the adapters' builder.

A spec becomes the IR (identity from NSS for the calling uid), then ``build_job`` checks the site
policy (storage, identity, image, limits) and builds the same Job the adapters would; create-or-adopt
by the deterministic name makes a keyed submit idempotent. Job ids are ``namespace/name``. Status
comes from one watch per namespace (kube_watch). The site's storage claims in the namespace are
the site's to provision (``ensure_storage``, as for the adapters); the caller needs only Jobs, pods
and pods/log in it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from bridge.config.settings import BridgeSettings
from bridge.domain import wellknown as wk
from bridge.domain.errors import TranslationError
from bridge.domain.ir import BatchJob, Identity, Source
from bridge.domain.naming import label_value
from bridge.domain.policy import resolve_namespace
from bridge.domain.states import JobState
from bridge.kube.client import Kube, KubeError, api_client
from bridge.kube.objects import JobObjects, build_job, object_name
from bridge.kube.reads import pod_log
from bridge.sdk.backend import Dependency, Filter, LogSource
from bridge.sdk.errors import JobNotFound, PolicyRefused, SdkError, SubmitError
from bridge.sdk.hub import StatusHub
from bridge.sdk.identity import caller_identity
from bridge.sdk.kube_status import newest
from bridge.sdk.kube_watch import SYNC_TIMEOUT_S, NamespaceWatch
from bridge.sdk.logs import output_path
from bridge.sdk.spec import JobSpec
from bridge.sdk.status import JobStatus

BACKEND: Final = "kubernetes"
# What a user's credentials need in a namespace to use this backend (a site grants it per user).
USER_RULES: Final[tuple[dict[str, list[str]], ...]] = (
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
)
REPLACE_TIMEOUT_S: Final = 60.0


def default_kubeconfig() -> str | None:
    """$KUBECONFIG (first entry), else ~/.kube/config, else None (in-cluster credentials)."""
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    home = Path.home() / ".kube" / "config"
    return env or (str(home) if home.exists() else None)


def split_id(job_id: str) -> tuple[str, str]:
    namespace, _, name = job_id.partition("/")
    if not namespace or not name:
        raise JobNotFound(f"{job_id!r} is not a kubernetes job id (NAMESPACE/NAME)")
    return namespace, name


class KubernetesBackend:
    name = BACKEND
    dependencies = False

    def __init__(self, settings: BridgeSettings, kubeconfig: str | None = None) -> None:
        self.settings = settings
        self.identity: Identity = caller_identity()
        self.kube = Kube(api_client(kubeconfig or default_kubeconfig()))
        self.hub = StatusHub()
        self.selector = ",".join(
            f"{k}={v}"
            for k, v in (
                (wk.LABEL_MANAGED_BY, wk.MANAGED_BY_VALUE),
                (wk.LABEL_SOURCE, Source.SDK.value),
                (wk.LABEL_USER, label_value(self.identity.user)),
            )
        )
        self._watches: dict[str, NamespaceWatch] = {}
        self._outputs: dict[str, BatchJob] = {}

    # --- submit ------------------------------------------------------------------------------------
    def _ir(self, spec: JobSpec, key: str | None) -> BatchJob:
        user = self.identity.user
        source_id = f"{user}.{key}" if key else f"{user}.{spec.name}.{uuid.uuid4().hex[:10]}"
        return spec.to_ir(
            identity=self.identity, source_id=source_id, cluster=self.settings.cluster, cwd=os.getcwd(), queue=None
        )

    def _objects(self, spec: JobSpec, key: str | None) -> tuple[BatchJob, JobObjects]:
        ir = self._ir(spec, key)
        try:
            return ir, build_job(ir, self.settings.site, self.settings.kube)
        except TranslationError as exc:  # PolicyError included: the site refuses, with the reason
            raise PolicyRefused(str(exc)) from None

    def check(self, spec: JobSpec) -> None:
        self._objects(spec, "check")

    def find(self, specs: Mapping[str, JobSpec]) -> dict[str, JobStatus]:
        out: dict[str, JobStatus] = {}
        for key, spec in specs.items():
            ir = self._ir(spec, key)
            namespace, name = resolve_namespace(ir, self.settings.site), object_name(ir)
            watch, status = self._watch(namespace), self.hub.latest(f"{namespace}/{name}")
            if watch.view(name) is not None and status is not None:
                out[key] = status
        return out

    def submit(self, spec: JobSpec, key: str | None = None, after: Sequence[Dependency] = ()) -> tuple[str, bool]:
        if after:
            raise SdkError("the kubernetes backend holds no job on others; a Pipeline submits each step when ready")
        ir, objects = self._objects(spec, key)
        meta = objects.job["metadata"]
        job_id = f"{meta['namespace']}/{meta['name']}"
        self._outputs[job_id] = ir
        self.track(job_id)
        try:
            _, created = self.kube.create_or_adopt(objects)
            if not created and self._replace_failed(job_id):
                self.kube.create_or_adopt(objects)
                created = True
        except KubeError as exc:
            raise SubmitError(BACKEND, f"create Job {job_id}", str(exc).split(": ", 1)[-1], exc.status) from None
        return job_id, not created

    def _replace_failed(self, job_id: str) -> bool:
        """A keyed job that ended badly is run again: delete it, wait until the watch sees it gone."""
        status = self.get(job_id)
        if not status.final or status.ok:
            return False
        namespace, name = split_id(job_id)
        self.kube.delete_job(namespace, name)
        watch = self._watch(namespace)
        deadline = time.monotonic() + REPLACE_TIMEOUT_S
        while watch.view(name) is not None:
            if time.monotonic() > deadline:
                raise SubmitError(BACKEND, f"replace Job {job_id}", "the failed Job was not deleted in time")
            self.hub.wait(job_id, lambda s: s.state is JobState.CANCELLED, 1.0)
        self.hub.forget(job_id)
        return True

    # --- status ------------------------------------------------------------------------------------
    def _watch(self, namespace: str) -> NamespaceWatch:
        watch = self._watches.get(namespace)
        if watch is None:
            pull = self.settings.engine.image_pull_timeout_s
            watch = self._watches[namespace] = NamespaceWatch(self.kube, namespace, self.selector, self.hub, pull)
        if not watch.synced():
            raise SdkError(f"{BACKEND}: no answer from the apiserver for namespace {namespace}")
        return watch

    def track(self, job_id: str) -> None:
        self._watch(split_id(job_id)[0])

    def get(self, job_id: str) -> JobStatus:
        namespace, name = split_id(job_id)
        watch = self._watch(namespace)
        status = self.hub.latest(job_id)
        if status is None and job_id in self._outputs:  # made here: the watch shows it in a moment
            status = self.hub.wait(job_id, lambda s: True, SYNC_TIMEOUT_S)
        if status is None or (watch.view(name) is None and not status.final):
            raise JobNotFound(f"no job {job_id} (of {self.identity.user}) in Kubernetes")
        return status

    def default_namespace(self) -> str:
        probe = JobSpec.script("#!/bin/sh\n")
        return resolve_namespace(self._ir(probe, "probe"), self.settings.site)

    def list(self, selection: Filter) -> list[JobStatus]:
        watch = self._watch(self.default_namespace())
        found = (self.hub.latest(watch.job_id_of(name)) for name in sorted(watch.names()))
        return [s for s in found if s is not None and selection.keep(s)]

    def cancel(self, job_id: str) -> None:
        namespace, name = split_id(job_id)
        self.get(job_id)
        try:
            self.kube.delete_job(namespace, name)
        except KubeError as exc:
            raise SdkError(f"{BACKEND}: cancel {job_id}: {exc}") from None

    # --- output ------------------------------------------------------------------------------------
    def logs(self, job_id: str, follow: bool) -> LogSource:
        ir = self._outputs.get(job_id)
        return LogSource(path=output_path(ir) if ir else None, lines=self._pod_lines(job_id, follow))

    def _pod_lines(self, job_id: str, follow: bool) -> Iterator[str]:
        namespace, name = split_id(job_id)
        watch = self._watch(namespace)
        if follow:  # a pod log can be read once the container started
            self.hub.wait(job_id, lambda s: s.state is not JobState.PENDING, None)
        pod = newest(watch.pods_of(name))
        if pod is None:
            return
        try:
            yield from pod_log(self.kube, namespace, pod.name, follow)
        except KubeError as exc:
            raise SdkError(f"{BACKEND}: {exc}") from None

    def close(self) -> None:
        for watch in self._watches.values():
            watch.stop()
        self.kube.api.close()
