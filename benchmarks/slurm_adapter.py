"""The Slurm adapter's figures on the lab, each against a baseline measured in the same run.

Usage (root, labs up): python benchmarks/slurm_adapter.py [-n 1000] [--lat 60] [--array 1000] [--track 0]

The daemon runs as bbridge with jobs on the kwok nodes (`lab/bridge up --kwok`); the real node's
sbatch->RUNNING latency is measured separately at the end. Prints:
- intake: held jobs -> Kubernetes Jobs created by the daemon, vs the same client creating the same
  number of Jobs directly (as many threads as the daemon has workers), as a ratio;
- sbatch -> RUNNING in squeue, pod terminal -> final in Slurm (p50/p99), observed by one clock here;
- an array of N tasks to all-final in Slurm, vs a raw Indexed Job of N completions;
- the daemon's apiserver writes and Slurm RPCs per job and per poll, and its RSS;
- with --track N: N bridged jobs held on a dependency (tracked, never run), the daemon's RSS and
  Slurm RPCs per poll with them, against the same figures with none (slurmctld's MaxJobCount must
  leave room for them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from bridge.domain.ir import Identity
from bridge.engine.settings import EngineSettings

REPO = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("BATCH_BRIDGE_LAB_HOME", "/var/lib/batch-bridge-lab"))
Watch: Any = watch.Watch
NS = "batch"
# The baselines create with the daemon's concurrency (the lab configs keep the default worker count)
# over a client with as many pooled connections as the daemon's.
WORKERS = EngineSettings().workers
CONNECTIONS = EngineSettings().api_connections
ALICE = Identity(user="alice", uid=2001, gid=2001, groups=(3000,), home="/lab/gpfs/home/alice")
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=900).stdout


def bridge(*args: str) -> None:
    sh(str(REPO / "lab" / "bridge"), *args)


class Rest:
    """slurmrestd as a lab user (submit) or the bridge (read)."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.token = (HOME / "batch" / "access" / "slurm" / f"{user}.jwt").read_text().strip()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:6820" + path, data=data, method=method)
        req.add_header("X-SLURM-USER-NAME", self.user)
        req.add_header("X-SLURM-USER-TOKEN", self.token)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def submit(self, script: str, **job: Any) -> int:
        env = ["PATH=/usr/bin:/bin", "HOME=/lab/gpfs/home/alice", "SLURM_SUBMIT_DIR=/lab/gpfs/home/alice"]
        desc = {"partition": "k8s", "current_working_directory": "/lab/gpfs/home/alice", "environment": env}
        desc.update(job)
        out = self.call("POST", "/slurm/v0.0.42/job/submit", {"script": script, "job": desc})
        return int(out["job_id"])

    def states(self) -> dict[str, str]:
        """Job id ("12", or "10_3" for an array task) -> base state, from the light state listing."""
        jobs = self.call("GET", "/slurm/v0.0.42/jobs/state/").get("jobs", [])
        return {str(j["job_id"]): j["state"][0] for j in jobs}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def kube() -> tuple[Any, Any]:
    ep = json.loads((HOME / "kube" / "endpoints.json").read_text())
    from bridge.kube.client import api_client

    admin = api_client(ep["admin_kubeconfig"], CONNECTIONS)
    return client.BatchV1Api(admin), client.CoreV1Api(admin)


def raw_job(name: str, completions: int = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": {"bench": "raw"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "job", "image": "localhost/batch-bridge/lab-runtime:2", "command": ["true"]}],
            },
        },
    }
    if completions > 1:
        spec.update(
            completionMode="Indexed", completions=completions, parallelism=completions, backoffLimit=completions
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"bench": "raw"}},
        "spec": spec,
    }


def raw_create_rate(batch: Any, n: int) -> float:
    names = [f"raw-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda name: batch.create_namespaced_job(NS, raw_job(name), _preload_content=False), names))
    rate = n / (time.monotonic() - t0)
    delete_and_settle(batch, "bench=raw")
    return rate


def delete_and_settle(batch: Any, selector: str, timeout: float = 600) -> None:
    """Delete the Jobs (as the admin: the bridge may not delete collections) and wait until they and
    their pods are gone: the garbage collector's work would otherwise fall into the next measurement."""
    core = client.CoreV1Api(batch.api_client)
    try:
        batch.delete_collection_namespaced_job(NS, label_selector=selector, propagation_policy="Background")
    except client.ApiException as exc:
        if exc.status != 504:  # a 1,000-Job collection can outlast the request timeout; it goes on anyway
            raise
    deadline = time.monotonic() + timeout
    while (
        batch.list_namespaced_job(NS, label_selector=selector, limit=1).items
        or core.list_namespaced_pod(NS, label_selector=selector, limit=1).items
    ):
        if time.monotonic() > deadline:
            raise SystemExit(f"the Jobs and pods of {selector} were not gone after {timeout:.0f} s")
        time.sleep(0.5)


def same_jobs_create_rate(batch: Any, n: int, script: str) -> tuple[float, dict[str, float]]:
    """The baseline the issue names: the same Jobs (the builder's objects for the same script and
    user, other job ids) created by the same client as the daemon's, as many threads as it has
    workers, nothing else."""
    from adapters.slurm.translate import SubmitContext, translate
    from bridge.config.settings import load_settings
    from bridge.kube.objects import build_job

    settings = load_settings(REPO / "examples" / "config" / "lab.yaml")
    tag = uuid.uuid4().hex[:6]

    def objects(i: int) -> Any:
        ctx = SubmitContext(
            identity=ALICE, job_id=f"9{tag}{i}", submit_dir="/lab/gpfs/home/alice", cluster="baseline",
            now=datetime.now(UTC), script_name="intake.sh",
        )  # fmt: skip
        job = translate(script, ctx, ["--partition=k8s", "-t", "5"], (), settings.slurm)
        return build_job(job.model_copy(update={"cluster": "baseline"}), settings.site, settings.kube)

    return create_rate(batch, [objects(i) for i in range(n)])


def create_rate(batch: Any, built: list[Any]) -> tuple[float, dict[str, float]]:
    """Jobs per second creating ``built`` (builder output of cluster "baseline") with the daemon's
    client and credentials, as many threads as the daemon has workers; building is the daemon's work
    too, but not the baseline's. Also returns where the cores went meanwhile (CPU seconds by process)."""
    from bridge.kube.client import Kube, api_client

    kube = Kube(api_client(str(HOME / "bridge" / "kubeconfig"), CONNECTIONS))
    before = cpu_by_process()
    t0 = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(kube.create_or_adopt, built))
    rate = len(built) / (time.monotonic() - t0)
    cpu = cpu_since(before)
    delete_and_settle(batch, "batch-bridge.io/cluster=baseline")
    return rate, cpu


def watch_created(
    batch: Any, n: int, since: set[str], deadline: float, source: str = "slurm", wanted: Any = lambda job: True
) -> list[float]:
    """Monotonic times at which the daemon's Jobs (not in ``since``, ``wanted``) appeared, until n of
    them: one watch, so that observing costs the apiserver next to nothing (a list per tick would not)."""
    seen: dict[str, float] = {}
    selector = f"batch-bridge.io/source={source}"
    rv = batch.list_namespaced_job(NS, label_selector=selector, limit=1).metadata.resource_version
    while len(seen) < n and time.monotonic() < deadline:
        for ev in Watch().stream(
            batch.list_namespaced_job, NS, label_selector=selector, resource_version=rv, timeout_seconds=30
        ):
            rv = ev["object"].metadata.resource_version
            name = ev["object"].metadata.name
            if ev["type"] == "ADDED" and name not in since and name not in seen and wanted(ev["object"]):
                seen[name] = time.monotonic()
                if len(seen) >= n:
                    break
    return sorted(seen.values())


def wait_final(rest: Rest, ids: set[int], deadline: float, poll: float = 0.2) -> dict[int, float]:
    done: dict[int, float] = {}
    while len(done) < len(ids) and time.monotonic() < deadline:
        states = rest.states()
        now = time.monotonic()
        for i in ids - done.keys():
            if states.get(str(i), "COMPLETED") in FINAL:
                done[i] = now
        time.sleep(poll)
    return done


def cpu_by_process() -> dict[str, float]:
    """CPU seconds so far of each running process, summed by name (the daemons by their adapter): the
    difference of two readings shows where the machine's cores went in between."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if "batch-bridge run " in cmd:
            name = "batch-bridge " + cmd.split("batch-bridge run ", 1)[1].split()[0]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name] = out.get(name, 0.0) + sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    return out


def cpu_since(before: dict[str, float], least: float = 0.5) -> dict[str, float]:
    """CPU seconds each process name used since ``before`` (those above ``least``), largest first."""
    now = cpu_by_process()
    used = {k: round(v - before.get(k, 0.0), 1) for k, v in now.items()}
    return dict(sorted(((k, v) for k, v in used.items() if v >= least), key=lambda kv: -kv[1]))


def daemon_status() -> dict[str, Any]:
    log = (HOME / "bridge" / "slurm.log").read_text().splitlines()
    for line in reversed(log):
        for word in ("stopping: ", "status ", "ready: watches synced, first poll done ("):
            if word in line:
                text = line.split(word, 1)[1].rstrip(")")
                data: dict[str, Any] = json.loads(text)
                return data
    return {}


def intake(rest: Rest, batch: Any, n: int) -> dict[str, Any]:
    script = "#!/bin/sh\ntrue\n"
    # Finished Jobs of earlier runs stay for the lab's ttl_seconds_after_finished (an hour): thousands of
    # them load the controllers and kwok, and each run would measure a busier cluster than the last.
    delete_and_settle(batch, "batch-bridge.io/source=slurm")
    raw = raw_create_rate(batch, n)
    same, cpu_same = same_jobs_create_rate(batch, n, script)
    bridge("down")
    with ThreadPoolExecutor(8) as pool:
        ids = set(
            pool.map(lambda i: rest.submit(script, name=f"intake-{i}", time_limit={"set": True, "number": 5}), range(n))
        )
    existing = {j.metadata.name for j in batch.list_namespaced_job(NS).items}
    times: list[float] = []
    t = threading.Thread(target=lambda: times.extend(watch_created(batch, n, existing, time.monotonic() + 600)))
    t.start()
    time.sleep(1)
    bridge("up", "--kwok")
    cpu = cpu_by_process()
    t.join()
    cpu_bridged = cpu_since(cpu)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    done = wait_final(rest, ids, time.monotonic() + 900)
    delete_and_settle(batch, "batch-bridge.io/source=slurm")
    # Measured again once the bridged jobs are done: the lab's own drift shows, and the ratio is taken
    # against the faster of the two (the harder figure).
    same_after, _ = same_jobs_create_rate(batch, n, script)
    return {
        "raw_minimal_job_create_per_s": raw,
        "same_jobs_create_per_s": same,
        "same_jobs_create_per_s_after": same_after,
        "intake_per_s": rate,
        "ratio": rate / max(same, same_after),
        "ratio_vs_minimal_job": rate / raw,
        "created": len(times),
        "final": len(done),
        "cpu_s_same_jobs": cpu_same,  # where the cores went while the baseline ran
        "cpu_s_bridged": cpu_bridged,  # and while the daemon took the jobs in (from its readiness)
    }


def latencies(rest: Rest, core: Any, n: int) -> dict[str, float]:
    """sbatch -> RUNNING and pod terminal -> Slurm final, one job at a time (no queueing in the figures)."""
    to_running: list[float] = []
    lag: list[float] = []
    for i in range(n):
        t0 = time.monotonic()
        job = rest.submit("#!/bin/sh\ntrue\n", name=f"lat-{i}", time_limit={"set": True, "number": 5})
        running = None
        pod_done = None
        final = None
        deadline = t0 + 60
        while time.monotonic() < deadline and final is None:
            state = rest.states().get(str(job))
            now = time.monotonic()
            if running is None and state in ("RUNNING", *FINAL):
                running = now
            if pod_done is None:
                pods = core.list_namespaced_pod(NS, label_selector=f"batch-bridge.io/job-id={job}").items
                if any(p.status.phase in ("Succeeded", "Failed") for p in pods):
                    pod_done = now
            if state in FINAL:
                final = now
            time.sleep(0.02)
        if running is not None:
            to_running.append(running - t0)
        if pod_done is not None and final is not None:
            lag.append(max(final - pod_done, 0.0))
    return {
        "sbatch_to_running_p50_s": pct(to_running, 0.5),
        "sbatch_to_running_p99_s": pct(to_running, 0.99),
        "pod_end_to_slurm_final_p50_s": pct(lag, 0.5),
        "pod_end_to_slurm_final_p99_s": pct(lag, 0.99),
        "samples": float(len(lag)),
    }


def array(rest: Rest, batch: Any, n: int) -> dict[str, float]:
    name = f"raw-array-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    batch.create_namespaced_job(NS, raw_job(name, n))
    while True:
        job = batch.read_namespaced_job_status(name, NS)
        if any(c.type in ("Complete", "Failed") and c.status == "True" for c in job.status.conditions or []):
            break
        time.sleep(0.2)
    raw = time.monotonic() - t0
    batch.delete_namespaced_job(name, NS, propagation_policy="Background")
    t0 = time.monotonic()
    array_id = rest.submit(
        "#!/bin/sh\ntrue\n", name="bench-array", array=f"0-{n - 1}", time_limit={"set": True, "number": 10}
    )
    deadline = t0 + 1800
    while time.monotonic() < deadline:
        states = rest.states()
        left = [s for j, s in states.items() if j.startswith(f"{array_id}_") and s not in FINAL]
        if str(array_id) in states and states[str(array_id)] not in FINAL:
            left.append(states[str(array_id)])
        if not left:
            break
        time.sleep(0.5)
    bridged = time.monotonic() - t0
    return {"raw_indexed_job_s": raw, "slurm_array_s": bridged, "ratio": bridged / raw}


def real_node_latency(rest: Rest, n: int) -> dict[str, float]:
    bridge("up")
    out: list[float] = []
    for i in range(n):
        t0 = time.monotonic()
        job = rest.submit("#!/bin/sh\nsleep 2\n", name=f"real-{i}", time_limit={"set": True, "number": 5})
        while time.monotonic() < t0 + 120:
            if rest.states().get(str(job)) in ("RUNNING", *FINAL):
                out.append(time.monotonic() - t0)
                break
            time.sleep(0.02)
    return {"real_sbatch_to_running_p50_s": pct(out, 0.5), "real_sbatch_to_running_p99_s": pct(out, 0.99)}


def steady(seconds: float) -> dict[str, float]:
    """The daemon's RSS and Slurm RPCs per poll over ``seconds`` (its status line comes every 30 s)."""
    first = daemon_status()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and daemon_status().get("polls") == first.get("polls"):
        time.sleep(1)
    time.sleep(max(deadline - time.monotonic(), 0))
    last = daemon_status()
    polls = max(last.get("polls", 0) - first.get("polls", 0), 1)
    states = last.get("slurm_rpcs", {}).get("states", 0) - first.get("slurm_rpcs", {}).get("states", 0)
    reads = last.get("records_read", 0) - first.get("records_read", 0)
    return {
        "tracked": last.get("tracked", 0),
        "rss_mib": last.get("rss_kib", 0) / 1024,
        "rpcs_per_poll": (states + reads) / polls,
    }


def tracked(rest: Rest, n: int) -> dict[str, Any]:
    bridge("up", "--kwok")
    base = steady(65)
    gate = rest.submit("#!/bin/sh\ntrue\n", name="track-gate", hold=True, partition="debug")
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda i: rest.submit("#!/bin/sh\ntrue\n", name=f"track-{i}", dependency=f"afterok:{gate}"), range(n)
            )
        )
    deadline = time.monotonic() + 600
    while daemon_status().get("tracked", 0) < n and time.monotonic() < deadline:
        time.sleep(2)
    loaded = steady(65)
    print(json.dumps({"tracked_baseline": base, "tracked_with_jobs": loaded}), file=sys.stderr, flush=True)
    every = [str(i) for i in [gate, *ids]]
    for start in range(0, len(every), 100):  # slurmrestd answers 500 to one DELETE of 8,000 ids (and of 500 under load)
        try:
            rest.call("DELETE", "/slurm/v0.0.42/jobs/", {"job_id": every[start : start + 100]})
        except OSError:  # an HTTPError too: scancel gets the rest
            sh(str(REPO / "lab" / "batch"), "as", "root", "scancel", *every[start:])
            break
    return {
        "baseline": base,
        "with_jobs": loaded,
        "rss_ratio": loaded["rss_mib"] / max(base["rss_mib"], 1e-9),
        "rpcs_per_poll_ratio": loaded["rpcs_per_poll"] / max(base["rpcs_per_poll"], 1e-9),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000, help="jobs for the intake figure")
    ap.add_argument("--lat", type=int, default=60, help="jobs for the latency figures")
    ap.add_argument("--array", type=int, default=1000, help="tasks of the array figure")
    ap.add_argument("--real", type=int, default=10, help="jobs for the real node's latency")
    ap.add_argument("--phases", default="intake,latency,array,real", help="which figures, comma-separated")
    ap.add_argument("--track", type=int, default=0, help="bridged jobs held on a dependency, for RSS and poll cost")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (it restarts lab/bridge)")
    rest = Rest("alice")
    batch, core = kube()
    bridge("up", "--kwok")
    results: dict[str, Any] = {}
    phases = set(a.phases.split(","))
    if "intake" in phases:
        results["intake"] = intake(rest, batch, a.n)
        status = daemon_status()
        results["daemon_after_intake"] = status
        jobs = max(status.get("created", 0), 1)
        rpcs = status.get("slurm_rpcs", {})
        poll_rpcs = rpcs.get("states", 0) + status.get("records_read", 0)  # REST: one RPC per record read
        results["per_job"] = {
            "apiserver_writes": (status.get("created", 0) + status.get("deleted", 0) + status.get("events", 0)) / jobs,
            "slurm_rpcs_besides_polls": (sum(rpcs.values()) - rpcs.get("states", 0) - rpcs.get("records", 0)) / jobs,
            "slurm_rpcs_per_poll": poll_rpcs / max(status.get("polls", 1), 1),
            "records_read_per_job": status.get("records_read", 0) / jobs,
        }
    if "latency" in phases:
        results["latency_kwok"] = latencies(rest, core, a.lat)
    if "array" in phases:
        results["array"] = array(rest, batch, a.array)
    if "real" in phases:
        results["real_node"] = real_node_latency(rest, a.real)
    results["daemon_rss_mib"] = daemon_status().get("rss_kib", 0) / 1024
    print(json.dumps(results), file=sys.stderr, flush=True)  # kept even if the --track phase fails
    if a.track:
        results["tracked"] = tracked(rest, a.track)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
