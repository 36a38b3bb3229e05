"""One IR whichever way a script comes in: `batch-bridge translate` of an example script and the daemon's
IR built from slurmctld's record of the same submission (real sbatch as alice, through job_submit.lua)
are compared field by field, in both directions: a field one side lacks fails the test.

The submission waits on a held blocker job (a dependency), so the daemon leaves it alone while the
test reads the record through the same transport the daemon uses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.slurm import marker as mk
from adapters.slurm.record import parse_payload, payload_text, to_ir
from adapters.slurm.settings import SlurmSettings
from adapters.slurm.translate import SubmitContext, translate
from adapters.slurm.transport import RestTransport
from bridge.engine.identity import from_nss
from tests.fixtures.bridge_lab import SlurmBridge

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "slurm"
# gpu.sh asks for a GPU type the lab's gres.conf does not define: Slurm refuses it for site reasons.
SCRIPTS = sorted(p for p in EXAMPLES.iterdir() if p.name != "gpu.sh")
# Where slurmctld's record knows more than the script: its defaults apply (DefMemPerCPU=100, the
# user's default account and QOS from the association), and the daemon's IR carries Slurm's values.
SITE_DEFAULTS = {"resources.memory_per_cpu_mib": 100, "account": "physics", "qos": "normal"}


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_daemon_ir_equals_translate_ir(slurm_bridge: SlurmBridge, script: Path) -> None:
    slurm = slurm_bridge.slurm
    alice = slurm.users["alice"]
    blocker = slurm.sbatch("alice", "#!/bin/sh\ntrue\n", "--hold", "-p", "debug", cwd=alice.home)
    argv = ["-p", "k8s", f"--dependency=afterok:{blocker}"]
    body = script.read_text()
    job = slurm.sbatch("alice", body, *argv, cwd=alice.home)
    try:
        token = slurm.endpoints["jwt"]["bbridge"]
        transport = RestTransport(slurm.rest_url, "bbridge", token)
        (rec,) = [r for r in transport.jobs() if r["job_id"] == job]
        payload = parse_payload(payload_text(rec))
        assert payload is not None and payload.script == body
        marker = mk.parse(rec["admin_comment"])
        assert marker is not None and marker.begin == 0
        now = datetime.now(UTC)
        identity = from_nss("alice", alice.uid, alice.gid)
        daemon = to_ir(rec, payload, identity, SlurmSettings(), slurm.cluster, now)
        ctx = SubmitContext(
            identity=identity,
            job_id=str(job),
            submit_dir=str(alice.home),
            cluster=slurm.cluster,
            script_name=str(rec["command"]),
            now=now,
        )
        offline = translate(body, ctx, argv)
        ours, theirs = _flat(offline.model_dump(mode="json")), _flat(daemon.model_dump(mode="json"))
        assert set(ours) == set(theirs), set(ours) ^ set(theirs)
        diff = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
        expected = {k: (None, v) for k, v in SITE_DEFAULTS.items() if ours.get(k) is None and theirs.get(k) == v}
        expected["submit_time"] = (None, theirs["submit_time"])
        assert diff == expected
    finally:
        slurm.run("root", "scancel", str(job), str(blocker), check=False)
