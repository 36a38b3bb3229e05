"""The other side goes away in the middle of a run: slurmctld restarts, the apiserver is down for 30 s.
Every job still ends with its own exit code, once, on one Kubernetes Job.

The daemon keeps its last view of the side that is down (the poll fails and is retried, the
reflectors relist when the apiserver is back) and finds the rows again from what both sides record.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.bridge_lab import NAMESPACE, SlurmBridge
from tests.fixtures.waiting import lab_state, wait_until

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
JOBS = 6
OUTAGE_S = 30.0


def _stop(pid_file: Path, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal the lab process of ``pid_file`` and wait until it is gone."""
    pid = int(pid_file.read_text().split()[0])
    os.kill(pid, sig)
    wait_until(f"pid {pid} ({pid_file.stem}) gone", lambda: not Path(f"/proc/{pid}").exists() or None, 60)


def _up(lab: str) -> None:
    proc = subprocess.run([str(REPO / "lab" / lab), "up"], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"lab/{lab} up:\n{proc.stdout}\n{proc.stderr}"


def _submit(bridge: SlurmBridge, seconds: int) -> list[int]:
    alice = bridge.slurm.users["alice"]
    script = "#!/bin/sh\n#SBATCH -t 5 -o /dev/null\nsleep {s}\nexit {code}\n"
    return [bridge.submit("alice", script.format(s=seconds, code=i % 3), cwd=alice.home) for i in range(JOBS)]


def _running(bridge: SlurmBridge, ids: list[int]) -> int:
    out = bridge.slurm.run("alice", "squeue", "-h", "-t", "R", "-o", "%i", "-j", ",".join(map(str, ids))).stdout
    return len(out.split())


def _terminal_pods(bridge: SlurmBridge) -> int:
    pods = bridge.kube.core.list_namespaced_pod(NAMESPACE, label_selector="batch-bridge.io/source=slurm").items
    return sum(p.status.phase in ("Succeeded", "Failed") for p in pods)


def _check_all(bridge: SlurmBridge, ids: list[int]) -> None:
    for i, job in enumerate(ids):
        rec = bridge.slurm.wait_sacct(job, timeout=300)
        want = ("COMPLETED", "0:0") if i % 3 == 0 else ("FAILED", f"{i % 3}:0")
        assert (rec["State"], rec["ExitCode"]) == want, (job, rec)
        assert f"done={want[0]} exit={i % 3} sig=0" in rec["AdminComment"], rec
        (kjob,) = bridge.kube_jobs(job)
        pods = bridge.kube.core.list_namespaced_pod(
            NAMESPACE, label_selector=f"batch.kubernetes.io/job-name={kjob.metadata.name}"
        ).items
        assert len(pods) == 1, (job, [p.metadata.name for p in pods])


def test_slurmctld_restart_in_the_middle_of_a_run(slurm_bridge: SlurmBridge) -> None:
    ids = _submit(slurm_bridge, 4)
    wait_until("a job running", lambda: _running(slurm_bridge, ids) or None, 120)
    before = _terminal_pods(slurm_bridge)
    try:
        _stop(lab_state("batch") / "pids" / "slurmctld.pid")
        # Down until a pod has ended on Kubernetes: that outcome must reach Slurm after the restart.
        wait_until("a pod ending while slurmctld is down", lambda: _terminal_pods(slurm_bridge) > before or None, 60)
    finally:
        _up("batch")
    _check_all(slurm_bridge, ids)


def test_apiserver_down_30s_in_the_middle_of_a_run(slurm_bridge: SlurmBridge) -> None:
    ids = _submit(slurm_bridge, 8)
    wait_until("a job running", lambda: _running(slurm_bridge, ids) or None, 120)
    daemon = slurm_bridge.pid()
    try:
        # Killed, not stopped: a graceful apiserver drains its watches for a minute first.
        _stop(lab_state("kube") / "run" / "kube-apiserver.pid", signal.SIGKILL)
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:  # the outage's length, watched: the daemon must live through it
            assert Path(f"/proc/{daemon}").exists(), "the daemon died while the apiserver was down"
            time.sleep(1)
    finally:
        _up("kube")
    _check_all(slurm_bridge, ids)
    assert slurm_bridge.pid() == daemon, "the daemon was restarted"
