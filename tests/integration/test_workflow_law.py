"""law (luigi's workflow layer of HEP analyses) on its Slurm and its HTCondor manager, unchanged but for
the partition or the one submit line, on the bridge: installed from PyPI into a venv on site storage by
alice, run on the login node. On Slurm law writes its own job files (``#SBATCH --output=NONE`` when
unset, ``--chdir`` to the job directory), submits them with sbatch, follows them with
``squeue --Format JobID,State`` then sacct. On HTCondor it submits all branches as one cluster with
file transfer (its wrapper renders its inputs in the job's own scratch directory), follows them with
condor_q then condor_history. Each branch's job runs ``law run ... --branch N`` in a pod.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.fixtures.bridge_lab import SlurmBridge
from tests.fixtures.condor_bridge import CondorBridge
from tests.fixtures.workflows import law_jobs, law_workflow

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("slurm_bridge", ["rest"], indirect=True)
def test_law_branches_run_as_bridged_jobs_and_law_sees_them_finish(slurm_bridge: SlurmBridge) -> None:
    top = law_workflow(slurm_bridge.slurm.lab)
    branches = [(top / "out" / f"square_{b}.txt").read_text().split() for b in range(3)]
    assert [int(value) for value, _ in branches] == [0, 1, 4]
    assert all(host.startswith("slurm-lab-") for _, host in branches), branches  # each branch ran in a pod
    assert (top / "out" / "total.txt").read_text() == "5\n"
    jobs = law_jobs(top)
    assert [(j["status"], j["code"]) for j in jobs] == [("finished", 0)] * 3, jobs
    for _, host in branches:  # the pod is named after its Slurm job: slurm-lab-<id>-...
        rec = slurm_bridge.slurm.wait_sacct(int(host.split("-")[2]))
        assert (rec["State"], rec["ExitCode"], rec["Partition"]) == ("COMPLETED", "0:0", "k8s"), rec


def test_law_on_htcondor_with_file_transfer_runs_every_branch_in_a_pod(condor_bridge: CondorBridge) -> None:
    top = law_workflow(condor_bridge.condor.lab, manager="htcondor")
    branches = [(top / "out" / f"square_{b}.txt").read_text().split() for b in range(3)]
    assert [int(value) for value, _ in branches] == [0, 1, 4]
    assert all(host.startswith("htcondor-lab-") for _, host in branches), branches
    assert (top / "out" / "total.txt").read_text() == "5\n"
    jobs = law_jobs(top, "htcondor")
    assert [(j["status"], j["code"]) for j in jobs] == [("finished", 0)] * 3, jobs
    # law records RemoteHost from the schedd: <Job name>@<node>, the Job named htcondor-lab-<cluster>-<proc>-...
    hosts = [str(j["extra"]["remote_host"]) for j in jobs]  # type: ignore[index]
    assert all(h.startswith("htcondor-lab-") and h.endswith("@real-0") for h in hosts), hosts
    procs = Counter(int(h.split("-")[2]) for h in hosts)
    ads = [ad for cluster, n in procs.items() for ad in condor_bridge.wait_history(cluster, procs=n)]
    assert sorted((ad["JobStatus"], ad["ExitCode"], ad["Managed"]) for ad in ads) == [(4, 0, "ScheddDone")] * 3, ads
