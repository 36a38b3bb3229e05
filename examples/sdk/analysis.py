"""A realistic analysis pipeline: split an input on shared storage -> N workers (one array) -> merge,
and a cleanup step that runs only if the merge did not succeed.

    python examples/sdk/analysis.py --backend kubernetes --workdir /lab/gpfs/home/alice/demo --workers 10
    python examples/sdk/analysis.py --backend slurm --workdir /lab/gpfs/home/alice/demo
    python examples/sdk/analysis.py --backend htcondor --collector 127.0.0.1:9618 --workdir ...

Run it again after a crash (even kill -9): steps that already succeeded are adopted, not rerun.
The input is made here if missing: the numbers 1..N; the result is their sum, checked at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge import Client, JobSpec, Pipeline

SPLIT = """
import sys
from pathlib import Path
work, n = Path(sys.argv[1]), int(sys.argv[2])
numbers = (work / "input.txt").read_text().split()
for i in range(n):
    (work / f"chunk-{i}.txt").write_text("\\n".join(numbers[i::n]) + "\\n")
print(f"split {len(numbers)} numbers into {n} chunks")
"""
WORK = """
import os, sys
from pathlib import Path
work = Path(sys.argv[1])
i = os.environ.get("BATCH_BRIDGE_ARRAY_INDEX") or os.environ["SLURM_ARRAY_TASK_ID"]
total = sum(int(x) for x in (work / f"chunk-{i}.txt").read_text().split())
(work / f"partial-{i}.txt").write_text(f"{total}\\n")
print(f"task {i}: {total}")
"""
MERGE = """
import sys
from pathlib import Path
work, n = Path(sys.argv[1]), int(sys.argv[2])
total = sum(int((work / f"partial-{i}.txt").read_text()) for i in range(n))
(work / "result.txt").write_text(f"{total}\\n")
print(f"result {total}")
"""
CLEANUP = """
import sys
from pathlib import Path
work = Path(sys.argv[1])
for f in work.glob("chunk-*.txt"):
    f.unlink()
(work / "FAILED").write_text("the merge did not succeed; chunks removed\\n")
"""


def build(name: str, workdir: str, workers: int, fail_task: int | None = None) -> Pipeline:
    small = {"memory": "64M", "time_limit": 300, "working_dir": workdir}
    work_code = WORK + (f"sys.exit(7 if int(i) == {fail_task} else 0)\n" if fail_task is not None else "")
    p = Pipeline(name)
    split = p.step("split", JobSpec.command(["python3", "-c", SPLIT, workdir, str(workers)], name="split", **small))
    work = p.step(
        "work",
        JobSpec.command(
            ["python3", "-c", work_code, workdir],
            name="work",
            array=range(workers),
            stdout=f"{workdir}/work-{{index}}.out",
            **small,
        ),
        after_ok=[split],
    )
    merge = p.step(
        "merge",
        JobSpec.command(["python3", "-c", MERGE, workdir, str(workers)], name="merge", **small),
        after_ok=[work],
    )
    p.step(
        "cleanup", JobSpec.command(["python3", "-c", CLEANUP, workdir], name="cleanup", **small), after_not_ok=[merge]
    )
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["kubernetes", "slurm", "htcondor"], default="kubernetes")
    ap.add_argument("--workdir", required=True, help="a directory on site storage (created if missing)")
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--numbers", type=int, default=1000)
    ap.add_argument("--name", default="analysis", help="pipeline name: the same name resumes")
    ap.add_argument("--config", help="bridge configuration YAML (default $BATCH_BRIDGE_CONFIG)")
    ap.add_argument("--kubeconfig", help="kubernetes: your kubeconfig (default $KUBECONFIG, ~/.kube/config)")
    ap.add_argument("--slurm-url", help="slurm: slurmrestd URL (default: the site's)")
    ap.add_argument("--token-file", help="slurm: file with your JWT (default $SLURM_JWT)")
    ap.add_argument("--collector", help="htcondor: the pool's collector (default: your HTCondor configuration)")
    ap.add_argument("--fail-task", type=int, help="make this array task fail (to see the cleanup step run)")
    ns = ap.parse_args(argv)
    work = Path(ns.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "input.txt").exists():
        (work / "input.txt").write_text("\n".join(str(i) for i in range(1, ns.numbers + 1)) + "\n")
    options = {
        "kubernetes": {"kubeconfig": ns.kubeconfig},
        "slurm": {"url": ns.slurm_url, "token_file": ns.token_file},
        "htcondor": {"collector": ns.collector},
    }
    with Client(ns.backend, config=ns.config, **options[ns.backend]) as client:
        run = build(ns.name, str(work), ns.workers, ns.fail_task).run(client)
        print(f"pipeline {ns.name}: adopted {sorted(run.adopted) or 'nothing'}", flush=True)
        for snapshot in run.watch():
            print(" ".join(f"{step}={s.state.value if s else 'waiting'}" for step, s in snapshot.items()), flush=True)
    expected = ns.numbers * (ns.numbers + 1) // 2
    result = (work / "result.txt").read_text().strip() if (work / "result.txt").exists() else None
    print(f"result {result} (expected {expected})")
    return 0 if run.ok and result == str(expected) else 1


if __name__ == "__main__":
    sys.exit(main())
