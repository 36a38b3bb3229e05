"""SDK figures on the lab (issue 12), as alice in a namespace of her own, jobs on the kwok nodes.

- submit rate: N JobSpecs through Client.submit vs the same N Jobs (same builder, same client
  library, same threads) created raw with create_namespaced_job, in the same run; ratio >= 0.8 wanted.
- watch overhead: CPU seconds of this process per tracked job, status events per job, and how long
  after the Job's completionTime (1 s resolution) the SDK saw each job final.
- memory of a Pipeline with 10,000 steps (definition and a run's bookkeeping), traced.

``--backend htcondor`` (as alice, her own IDTOKEN, the bridged selection): N JobSpecs through
Client.submit vs the same N submit descriptions (the SDK's builder) through the raw bindings
(htcondor2 Schedd.submit, interleaved one for one with the SDK's) and through condor_submit (one
process per job, as a user's loop would, inside the lab), in the same run; then the SDK's queries
per poll while it follows its N jobs to the end. Every cluster made is removed at the end.

    .venv/bin/python benchmarks/sdk.py [--jobs 1000] [--threads 8]
    .venv/bin/python benchmarks/sdk.py --backend htcondor [--jobs 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client as kclient

from bridge.domain import wellknown as wk
from bridge.engine.identity import from_nss
from bridge.kube.objects import build_job

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fixtures, run as a script
from bridge.sdk import Client, JobSpec, Pipeline
from bridge.sdk.pipeline_run import PipelineRun
from bridge.sdk.status import JobStatus
from tests.fixtures.sdk_lab import SdkKube, as_user, sdk_namespace

REPO = Path(__file__).resolve().parents[1]
SPEC = JobSpec.command(["true"], memory="16M", time_limit=300, working_dir="/lab/gpfs/home/alice")


def raw_rate(lab: SdkKube, n: int, threads: int) -> float:
    """The same Jobs the SDK makes (its builder), created raw as the admin: the ceiling."""
    ident = from_nss("alice", 2001)
    objects = []
    for i in range(n):
        ir = SPEC.to_ir(identity=ident, source_id=f"raw.{i}", cluster="raw", cwd="/lab/gpfs/home/alice", queue=None)
        job = build_job(ir, lab.settings.site, lab.settings.kube).job
        for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
            meta["labels"][wk.LABEL_USER] = "raw"  # outside the SDK's watch
        objects.append(job)
    batch: Any = kclient.BatchV1Api(lab.admin)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda o: batch.create_namespaced_job(lab.namespace, o, _preload_content=False), objects))
    return n / (time.perf_counter() - t0)


def sdk_rate(sdk: Client, n: int, threads: int) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        jobs = list(pool.map(lambda i: sdk.submit(SPEC, key=f"bench.{i}"), range(n)))
    return n / (time.perf_counter() - t0), [j.id for j in jobs]


def watch_overhead(sdk: Client, ids: list[str], timeout: float) -> tuple[dict[str, float], dict[str, datetime]]:
    """Follow every job to its end through the watch; when each was first seen final (hub sink)."""
    cpu0, events0 = time.process_time(), sdk.backend.hub.published
    seen: dict[str, datetime] = {}

    def sink(status: JobStatus) -> None:
        if status.final:
            seen.setdefault(status.job_id, datetime.now(UTC))

    for job_id in ids:
        sdk.backend.hub.subscribe(job_id, sink)
    deadline = time.monotonic() + timeout
    for job_id in ids:
        sdk.get(job_id).wait(max(1.0, deadline - time.monotonic()))
    figures = {
        "cpu_ms_per_job": 1000 * (time.process_time() - cpu0) / len(ids),
        "events_per_job": (sdk.backend.hub.published - events0) / len(ids),
    }
    return figures, seen


def lag_p50(lab: SdkKube, seen: dict[str, datetime]) -> float:
    """Seconds from each Job's completionTime (whole seconds) to the SDK seeing it final."""
    batch: Any = kclient.BatchV1Api(lab.admin)
    items = batch.list_namespaced_job(lab.namespace, label_selector="batch-bridge.io/user=alice").items
    done = {f"{lab.namespace}/{j.metadata.name}": j.status.completion_time for j in items}
    lags = [(seen[i] - done[i]).total_seconds() for i in seen if done.get(i) is not None]
    return statistics.median(lags) if lags else float("nan")


def pipeline_memory(steps: int) -> float:
    tracemalloc.start()
    p = Pipeline("big")
    previous = None
    for i in range(steps):
        spec = SPEC.with_options(name=f"s{i}")
        previous = p.step(f"s{i}", spec, after_ok=[previous] if previous and i % 100 else [])
    run = PipelineRun(p, backend=None)  # type: ignore[arg-type]  # bookkeeping only, nothing submitted
    run.unrun = {}
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / 2**20


def condor_figures(jobs: int) -> None:
    from bridge.sdk import condor_submit as cs
    from bridge.sdk.condor_backend import clusters_constraint
    from tests.fixtures.sdk_lab import LAB_CONFIG, condor_lab_user

    lab, home = condor_lab_user(), "/lab/gpfs/home/alice"
    spec = SPEC.with_options(name="bench")
    made: list[str] = []
    with as_user("alice"), Client("htcondor", config=LAB_CONFIG, collector=lab.collector) as sdk:
        backend: Any = sdk.backend
        sub = cs.submission(spec, sdk.settings.site, cwd=home, key=None)
        text = "".join(f"{k} = {v}\n" for k, v in sub.description.items()) + "queue\n"
        h, ids, sdk_s, raw_s = backend.htcondor, [], 0.0, 0.0
        for _ in range(jobs):  # interleaved: neither side gets the quieter schedd
            t0 = time.perf_counter()
            ids.append(sdk.submit(spec).id)
            t1 = time.perf_counter()
            made.append(str(backend.schedd.submit(h.Submit(sub.description), count=1).cluster()))
            sdk_s, raw_s = sdk_s + t1 - t0, raw_s + time.perf_counter() - t1
        made += ids
    description = Path(f"{home}/.batch-bridge/bench.sub")
    description.write_text(text)
    os.chown(description, 2001, 2001)
    t0 = time.perf_counter()
    for _ in range(jobs):
        out = lab.run_as("alice", "sh", "-c", f"cd {home} && condor_submit -terse .batch-bridge/bench.sub")
        made.append(out.split(".")[0].strip())
    cli_s = time.perf_counter() - t0
    print(f"htcondor submit of {jobs} jobs: SDK {jobs / sdk_s:.1f}/s, raw bindings {jobs / raw_s:.1f}/s "
          f"(ratio {raw_s / sdk_s:.2f}), condor_submit {jobs / cli_s:.1f}/s (ratio {cli_s / sdk_s:.2f})")  # fmt: skip
    with as_user("alice"), Client("htcondor", config=LAB_CONFIG, collector=lab.collector) as sdk:
        backend = sdk.backend
        polls0, queries0, t0 = backend.polls, backend.queries, time.perf_counter()
        ended = sum(1 for i in ids if sdk.get(i).wait(600).final)
        polls, queries = backend.polls - polls0, backend.queries - queries0
        print(f"watch of {jobs} jobs to their end ({ended} ended, {time.perf_counter() - t0:.0f} s): "
              f"{polls} polls, {queries / max(polls, 1):.2f} schedd queries per poll")  # fmt: skip
        for chunk in range(0, len(made), 100):
            backend.schedd.act(
                backend.htcondor.JobAction.Remove, clusters_constraint(map(int, made[chunk : chunk + 100]))
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["kubernetes", "htcondor"], default="kubernetes")
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--sdk-first", action="store_true", help="the SDK's creates before the raw ones (order bias)")
    ns = ap.parse_args()
    if ns.backend == "htcondor":
        condor_figures(ns.jobs)
        return
    print(f"pipeline of 10,000 steps: {pipeline_memory(10_000):.1f} MiB (traced)")
    with sdk_namespace(REPO / "examples" / "config" / "lab.yaml", prefix="sdk-bench") as lab:
        raw = 0.0 if ns.sdk_first else raw_rate(lab, ns.jobs, ns.threads)  # as root: the admin's client
        with as_user("alice"), Client("kubernetes", config=lab.settings, kubeconfig=lab.kubeconfig) as sdk:
            rate, ids = sdk_rate(sdk, ns.jobs, ns.threads)
            overhead, seen = watch_overhead(sdk, ids, timeout=600)
        raw = raw or raw_rate(lab, ns.jobs, ns.threads)
        overhead["lag_p50_s"] = lag_p50(lab, seen)
        print(f"submit {ns.jobs} jobs, {ns.threads} threads: raw {raw:.0f}/s, SDK {rate:.0f}/s, ratio {rate / raw:.2f}")
        print("watch: " + ", ".join(f"{k} {v:.2f}" for k, v in overhead.items()))


if __name__ == "__main__":
    main()
