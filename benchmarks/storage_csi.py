"""Storage through CSI on the lab (lab/kube up with its real node and the lab CSI plugin), figures:

1. a job's namespace is new -> its volumes bound: ensure_storage (create PV + PVC per entry, wait Bound)
   for N fresh namespaces with the lab-csi.yaml storage table;
2. objects created per namespace;
3. pod start overhead of a CSI mount (claim -> lab CSI driver bind mount) vs hostPath, same run,
   alternating, one pod at a time on the real node: create -> container Running.

Runs as admin (the figures are about the apiserver, controllers and kubelet, not RBAC); deletes the
namespaces and the PersistentVolumes it made. Usage: .venv/bin/python benchmarks/storage_csi.py [-n 10 -p 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from bridge.config.settings import load_settings
from bridge.kube import storage
from bridge.kube.storage_sync import ensure_storage

STATE = Path("/var/lib/batch-bridge-lab/kube")
REPO = Path(__file__).resolve().parents[1]
Watch: Any = watch.Watch  # the client's watch and config modules are untyped
new_client_from_config: Any = config.new_client_from_config


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def fmt(xs: list[float]) -> str:
    return f"p50 {statistics.median(xs) * 1000:.0f} ms, p90 {pct(xs, 90) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms"


def make_ns(core: Any, name: str, timeout: float = 30) -> None:
    core.create_namespace({"metadata": {"name": name}})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
            return
        time.sleep(0.05)
    raise TimeoutError(f"namespace {name}: no default ServiceAccount")


def pod(name: str, real: dict[str, Any], volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "nodeSelector": real["node_selector"],
            "tolerations": real["tolerations"],
            "securityContext": {"runAsUser": 2001, "runAsGroup": 2001, "runAsNonRoot": True},
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": real["image"],
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sleep", "3600"],
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        },
    }


def time_to_running(core: Any, ns: str, body: dict[str, Any], timeout: float = 60) -> float:
    name = body["metadata"]["name"]
    w = Watch()
    t0 = time.monotonic()
    core.create_namespaced_pod(ns, body)
    try:
        for ev in w.stream(
            core.list_namespaced_pod, ns, field_selector=f"metadata.name={name}", timeout_seconds=int(timeout)
        ):
            st = ev["raw_object"].get("status", {})
            if any("running" in (c.get("state") or {}) for c in st.get("containerStatuses") or []):
                return time.monotonic() - t0
            if st.get("phase") in ("Failed", "Succeeded"):
                raise RuntimeError(f"pod {ns}/{name} ended {st.get('phase')}")
    finally:
        w.stop()
    raise TimeoutError(f"pod {ns}/{name} not Running in {timeout}s")


def delete_pod_and_wait(core: Any, ns: str, name: str, timeout: float = 60) -> None:
    core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not core.list_namespaced_pod(ns, field_selector=f"metadata.name={name}").items:
            return
        time.sleep(0.05)
    raise TimeoutError(f"pod {ns}/{name} not gone")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--namespaces", type=int, default=10)
    ap.add_argument("-p", "--pods", type=int, default=10, help="pods per kind (CSI, hostPath), alternating")
    args = ap.parse_args()
    endpoints = json.loads((STATE / "endpoints.json").read_text())
    api = new_client_from_config(config_file=endpoints["admin_kubeconfig"])
    core: Any = client.CoreV1Api(api)
    settings = load_settings(REPO / "examples" / "config" / "lab-csi.yaml")
    run = uuid.uuid4().hex[:6]
    made: list[str] = []
    try:
        bound, created = [], []
        for i in range(args.namespaces):
            ns = f"bench-csi-{run}-{i}"
            make_ns(core, ns)
            made.append(ns)
            result = ensure_storage(api, settings.site, ns, settings.cluster, timeout=60)
            if not result.ready:
                raise RuntimeError(result.reason)
            bound.append(result.seconds)
            created.append(result.created)
        entries = len(storage.static_mounts(settings.site))
        print(f"storage entries (csiStatic) in lab-csi.yaml: {entries}")
        print(f"new namespace -> all claims Bound (ensure_storage, {args.namespaces} namespaces): {fmt(bound)}")
        print(f"objects created per namespace: {statistics.mean(created):.0f} ({entries} PV + {entries} PVC)")
        again = [ensure_storage(api, settings.site, ns, settings.cluster).seconds for ns in made]
        print(f"ensure_storage again on a ready namespace (nothing created): {fmt(again)}")

        ns = made[0]
        real = endpoints["real_node"]
        mounts = [{"name": m.volume_name, "mountPath": m.prefix} for m in settings.site.storage]
        csi_vols = [storage.pod_volume(m) for m in settings.site.storage]
        host_vols = [
            {"name": m.volume_name, "hostPath": {"path": m.prefix, "type": "Directory"}} for m in settings.site.storage
        ]
        times: dict[str, list[float]] = {"csi": [], "hostPath": []}
        for i in range(args.pods):
            for kind, vols in (("csi", csi_vols), ("hostPath", host_vols)):
                name = f"{kind.lower()}-{i}"
                times[kind].append(time_to_running(core, ns, pod(name, real, vols, mounts)))
                delete_pod_and_wait(core, ns, name)
        print(f"pod create -> Running on {real['name']}, {len(mounts)} storage volumes, one pod at a time:")
        for kind, xs in times.items():
            print(f"  {kind:8s} {fmt(xs)}")
        overhead = statistics.median(times["csi"]) - statistics.median(times["hostPath"])
        print(f"  CSI overhead (p50 difference): {overhead * 1000:+.0f} ms per pod")
    finally:
        for ns in made:
            core.delete_namespace(ns)
        for ns in made:
            for pv in core.list_persistent_volume(label_selector=f"{storage.LABEL_STORAGE_NAMESPACE}={ns}").items:
                core.delete_persistent_volume(pv.metadata.name)


if __name__ == "__main__":
    main()
