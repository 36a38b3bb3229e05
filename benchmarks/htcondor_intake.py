"""The HTCondor adapter's figures on the lab, each against a baseline measured in the same run.

Usage (root, labs up): python benchmarks/htcondor_intake.py [-n 1000] [--lat 30]
The HTCondor daemon alone is restarted with jobs on the kwok nodes (`lab/bridge up --kwok --only
htcondor`; the Slurm daemon is left alone). Prints:
- intake: N idle selected jobs (one `queue N`) -> claimed and Kubernetes Jobs created (observed with
  one watch), vs the daemon's client creating the same Jobs (the builder's objects for the same ad,
  other job ids) directly with as many threads as the daemon has workers, as a ratio; and vs a
  minimal Job, as before;
- condor_submit -> R in condor_q, and pod terminal -> JobStatus 4 in the schedd (p50/p99), one job
  at a time, observed by one clock here; and how long the move to history took;
- schedd RPCs: the total over the run, and per job once the polls' own calls (one claim edit, one
  or two queries each) are taken out; the daemon's RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slurm_adapter import (
    ALICE,
    HOME,
    NS,
    bridge,
    cpu_by_process,
    cpu_since,
    create_rate,
    delete_and_settle,
    kube,
    pct,
    raw_create_rate,
    watch_created,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    os.environ["CONDOR_CONFIG"] = str(HOME / "batch" / "access" / "condor" / "condor" / "condor_config")
    import htcondor

REPO = Path(__file__).resolve().parents[1]
ALICE_HOME = "/lab/gpfs/home/alice"


ARGUMENTS = "-c 'sleep {}'"


def submit(n: int, sleep_s: int = 0) -> int:
    desc = (
        "executable = /bin/sh\n"
        f'arguments = "{ARGUMENTS.format(sleep_s)}"\n'
        "should_transfer_files = NO\n+WantKubernetes = true\n"
        f"queue {n}\n"
    )
    lab = str(REPO / "lab" / "batch")
    out = subprocess.run([lab, "as", "alice", "condor_submit"], input=desc, cwd=ALICE_HOME, capture_output=True,
                         text=True, check=True, timeout=300).stdout  # fmt: skip
    match = re.search(r"submitted to cluster (\d+)", out)
    assert match, out
    return int(match.group(1))


def same_jobs_create_rate(batch: Any, n: int) -> tuple[float, dict[str, float]]:
    """The issue's baseline: the Jobs the daemon builds for the submitted ads (other job ids)."""
    import classad

    from adapters.htcondor.ad import AdContext, to_ir, view_of
    from bridge.config.settings import load_settings
    from bridge.kube.objects import build_job

    settings = load_settings(REPO / "examples" / "config" / "lab.yaml")
    base = {
        "Owner": "alice", "JobUniverse": 5, "Cmd": "/bin/sh", "Arguments": ARGUMENTS.format(0), "Iwd": ALICE_HOME,
        "RequestCpus": 1, "RequestMemory": 128, "QDate": int(time.time()), "ClusterId": 900000 + os.getpid() % 99999,
    }  # fmt: skip
    irs = [to_ir(view_of(classad.ClassAd({**base, "ProcId": i})), AdContext(ALICE, "baseline"), settings.htcondor)
           for i in range(n)]  # fmt: skip
    return create_rate(batch, [build_job(ir, settings.site, settings.kube) for ir in irs])


def schedd() -> Any:
    name = json.loads((HOME / "batch" / "endpoints.json").read_text())["hostname"]
    return htcondor.Schedd(htcondor.Collector().locate(htcondor.DaemonTypes.Schedd, name))


def statuses(s: Any, cluster: int) -> dict[int, int]:
    return {int(a["ProcId"]): int(a["JobStatus"]) for a in s.query(f"ClusterId == {cluster}", ["ProcId", "JobStatus"])}


def daemon_status() -> dict[str, Any]:
    for line in reversed((HOME / "bridge" / "htcondor.log").read_text().splitlines()):
        for word in ("stopping: ", "status ", "ready: watches synced, first poll done ("):
            if word in line:
                data: dict[str, Any] = json.loads(line.split(word, 1)[1].rstrip(")"))
                return data
    return {}


def intake(batch: Any, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    delete_and_settle(batch, "batch-bridge.io/source=htcondor")  # earlier runs' finished Jobs (ttl an hour)
    raw = raw_create_rate(batch, n)
    same, cpu_same = same_jobs_create_rate(batch, n)
    bridge("down", "--only", "htcondor")
    # This checkout's schedd config (the transforms that pre-claim), whatever another checkout installed.
    subprocess.run([str(REPO / "lab" / "batch"), "up"], capture_output=True, check=True, timeout=600)
    cluster = submit(n)
    times: list[float] = []

    def ours(job: Any) -> bool:
        return str((job.metadata.annotations or {}).get("batch-bridge.io/source-id", "")).startswith(f"{cluster}.")

    deadline = time.monotonic() + 900
    t = threading.Thread(target=lambda: times.extend(watch_created(batch, n, set(), deadline, "htcondor", ours)))
    t.start()
    time.sleep(1)  # the watch is open before the daemon starts
    bridge("up", "--kwok", "--only", "htcondor")
    started = daemon_status()  # the counters at the daemon's first poll
    cpu = cpu_by_process()
    t.join()
    cpu_bridged = cpu_since(cpu)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    s = schedd()
    while time.monotonic() < deadline and statuses(s, cluster):
        time.sleep(1)
    delete_and_settle(batch, "batch-bridge.io/source=htcondor")
    # Measured again once the bridged jobs are done: against the faster of the two (the harder figure).
    same_after, _ = same_jobs_create_rate(batch, n)
    best = max(same, same_after)
    out = {
        "raw_minimal_job_create_per_s": raw, "same_jobs_create_per_s": same,
        "same_jobs_create_per_s_after": same_after, "intake_per_s": rate,
        "ratio": rate / best if best else 0.0, "ratio_vs_minimal_job": rate / raw if raw else 0.0,
        "created": len(times),
        "cpu_s_same_jobs": cpu_same, "cpu_s_bridged": cpu_bridged,  # where the cores went meanwhile
    }  # fmt: skip
    return out, started


def latencies(core: Any, n: int) -> dict[str, float]:
    s = schedd()
    to_r, lag, hist = [], [], []
    for _ in range(n):
        t0 = time.monotonic()
        cluster = submit(1, sleep_s=2)
        while statuses(s, cluster).get(0) != 2 and time.monotonic() - t0 < 60:
            time.sleep(0.02)
        to_r.append(time.monotonic() - t0)
        pod_done = None
        while time.monotonic() - t0 < 120:
            pods = core.list_namespaced_pod(NS, label_selector=f"batch-bridge.io/job-id={cluster}.0").items
            if pod_done is None and any(p.status.phase in ("Succeeded", "Failed") for p in pods):
                pod_done = time.monotonic()
            st = statuses(s, cluster).get(0)
            if st == 4 or st is None:
                lag.append(time.monotonic() - (pod_done or time.monotonic()))
                break
            time.sleep(0.02)
        t1 = time.monotonic()
        while statuses(s, cluster) and time.monotonic() - t1 < 120:
            time.sleep(0.1)
        hist.append(time.monotonic() - t1)
    return {
        "submit_to_R_p50": pct(to_r, 0.5), "submit_to_R_p99": pct(to_r, 0.99),
        "pod_end_to_status4_p50": pct(lag, 0.5), "pod_end_to_status4_p99": pct(lag, 0.99),
        "status4_to_history_p50": pct(hist, 0.5),
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--lat", type=int, default=30)
    args = ap.parse_args()
    batch, core = kube()
    figures, before = intake(batch, args.n)
    out: dict[str, Any] = {"intake": figures}
    out["latency"] = latencies(core, args.lat)
    bridge("down", "--only", "htcondor")
    after = daemon_status()
    rpcs = {k: v - before.get("schedd_rpcs", {}).get(k, 0) for k, v in after.get("schedd_rpcs", {}).items()}
    polls = after.get("polls", 0) - before.get("polls", 0)
    jobs = args.n + args.lat
    per_job = {k: round((v - polls * (1 if k == "edit" else 2)) / jobs, 2) for k, v in rpcs.items()}
    out["rpcs"] = {"total": rpcs, "polls": polls, "jobs": jobs, "per_job_besides_polls": per_job}
    out["rss_kib"] = after.get("rss_kib")
    bridge("up", "--only", "htcondor")  # back to the lab's default (the real node)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
