"""Ensure a namespace's storage pairs (bridge.kube.storage) exist and are bound, against the apiserver.

``ensure_storage(api, policy, namespace, cluster)`` is idempotent and safe to call before every job:

- creates the PersistentVolume and the PersistentVolumeClaim of each ``csiStatic`` entry; a 409 is
  adoption when the existing object carries our labels (managed-by batch-bridge, same cluster,
  same entry, and for the volume the same namespace), otherwise a refusal with the reason;
- never deletes anything, and changes only one thing on objects it owns: a volume left ``Released``
  by a deleted claim of the same name (namespace deleted and re-created) gets the old claim's uid
  removed from its ``claimRef`` so the new claim binds (site data is ``Retain``; nothing is lost);
- a volume of ours whose spec differs from the configuration (driver, handle, attributes) is
  reported, not rewritten (PersistentVolume sources are immutable; an admin decides);
- waits (watch, with a deadline) until every claim is ``Bound``; a claim that does not bind becomes
  a reason string naming the entry, claim, volume, their phases and the claim's latest event, which
  the adapters put where the user reads it (Slurm AdminComment/squeue, HTCondor HoldReason).

Reads use ``_preload_content=False`` (raw JSON): the client's models are not needed, and some
versions fail to deserialize storage objects (LAB-NOTES).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

from kubernetes import client, watch
from kubernetes.client import ApiException

from bridge.domain import wellknown as wk
from bridge.domain.naming import label_value
from bridge.domain.policy import SitePolicy
from bridge.kube.storage import LABEL_STORAGE, LABEL_STORAGE_NAMESPACE, StoragePair, storage_pairs

Obj = dict[str, Any]
Watch: Any = watch.Watch  # untyped in the client library

# What the bridge's identity needs for storage (the Helm chart derives its RBAC from these).
# PersistentVolumes are cluster-scoped: a ClusterRole. Claims live in each target namespace: a Role
# there (or a ClusterRole bound per namespace). "patch" on volumes only repairs a Released claimRef.
STORAGE_CLUSTER_RULES: Final[list[dict[str, list[str]]]] = [
    {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list", "watch", "create", "patch"]},
]
STORAGE_NAMESPACE_RULES: Final[list[dict[str, list[str]]]] = [
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch", "create"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
]

DEFAULT_BIND_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class PairResult:
    """One storage entry in one namespace after ``ensure_storage``."""

    prefix: str
    namespace: str
    volume: str
    claim: str
    phase: str  # the claim's phase: Bound, Pending, Lost, or "refused"/"missing"
    created: tuple[str, ...] = ()  # kinds this call created ("PersistentVolume", "PersistentVolumeClaim")
    repaired: bool = False  # a Released volume of ours was made Available again
    reason: str | None = None  # None when bound

    @property
    def bound(self) -> bool:
        return self.phase == "Bound" and self.reason is None


@dataclass(frozen=True)
class StorageResult:
    namespace: str
    pairs: tuple[PairResult, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    @property
    def ready(self) -> bool:
        return all(p.bound for p in self.pairs)

    @property
    def reason(self) -> str | None:
        """One line for the user (squeue/condor_q), or None when every claim is bound."""
        reasons = [p.reason for p in self.pairs if p.reason]
        return "; ".join(reasons) if reasons else None

    @property
    def created(self) -> int:
        return sum(len(p.created) for p in self.pairs)


def _raw(call: Any, *args: Any, **kwargs: Any) -> Obj:
    resp = call(*args, _preload_content=False, **kwargs)
    data: Obj = json.loads(resp.data)
    return data


def _ours(obj: Obj, want: dict[str, str]) -> bool:
    have = obj.get("metadata", {}).get("labels") or {}
    return all(have.get(k) == v for k, v in want.items())


def _brief_ref(obj: Obj) -> str:
    ref = obj.get("spec", {}).get("claimRef") or {}
    return f"{ref.get('namespace')}/{ref.get('name')}" if ref else "nothing"


def _drift(have: Obj, want: Obj) -> str | None:
    h, w = have.get("spec", {}).get("csi") or {}, want["spec"]["csi"]
    for key in ("driver", "volumeHandle", "readOnly", "volumeAttributes"):
        if (h.get(key) or None) != (w.get(key) or None):
            return f"{key} is {h.get(key)!r}, configured {w.get(key)!r}"
    if (have["spec"].get("mountOptions") or []) != (want["spec"].get("mountOptions") or []):
        return f"mountOptions are {have['spec'].get('mountOptions')}, configured {want['spec'].get('mountOptions')}"
    return None


class _Sync:
    def __init__(self, api: Any, cluster: str) -> None:
        self.core: Any = client.CoreV1Api(api)  # raw dicts in and out (see the module doc)
        self.cluster = cluster

    def _owner_labels(self, pair: StoragePair) -> dict[str, str]:
        return {
            wk.LABEL_MANAGED_BY: wk.MANAGED_BY_VALUE,
            wk.LABEL_CLUSTER: label_value(self.cluster),
            LABEL_STORAGE: label_value(pair.mount.volume_name),
        }

    def volume(self, pair: StoragePair) -> tuple[bool, bool, str | None]:
        """(created, repaired, refusal) for the pair's PersistentVolume."""
        name, want = pair.volume_name, pair.volume
        try:
            self.core.create_persistent_volume(want, _preload_content=False)
            return True, False, None
        except ApiException as e:
            if e.status != 409:
                raise
        have = _raw(self.core.read_persistent_volume, name)
        mine = {**self._owner_labels(pair), LABEL_STORAGE_NAMESPACE: label_value(pair.namespace)}
        if not _ours(have, mine):
            return False, False, f"PersistentVolume {name} exists and is not batch-bridge's for this entry: not used"
        drift = _drift(have, want)
        if drift:
            return (
                False,
                False,
                f"PersistentVolume {name} differs from the configuration ({drift}); an admin must replace it",
            )
        ref = have["spec"].get("claimRef") or {}
        if (ref.get("namespace"), ref.get("name")) != (pair.namespace, pair.claim_name):
            return (
                False,
                False,
                f"PersistentVolume {name} is reserved for claim {_brief_ref(have)}, "
                f"not {pair.namespace}/{pair.claim_name}",
            )
        if (
            have.get("status", {}).get("phase") == "Released"
            and ref.get("uid")
            and not self._claim_uid(pair, ref["uid"])
        ):
            # The claim it was bound to is gone (namespace deleted): let the new claim of the same name bind.
            patch = [{"op": "test", "path": "/spec/claimRef/uid", "value": ref["uid"]}]
            patch += [{"op": "remove", "path": f"/spec/claimRef/{k}"} for k in ("uid", "resourceVersion") if k in ref]
            self.core.patch_persistent_volume(
                name, patch, _preload_content=False, _content_type="application/json-patch+json"
            )
            return False, True, None
        return False, False, None

    def _claim_uid(self, pair: StoragePair, uid: str) -> bool:
        try:
            claim = _raw(self.core.read_namespaced_persistent_volume_claim, pair.claim_name, pair.namespace)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return bool(claim["metadata"].get("uid") == uid)

    def claim(self, pair: StoragePair) -> tuple[bool, str | None]:
        """(created, refusal) for the pair's PersistentVolumeClaim."""
        try:
            self.core.create_namespaced_persistent_volume_claim(pair.namespace, pair.claim, _preload_content=False)
            return True, None
        except ApiException as e:
            if e.status != 409:
                raise
        have = _raw(self.core.read_namespaced_persistent_volume_claim, pair.claim_name, pair.namespace)
        where = f"{pair.namespace}/{pair.claim_name}"
        if not _ours(have, self._owner_labels(pair)):
            return False, f"PersistentVolumeClaim {where} exists and is not batch-bridge's for this entry: not used"
        bound_to = have.get("spec", {}).get("volumeName")
        if bound_to and bound_to != pair.volume_name:
            return False, f"PersistentVolumeClaim {where} asks for volume {bound_to}, not {pair.volume_name}"
        return False, None

    def wait_bound(self, pairs: list[StoragePair], namespace: str, timeout: float) -> dict[str, Obj]:
        """Claims by name, once all are Bound or at the deadline (list, then watch; relist on 410)."""
        names = {p.claim_name for p in pairs}
        selector = f"{wk.LABEL_MANAGED_BY}={wk.MANAGED_BY_VALUE}"
        deadline = time.monotonic() + timeout
        seen: dict[str, Obj] = {}

        def done() -> bool:
            return all(seen.get(n, {}).get("status", {}).get("phase") == "Bound" for n in names)

        while True:
            listing = _raw(self.core.list_namespaced_persistent_volume_claim, namespace, label_selector=selector)
            seen.update({c["metadata"]["name"]: c for c in listing["items"] if c["metadata"]["name"] in names})
            remaining = deadline - time.monotonic()
            if done() or remaining <= 0:
                return seen
            w = Watch()
            try:
                for ev in w.stream(
                    self.core.list_namespaced_persistent_volume_claim,
                    namespace,
                    label_selector=selector,
                    resource_version=listing["metadata"]["resourceVersion"],
                    timeout_seconds=max(1, int(remaining + 0.999)),
                    _request_timeout=remaining + 5,
                ):
                    obj = ev["raw_object"]
                    if obj["metadata"]["name"] in names and ev["type"] != "DELETED":
                        seen[obj["metadata"]["name"]] = obj
                    if done() or time.monotonic() >= deadline:
                        break
            except ApiException as e:
                if e.status != 410:
                    raise
            finally:
                w.stop()
            if done() or time.monotonic() >= deadline:
                return seen

    def unbound_reason(self, pair: StoragePair, claim: Obj | None, waited: float) -> str:
        where = f"{pair.namespace}/{pair.claim_name}"
        phase = (claim or {}).get("status", {}).get("phase", "missing")
        try:
            pv_phase = _raw(self.core.read_persistent_volume, pair.volume_name).get("status", {}).get("phase", "?")
        except ApiException as e:
            pv_phase = "missing" if e.status == 404 else f"unreadable ({e.status})"
        text = (
            f"storage {pair.mount.prefix}: claim {where} is {phase} after {waited:.0f}s "
            f"(volume {pair.volume_name}: {pv_phase})"
        )
        event = self._last_event(pair) if claim else None
        return f"{text}: {event}" if event else text

    def _last_event(self, pair: StoragePair) -> str | None:
        try:
            events = _raw(
                self.core.list_namespaced_event,
                pair.namespace,
                field_selector=f"involvedObject.kind=PersistentVolumeClaim,involvedObject.name={pair.claim_name}",
            )["items"]
        except ApiException:
            return None  # events are a courtesy; the phase already says what is wrong
        if not events:
            return None
        last = max(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        return f"{last.get('reason')}: {last.get('message')}"


def ensure_storage(
    api: Any, policy: SitePolicy, namespace: str, cluster: str, timeout: float = DEFAULT_BIND_TIMEOUT
) -> StorageResult:
    """Ensure every ``csiStatic`` entry of ``policy`` has its bound pair in ``namespace``.

    ``api`` is a ``kubernetes.client.ApiClient`` whose identity has STORAGE_CLUSTER_RULES and, in
    ``namespace``, STORAGE_NAMESPACE_RULES. Returns per-entry results; ``result.reason`` is what the
    user should see when ``result.ready`` is false. Raises only on unexpected API errors.
    """
    t0 = time.monotonic()
    sync = _Sync(api, cluster)
    pairs = storage_pairs(policy, namespace, cluster)
    created: dict[str, list[str]] = {}
    repaired: set[str] = set()
    refused: dict[str, str] = {}
    for pair in pairs:
        made, fixed, refusal = sync.volume(pair)
        created[pair.claim_name] = ["PersistentVolume"] if made else []
        if fixed:
            repaired.add(pair.claim_name)
        if refusal:
            refused[pair.claim_name] = f"storage {pair.mount.prefix}: {refusal}"
            continue
        made, refusal = sync.claim(pair)
        if made:
            created[pair.claim_name].append("PersistentVolumeClaim")
        if refusal:
            refused[pair.claim_name] = f"storage {pair.mount.prefix}: {refusal}"
    waiting = [p for p in pairs if p.claim_name not in refused]
    claims = sync.wait_bound(waiting, namespace, timeout) if waiting else {}
    waited = time.monotonic() - t0
    results = []
    for pair in pairs:
        claim = claims.get(pair.claim_name)
        phase = "refused" if pair.claim_name in refused else (claim or {}).get("status", {}).get("phase", "missing")
        reason = refused.get(pair.claim_name)
        if reason is None and phase != "Bound":
            reason = sync.unbound_reason(pair, claim, waited)
        results.append(
            PairResult(
                prefix=pair.mount.prefix,
                namespace=namespace,
                volume=pair.volume_name,
                claim=pair.claim_name,
                phase=phase,
                created=tuple(created.get(pair.claim_name, [])),
                repaired=pair.claim_name in repaired,
                reason=reason,
            )
        )
    return StorageResult(namespace, tuple(results), time.monotonic() - t0)
