"""Baseline: how fast the lab's control plane itself completes N one-pod Jobs (no bridge involved).

Usage: python benchmarks/kube_baseline.py [-n 1000] [--run 1s] [--workers 16] [--keep]
Needs the lab up (`lab/kube up`). Prints jobs/s from first create to last Complete.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client import ApiException

# Untyped parts of the client library, named once as Any.
Watch: Any = watch.Watch
new_client_from_config: Any = config.new_client_from_config


def endpoints() -> dict[str, Any]:
    home = Path(os.environ.get("BATCH_BRIDGE_LAB_HOME", "/var/lib/batch-bridge-lab"))
    data: dict[str, Any] = json.loads((home / "kube" / "endpoints.json").read_text())
    return data


def one_pod_job(name: str, run: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"lab.batch-bridge.io/run": run}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:stable", "command": ["true"]}],
                },
            },
        },
    }


def is_complete(job: Any) -> bool:
    return any(c.type == "Complete" and c.status == "True" for c in (job.status.conditions or []))


def wait_all_complete(batch: Any, ns: str, n: int, rv: str, deadline: float) -> float:
    """Watch Jobs in ns from rv until n are Complete; return the monotonic time of the last one."""
    done: set[str] = set()
    last = time.monotonic()
    while len(done) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"only {len(done)}/{n} Jobs Complete before the deadline")
        w = Watch()
        try:
            for ev in w.stream(
                batch.list_namespaced_job, ns, resource_version=rv, timeout_seconds=max(1, int(remaining))
            ):
                job = ev["object"]
                rv = job.metadata.resource_version
                if job.metadata.name not in done and is_complete(job):
                    done.add(job.metadata.name)
                    last = time.monotonic()
                    if len(done) == n:
                        break
        except ApiException as e:
            if e.status != 410:
                raise
            listing = batch.list_namespaced_job(ns)  # watch expired: relist and resume
            done |= {j.metadata.name for j in listing.items if is_complete(j)}
            rv = listing.metadata.resource_version
        finally:
            w.stop()
    return last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="number of Jobs (default 1000)")
    ap.add_argument("--run", default="1s", help="simulated pod run time (lab.batch-bridge.io/run)")
    ap.add_argument("--workers", type=int, default=16, help="parallel create calls")
    ap.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the namespace afterwards")
    args = ap.parse_args()

    api = new_client_from_config(config_file=endpoints()["admin_kubeconfig"])
    api.configuration.connection_pool_maxsize = args.workers
    # Plain dict bodies are accepted at run time; Any keeps the typed models out of the way.
    core: Any = client.CoreV1Api(api)
    batch: Any = client.BatchV1Api(api)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    deadline = time.monotonic() + args.timeout
    while True:  # pods cannot be created before the namespace's default ServiceAccount exists
        try:
            core.read_namespaced_service_account("default", ns)
            break
        except ApiException as e:
            if e.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    rv = batch.list_namespaced_job(ns).metadata.resource_version
    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda i: batch.create_namespaced_job(ns, one_pod_job(f"j{i:05d}", args.run)), range(args.n)))
        t_created = time.monotonic()
        t_last = wait_all_complete(batch, ns, args.n, rv, deadline)
    finally:
        if not args.keep:
            core.delete_namespace(ns)
    total = t_last - t0
    print(f"jobs={args.n} run={args.run} workers={args.workers}")
    print(f"created in {t_created - t0:.1f}s ({args.n / (t_created - t0):.1f} creates/s)")
    print(f"all Complete after {total:.1f}s: {args.n / total:.1f} jobs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
