"""Snakemake with snakemake-executor-plugin-slurm, unchanged but for the partition, on the bridged
partition: installed from PyPI into a venv on site storage by alice, run on the login node. The plugin
submits each rule's job with its own sbatch call, polls sacct, and runs the rule inside the job through
`srun` (the bridge's srun inside the pod); the outputs land on shared storage, as on any Slurm cluster.
"""

from __future__ import annotations

import pytest

from tests.fixtures.bridge_lab import SlurmBridge
from tests.fixtures.workflows import snakemake

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("slurm_bridge", ["rest"], indirect=True)
def test_snakemake_three_rules_run_as_jobs_of_the_bridged_partition(slurm_bridge: SlurmBridge) -> None:
    merged, job_ids, log = snakemake(slurm_bridge.slurm.lab, "k8s")
    assert len(job_ids) == 4, log  # three splits and the merge; `all` is local
    lines = merged.splitlines()
    assert [line.split()[:2] for line in lines] == [["part", "0"], ["part", "1"], ["part", "2"]], merged
    for line in lines:  # each split ran in its own job, in a pod (the pod's host name, not the login node's)
        _, _, jid, host = line.split()
        assert int(jid) in job_ids and host.startswith(f"slurm-lab-{jid}-"), line
    for job_id in job_ids:
        rec = slurm_bridge.slurm.wait_sacct(job_id)
        assert (rec["State"], rec["ExitCode"], rec["Partition"]) == ("COMPLETED", "0:0", "k8s"), rec
