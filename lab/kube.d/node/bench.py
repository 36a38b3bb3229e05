"""Figures of the lab's real node: pod create -> Running latency and how many pods it holds.

    .venv/bin/python lab/kube.d/node/bench.py [--sequential 20] [--burst 20] [--hold 100]

Pods run `sleep` (1m CPU, 16Mi: the node has only the machine's 2 CPUs) on the real node in a
fresh namespace, deleted at the end.
Latency = creationTimestamp -> the kubelet reports the container running (watch event time on the
client; both clocks are this machine's). RSS of kubelet, containerd and the shims from /proc.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from kubernetes import client

from tests.fixtures.kube_lab import KubeLab, RealNode, Watch, _client, state_dir


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def node_rss() -> dict[str, float]:
    run = state_dir() / "run"
    out = {n: rss_mib(int((run / f"{n}.pid").read_text())) for n in ("kubelet", "containerd")}
    shims = 0.0
    count = 0
    for p in Path("/proc").glob("[0-9]*"):
        try:
            if p.joinpath("exe").resolve().name == "containerd-shim-runc-v2":
                shims += rss_mib(int(p.name))
                count += 1
        except OSError:
            continue
    out[f"shims({count})"] = shims
    return out


def pod(node: RealNode, name: str) -> Any:
    spec = node.pod_spec(["sleep", "3600"], uid=2001, gid=2001)
    spec.termination_grace_period_seconds = 0
    spec.containers[0].resources = client.V1ResourceRequirements(requests={"cpu": "1m", "memory": "16Mi"})
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec)


def running(p: Any) -> bool:
    st = (p.status and p.status.container_statuses) or []
    return bool(st) and st[0].state.running is not None


def create_and_time(lab: KubeLab, node: RealNode, ns: str, names: list[str], one_by_one: bool) -> list[float]:
    """Create pods (one at a time waiting for each, or all at once); seconds create -> Running each."""
    created: dict[str, float] = {}
    done: dict[str, float] = {}
    w: Any = Watch()
    pending = list(names)
    lst = lab.core.list_namespaced_pod(ns)
    rv = lst.metadata.resource_version

    def submit(n: str) -> None:
        created[n] = time.monotonic()
        lab.core.create_namespaced_pod(ns, pod(node, n))

    if one_by_one:
        submit(pending.pop(0))
    else:
        while pending:
            submit(pending.pop(0))
    deadline = time.monotonic() + 600
    while len(done) < len(names) and time.monotonic() < deadline:
        for ev in w.stream(lab.core.list_namespaced_pod, ns, resource_version=rv, timeout_seconds=60):
            p = ev["object"]
            rv = p.metadata.resource_version
            n = p.metadata.name
            if n in created and n not in done and running(p):
                done[n] = time.monotonic() - created[n]
                if one_by_one and pending:
                    submit(pending.pop(0))
            if len(done) == len(names):
                break
    w.stop()
    if len(done) < len(names):
        print(f"  only {len(done)} of {len(names)} pods Running after {time.monotonic() - deadline + 600:.0f}s")
    return list(done.values())


def wait_empty(lab: KubeLab, ns: str) -> None:
    lab.poll(f"pods of {ns} gone", lambda: not lab.core.list_namespaced_pod(ns).items, 300, every=0.5)


def summary(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"p50 {statistics.median(xs):.2f}s  p90 {xs[int(len(xs) * 0.9) - 1]:.2f}s  max {xs[-1]:.2f}s"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequential", type=int, default=20)
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--hold", type=int, default=100)
    a = ap.parse_args()
    ep = json.loads((state_dir() / "endpoints.json").read_text())
    lab = KubeLab(ep, _client(ep["admin_kubeconfig"]), _client(ep["bridge_kubeconfig"]))
    node = RealNode(lab, ep["real_node"])
    print("idle RSS MiB:", {k: round(v) for k, v in node_rss().items()})
    for label, n, one in (("sequential", a.sequential, True), ("burst", a.burst, False), ("hold", a.hold, False)):
        if not n:
            continue
        ns = lab.namespace("bench")
        t0 = time.monotonic()
        lat = create_and_time(lab, node, ns, [f"p{i}" for i in range(n)], one)
        wall = time.monotonic() - t0
        print(f"{label} {n} pods: create->Running {summary(lat)}; all Running after {wall:.1f}s")
        print(f"  RSS MiB with {n} pods:", {k: round(v) for k, v in node_rss().items()})
        lab.core.delete_namespace(ns)
        wait_empty(lab, ns)
    print("after cleanup RSS MiB:", {k: round(v) for k, v in node_rss().items()})


if __name__ == "__main__":
    main()
