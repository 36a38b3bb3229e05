"""submitit, unchanged but for the partition, on the bridged partition: installed from PyPI into a venv on
site storage by alice, run on the login node; its own sbatch script (--wckey, --signal=USR2@90,
--open-mode=append, srun --unbuffered ... python -m submitit.core._submit) runs in a pod, and the
function's return value comes back through the shared folder, as on any Slurm cluster.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.bridge_lab import SlurmBridge
from tests.fixtures.tools import user_venv
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration
SUBMITIT = ["submitit==1.5.4"]

CLIENT = """
import sys
import submitit

executor = submitit.AutoExecutor(folder=sys.argv[1] + "/%j")
executor.update_parameters(slurm_partition="k8s", timeout_min=5)
job = executor.submit(pow, 2, 10)
jobs = executor.map_array(lambda x: x * x, range(5))
print("single", job.job_id, job.result())
print("array", " ".join(j.job_id for j in jobs), [j.result() for j in jobs])
"""


def test_submitit_function_result_and_a_map_array_of_5(slurm_bridge: SlurmBridge) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    venv = user_venv(slurm_bridge.slurm.lab, "alice", "submitit", SUBMITIT)
    folder = f"{alice.home}/submitit-{uuid.uuid4().hex[:8]}"
    proc = slurm_bridge.slurm.run("alice", f"{venv}/bin/python", "-c", CLIENT, folder, timeout=600)
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    job_id, value = lines["single"].split(" ", 1)
    assert value == "1024", proc.stdout
    ids, results = lines["array"].split(" [", 1)
    assert results == "0, 1, 4, 9, 16]", proc.stdout
    for jid in [job_id, *ids.split()]:  # the result file comes first; Slurm's end follows the pod's

        def final(jid: str = jid) -> str | None:
            out = slurm_bridge.slurm.run(
                "alice", "sacct", "-X", "-n", "-P", "-j", jid, "-o", "State,ExitCode,Partition"
            )
            line = out.stdout.strip()
            return line if line.split("|")[0] not in ("", "PENDING", "RUNNING", "COMPLETING") else None

        assert wait_until(f"{jid} final in sacct", final, 60) == "COMPLETED|0:0|k8s", jid
