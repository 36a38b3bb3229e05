"""Translation throughput: sbatch scripts and HTCondor ads -> IR -> Kubernetes objects, one core.

Prints jobs/s and µs/job for each stage and, as the same-run baseline, the rate of json.dumps of
the objects produced (the least any client does with a manifest before sending it).
Usage: python benchmarks/translate.py [N]   (default 10000)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from adapters.htcondor.ad import AdContext, to_ir
from adapters.htcondor.submit import job_ads
from adapters.slurm.translate import SubmitContext, translate
from bridge.config.settings import load_settings
from bridge.domain.ir import BatchJob, Identity
from bridge.kube.objects import build_job

ALICE = Identity(user="alice", uid=2001, gid=2001, groups=(3000,))
HOME = "/lab/gpfs/home/alice"
SCRIPT = """#!/bin/bash
#SBATCH --job-name=sim-{i}
#SBATCH --partition=k8s
#SBATCH --time=02:00:00
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --output=logs/%x-%j.out
#SBATCH --array=0-99%10
#SBATCH --export=ALL,SEED={i}
module load root
srun ./simulate --seed $SEED --task $SLURM_ARRAY_TASK_ID
"""
SUBMIT = """executable = /bin/sh
transfer_executable = false
arguments = "-c 'echo $(Process)'"
output = out.$(Process)
error = err.$(Process)
request_cpus = 2
request_memory = 2GB
environment = "A=1 B='two words'"
queue {n}
"""


def rate(label: str, n: int, fn: Callable[[], Any], baseline: float | None = None) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    per_s = n / elapsed
    ratio = f"  ({per_s / baseline:5.2f}x baseline)" if baseline else ""
    print(f"{label:<44} {per_s:10.0f} jobs/s {1e6 * elapsed / n:9.1f} µs/job{ratio}")
    return per_s


def report(label: str, per_s: float, baseline: float) -> None:
    print(f"{label:<44} {per_s:10.0f} jobs/s {1e6 / per_s:9.1f} µs/job  ({per_s / baseline:5.2f}x baseline)")


def main(n: int) -> None:
    settings = load_settings("examples/config/lab.yaml")
    now = datetime.now().astimezone()
    env = {"HOME": HOME, "LANG": "C.UTF-8", "USER": "alice"}
    scripts = [SCRIPT.format(i=i) for i in range(n)]
    ctxs = [
        SubmitContext(identity=ALICE, job_id=str(1000 + i), submit_dir=HOME, cluster="lab", now=now, environment=env)
        for i in range(n)
    ]
    slurm_jobs: list[BatchJob] = []
    condor_jobs: list[BatchJob] = []
    objects: list[Any] = []

    def slurm_ir() -> None:
        slurm_jobs.extend(
            translate(s, c, settings=settings.slurm, env_denylist=settings.site.env_denylist)
            for s, c in zip(scripts, ctxs, strict=True)
        )

    def build(jobs: list[BatchJob]) -> Callable[[], None]:
        return lambda: objects.extend(build_job(j, settings.site, settings.kube).as_list() for j in jobs)

    def baseline() -> None:
        for obj in objects[: 2 * n]:
            json.dumps(obj)

    limits = settings.htcondor.model_copy(update={"max_procs": max(n, settings.htcondor.max_procs)})
    print(f"batch-bridge translation benchmark, N={n}, one process, one core")
    s_ir = rate("sbatch script -> IR", n, slurm_ir)
    s_build = rate("IR -> Job objects (sbatch)", n, build(slurm_jobs))
    base = rate("baseline: json.dumps of those objects", n, baseline)
    end_to_end = 1 / (1 / s_ir + 1 / s_build)
    report("sbatch end to end", end_to_end, base)

    with tempfile.TemporaryDirectory() as tmp:
        # HTCondor's code runs in a child of a fork server (bounded memory and time); start the server
        # once, as a running daemon has, so the figure is per description and not the server's start.
        job_ads("executable = /bin/true\nqueue\n", tmp, settings=settings.htcondor)
        views: list[Any] = []
        c_ads = rate(
            "submit description -> ads (HTCondor bindings)",
            n,
            lambda: views.extend(job_ads(SUBMIT.format(n=n), tmp, cluster_id=7, settings=limits)),
        )
    ctx = AdContext(identity=ALICE, cluster="lab", submit_dir=HOME)
    views = [type(v)({**v.values, "Iwd": HOME}, v.literal) for v in views]
    c_ir = rate("job ad -> IR", n, lambda: condor_jobs.extend(to_ir(v, ctx, settings.htcondor) for v in views))
    objects.clear()
    c_build = rate("IR -> Job objects (HTCondor)", n, build(condor_jobs))
    end_to_end = 1 / (1 / c_ads + 1 / c_ir + 1 / c_build)
    report("submit description end to end", end_to_end, base)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
