"""The apiserver client side of bridge/kube: loading credentials, create-or-adopt, delete.

Everything here talks to the apiserver; the builders (objects.py) stay pure. Objects are plain dicts
in and out (``_preload_content=False``): the client's generated models are slow and, in 37.x, fail on
some valid objects (DESIGN.md), and the reconciler needs only a few fields.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import urllib3
from kubernetes import client, config
from kubernetes.client import ApiException

from bridge.domain import wellknown as wk
from bridge.domain.errors import BridgeError
from bridge.kube.objects import JobObjects, Obj, owned_by

log = logging.getLogger(__name__)
load_kubeconfig: Any = config.load_kube_config
load_incluster: Any = config.load_incluster_config

# What the daemons do with the apiserver, declared once: the Helm chart's Role is derived from it
# and a test compares it with `auth can-i --list` (no verb the code never uses).
RBAC_RULES: Final[tuple[Obj, ...]] = (
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch", "create"]},
)


_LISTERS: Final = {
    "jobs": ("batch", "list_namespaced_job", "list_job_for_all_namespaces"),
    "pods": ("core", "list_namespaced_pod", "list_pod_for_all_namespaces"),
    "events": ("core", "list_namespaced_event", "list_event_for_all_namespaces"),
}


class KubeError(BridgeError):
    """The apiserver refused or failed a request; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotOurs(KubeError):
    """An object with the bridge's deterministic name exists but does not carry the batch identity."""


def api_client(kubeconfig: str | None, connections: int | None = None) -> Any:
    """An ApiClient from a kubeconfig file, or in-cluster credentials when none is given.

    ``connections``: how many threads use it at once (watches hold theirs for minutes). The client's
    pool keeps 5 per core by default (10 here); a thread beyond that opens a new TLS connection for
    each request and throws it away after, which costs the apiserver a handshake per create."""
    cfg = client.Configuration()
    if kubeconfig:
        load_kubeconfig(config_file=kubeconfig, client_configuration=cfg)
    else:
        load_incluster(client_configuration=cfg)
    if connections:
        cfg.connection_pool_maxsize = max(connections, cfg.connection_pool_maxsize)
    return client.ApiClient(cfg)


def _json(resp: Any) -> Obj:
    data: Obj = json.loads(resp.data)
    return data


def _error(exc: ApiException, what: str) -> KubeError:
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except ValueError:
        message = exc.reason
    return KubeError(f"{what}: {message}", int(exc.status or 0))


def _same_batch_identity(existing: Obj, wanted: Obj) -> bool:
    have, want = existing["metadata"].get("labels") or {}, wanted["metadata"]["labels"]
    keys = (wk.LABEL_MANAGED_BY, wk.LABEL_SOURCE, wk.LABEL_CLUSTER, wk.LABEL_JOB_ID)
    return all(have.get(k) == want.get(k) for k in keys)


@dataclass
class Kube:
    """The few calls the engine makes, over one ApiClient."""

    api: Any

    @property
    def batch(self) -> Any:
        return client.BatchV1Api(self.api)

    @property
    def core(self) -> Any:
        return client.CoreV1Api(self.api)

    def lister(self, kind: str, namespace: str | None) -> Any:
        """The generated list call for ``kind`` in one namespace, or in all of them."""
        api, one, every = _LISTERS[kind]
        return getattr(getattr(self, api), one if namespace else every)

    def create_or_adopt(self, objects: JobObjects) -> tuple[Obj, bool]:
        """Create the Job (then its ConfigMap, owned by it); 409 adopts an existing Job that is ours.

        Returns (the Job, created: bool): the apiserver's copy when it is needed (an adopted Job, or one
        that must own a ConfigMap), else the Job as sent; decoding the created Job's echo took an eighth
        of a worker's time in a 1,000-job burst. Raises NotOurs for a foreign object.
        """
        job = objects.job
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        created = True
        try:
            resp = self.batch.create_namespaced_job(ns, job, _preload_content=False)
            if objects.config_map is not None:
                live = _json(resp)
            else:
                live = job
                resp.drain_conn()  # unread, the connection would not go back to the pool
                resp.release_conn()
        except ApiException as exc:
            if exc.status != 409:
                raise _error(exc, f"create Job {ns}/{name}") from None
            live, created = self.read_job(ns, name), False
            if not _same_batch_identity(live, job):
                raise NotOurs(f"Job {ns}/{name} exists but is not this batch job's (labels differ)", 409) from None
        if objects.config_map is not None:
            self._ensure_config_map(owned_by(objects.config_map, live))
        return live, created

    def _ensure_config_map(self, config_map: Obj) -> None:
        ns, name = config_map["metadata"]["namespace"], config_map["metadata"]["name"]
        try:
            self.core.create_namespaced_config_map(ns, config_map, _preload_content=False)
        except ApiException as exc:
            if exc.status != 409:
                raise _error(exc, f"create ConfigMap {ns}/{name}") from None

    def read_job(self, namespace: str, name: str) -> Obj:
        try:
            return _json(self.batch.read_namespaced_job(name, namespace, _preload_content=False))
        except ApiException as exc:
            raise _error(exc, f"read Job {namespace}/{name}") from None

    def delete_job(self, namespace: str, name: str) -> bool:
        """Delete the Job and its pods (background); False when it was already gone."""
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background", _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc, f"delete Job {namespace}/{name}") from None
        return True

    def record_event(self, event: Obj) -> bool:
        """Best effort: an Event that cannot be written is logged, never a reason to stop a transition
        (nor to repeat one: the caller has already written the batch side)."""
        try:
            self.core.create_namespaced_event(event["metadata"]["namespace"], event, _preload_content=False)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            log.debug("event %s on Job %s not recorded: %s", event["reason"], event["involvedObject"]["name"], exc)
            return False
        return True

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete one pod (an array task's); False when it was already gone."""
        try:
            self.core.delete_namespaced_pod(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc, f"delete pod {namespace}/{name}") from None
        return True
