"""submitit, unchanged but for the partition, on the bridged partition: installed from PyPI into a venv on
site storage by alice, run on the login node; its own sbatch script (--wckey, --signal=USR2@90,
--open-mode=append, srun --unbuffered ... python -m submitit.core._submit) runs in a pod, and the
function's return value comes back through the shared folder, as on any Slurm cluster.
"""

from __future__ import annotations

import pytest

from tests.fixtures.bridge_lab import SlurmBridge
from tests.fixtures.waiting import wait_until
from tests.fixtures.workflows import submitit_run

pytestmark = pytest.mark.integration


def test_submitit_function_result_and_a_map_array_of_5(slurm_bridge: SlurmBridge) -> None:
    _, lines = submitit_run(slurm_bridge.slurm.lab, "k8s")
    job_id, value = lines["single"].split(" ", 1)
    assert value == "1024", lines
    ids, results = lines["array"].split(" [", 1)
    assert results == "0, 1, 4, 9, 16]", lines
    for jid in [job_id, *ids.split()]:  # the result file comes first; Slurm's end follows the pod's

        def final(jid: str = jid) -> str | None:
            out = slurm_bridge.slurm.run(
                "alice", "sacct", "-X", "-n", "-P", "-j", jid, "-o", "State,ExitCode,Partition"
            )
            line = out.stdout.strip()
            return line if line.split("|")[0] not in ("", "PENDING", "RUNNING", "COMPLETING") else None

        assert wait_until(f"{jid} final in sacct", final, 60) == "COMPLETED|0:0|k8s", jid


TIMEOUT_CLIENT = """
import sys
import time
import submitit

executor = submitit.AutoExecutor(folder=sys.argv[1] + "/%j")
executor.update_parameters(slurm_partition=sys.argv[2], timeout_min=2)  # submitit asks for USR2 90 s before
job = executor.submit(time.sleep, 600)
print("job", job.job_id, flush=True)
try:
    job.result()
except Exception as exc:
    print("error", type(exc).__name__, " ".join(str(exc).split()))
"""


@pytest.mark.parametrize("slurm_bridge", ["rest"], indirect=True)
def test_submitit_job_that_runs_out_of_time_gets_its_signal_first(slurm_bridge: SlurmBridge) -> None:
    folder, lines = submitit_run(slurm_bridge.slurm.lab, "k8s", client=TIMEOUT_CLIENT, timeout=300)
    # submitit's handler caught USR2 (sent at limit - 90 s), saw the job out of time, not checkpointable,
    # and ended it with its own error instead of being killed at the limit
    assert "timed-out and not checkpointable" in lines["error"], lines
    job_id = lines["job"]
    log = (folder / job_id / f"{job_id}_0_log.err").read_text()
    assert "Caught signal SIGUSR2" in log, log
    rec = slurm_bridge.slurm.wait_sacct(int(job_id))
    elapsed = slurm_bridge.slurm.run("alice", "sacct", "-X", "-n", "-P", "-j", job_id, "-o", "ElapsedRaw").stdout
    assert rec["State"] != "TIMEOUT" and int(elapsed.split()[0]) < 120, (rec, elapsed)
