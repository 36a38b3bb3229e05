"""Reads a caller of its own jobs needs beyond the reflector: one listing, and a pod's log.

Kept apart from client.py (the daemons' create-or-adopt) so both stay small; plain dicts and text
in and out, errors as KubeError with the apiserver's own message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from kubernetes.client import ApiException

from bridge.kube.client import Kube, _error  # the one place an ApiException becomes a KubeError
from bridge.kube.objects import Obj


def list_objects(kube: Kube, kind: str, namespace: str, label_selector: str) -> list[Obj]:
    """Every ``kind`` ("jobs", "pods") object in ``namespace`` matching the selector (paged)."""
    call = kube.lister(kind, namespace)
    items: list[Obj] = []
    token: str | None = None
    while True:
        kwargs = {"label_selector": label_selector, "limit": 500} | ({"_continue": token} if token else {})
        try:
            data = json.loads(call(namespace, _preload_content=False, **kwargs).data)
        except ApiException as exc:
            raise _error(exc, f"list {kind} in {namespace}") from None
        items += data.get("items") or []
        token = (data.get("metadata") or {}).get("continue")
        if not token:
            return items


def pod_log(kube: Kube, namespace: str, pod: str, follow: bool = False) -> Iterator[str]:
    """The job container's log, line by line (``follow``: until the container ends)."""
    try:
        resp = kube.core.read_namespaced_pod_log(pod, namespace, container="job", follow=follow, _preload_content=False)
    except ApiException as exc:
        raise _error(exc, f"log of pod {namespace}/{pod}") from None
    try:
        pending = b""
        for chunk in resp.stream(4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from (line.decode(errors="replace") for line in lines)
        if pending:
            yield pending.decode(errors="replace")
    finally:
        resp.release_conn()
