"""Workflow tools on the lab (issue 14): each tool's workflow on the lab's native partition (HTCondor:
the pool's own slot) and on the bridged one, in the same run, as alice; the wall time ratio (bridged / native) and the
batch-system commands the tool itself ran (counted by shims first on its PATH).

    .venv/bin/python benchmarks/workflow_tools.py [--tools submitit,snakemake,law,law-htcondor]

Needs the lab and both adapters (`make setup`); jobs go to the real node.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fixtures, run as a script
from tests.fixtures.batch_lab import BatchLab
from tests.fixtures.tools import call_counts, counting_path, user_tree
from tests.fixtures.waiting import lab_state
from tests.fixtures.workflows import law_workflow, snakemake, submitit_run

REPO = Path(__file__).resolve().parents[1]
COUNTED = ["sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo", "sacctmgr", "condor_submit", "condor_q",
           "condor_history", "condor_rm"]  # fmt: skip

Runner = Callable[[BatchLab, bool, Path], object]
TOOLS: dict[str, Runner] = {
    "submitit": lambda lab, bridged, path: submitit_run(lab, "k8s" if bridged else "debug", path),
    "snakemake": lambda lab, bridged, path: snakemake(lab, "k8s" if bridged else "debug", path),
    "law": lambda lab, bridged, path: law_workflow(lab, bridged, path),
    "law-htcondor": lambda lab, bridged, path: law_workflow(lab, bridged, path, manager="htcondor"),
}


def measure(lab: BatchLab, run: Runner, bridged: bool) -> tuple[float, dict[str, int]]:
    top = user_tree(lab, "alice", "bench-calls", {})
    bindir, log = counting_path(lab, "alice", top, COUNTED)
    t0 = time.monotonic()
    run(lab, bridged, bindir)
    return time.monotonic() - t0, call_counts(log)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated, from: " + ", ".join(TOOLS))
    args = ap.parse_args()
    subprocess.run([str(REPO / "lab" / "bridge"), "up"], check=True, capture_output=True)
    lab = BatchLab(json.loads((lab_state("batch") / "endpoints.json").read_text()))
    print(f"{'tool':<14}{'native s':>10}{'bridged s':>11}{'ratio':>7}  calls native | bridged")
    for name in args.tools.split(","):
        native, native_calls = measure(lab, TOOLS[name], bridged=False)
        bridged, bridged_calls = measure(lab, TOOLS[name], bridged=True)
        calls = f"{_calls(native_calls)} | {_calls(bridged_calls)}"
        print(f"{name:<14}{native:>10.1f}{bridged:>11.1f}{bridged / native:>7.2f}  {calls}", flush=True)


def _calls(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"


if __name__ == "__main__":
    main()
