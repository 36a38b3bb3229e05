"""`batch-bridge submit | status | logs | cancel | pipeline run` as alice, kubernetes backend."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.fixtures.sdk_lab import REPO, SdkKube, run_as

pytestmark = pytest.mark.integration
MAIN = REPO / "bridge" / "cli" / "main.py"


def _cli(lab: SdkKube, *args: str, timeout: float = 300) -> tuple[int, str]:
    words = 2 if args[0] == "pipeline" else 1
    options = ["--config", lab.config_file, "--kubeconfig", lab.kubeconfig]
    proc = run_as("alice", MAIN, *args[:words], *options, *args[words:])
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out


def test_submit_wait_status_logs(sdk_kube: SdkKube) -> None:
    code, out = _cli(
        sdk_kube, "submit", "--mem", "64M", "--time", "2:00", "--wait", "--", "sh", "-c", "echo cli-ok; exit 4"
    )
    assert code == 4, out
    job_id = out.splitlines()[0]
    code, out = _cli(sdk_kube, "status", job_id)
    assert code == 0 and "\tfailed\t4\t" in out, out
    code, out = _cli(sdk_kube, "logs", job_id)
    assert (code, out) == (0, "cli-ok\n")


def test_cancel_and_pipeline_run_from_yaml(sdk_kube: SdkKube, tmp_path: Path) -> None:
    code, out = _cli(sdk_kube, "submit", "--mem", "64M", "--", "sleep", "300")
    job_id = out.splitlines()[0]
    code, out = _cli(sdk_kube, "cancel", job_id)
    assert code == 0 and f"{job_id} cancelled" in out
    name = f"cli-{uuid.uuid4().hex[:6]}"
    spec = Path(f"/lab/gpfs/home/alice/{name}.yaml")
    spec.write_text(
        f"name: {name}\nsteps:\n"
        "  - {name: a, command: [sh, -c, 'echo a'], memory: 64M}\n"
        "  - {name: b, command: [sh, -c, 'exit 2'], memory: 64M, after_ok: [a]}\n"
        "  - {name: c, command: ['true'], memory: 64M, after_not_ok: [b]}\n"
    )
    code, out = _cli(sdk_kube, "pipeline", "run", str(spec))
    assert code == 1, out  # b failed
    assert out.splitlines()[-1] == "a=succeeded b=failed c=succeeded"  # not a terminal: plain lines
