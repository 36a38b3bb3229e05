"""asyncio: three jobs at once, their output streamed as it comes, then their results.

python examples/sdk/async_jobs.py --workdir /lab/gpfs/home/alice/demo [--backend slurm]
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bridge import AsyncClient, JobSpec


async def one(client: AsyncClient, workdir: str, n: int) -> str:
    spec = JobSpec.command(
        ["sh", "-c", f"for i in 1 2 3; do echo job{n} step $i; sleep 1; done"],
        name=f"async-{n}",
        memory="64M",
        time_limit=120,
        working_dir=workdir,
        stdout=f"{workdir}/async-{n}.out",
    )
    job = await client.submit(spec)
    async for line in job.logs(follow=True):
        print(f"[{job.id}] {line}", flush=True)
    result = await job.result_async(timeout=300)
    return f"{job.id}: {result.state.value} exit={result.exit_code} ran {result.run_seconds}s"


async def main(ns: argparse.Namespace) -> int:
    options = {"kubernetes": {"kubeconfig": ns.kubeconfig}, "slurm": {"url": ns.slurm_url, "token_file": ns.token_file}}
    async with AsyncClient(ns.backend, config=ns.config, **options[ns.backend]) as client:
        results = await asyncio.gather(*(one(client, ns.workdir, n) for n in range(3)))
    print("\n".join(results))
    return 0 if all("succeeded exit=0" in r for r in results) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["kubernetes", "slurm"], default="kubernetes")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--config")
    ap.add_argument("--kubeconfig")
    ap.add_argument("--slurm-url")
    ap.add_argument("--token-file")
    sys.exit(asyncio.run(main(ap.parse_args())))
