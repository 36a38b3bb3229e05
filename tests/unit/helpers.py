"""Small builders shared by the unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from adapters.slurm.settings import SlurmSettings
from adapters.slurm.translate import SubmitContext, translate
from bridge.domain.ir import BatchJob, Identity
from bridge.domain.policy import HostPathVolume, ImagePolicy, SitePolicy, StorageMount

ALICE = Identity(user="alice", uid=2001, gid=2001, groups=(3000,))
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a fixed submission time: outputs stay deterministic
BRIDGED = SlurmSettings(default_partition="k8s")  # jobs that name no partition go to k8s
HOME = "/lab/gpfs/home/alice"
POLICY = SitePolicy(
    storage=(
        StorageMount(prefix="/lab/gpfs", volume=HostPathVolume(path="/lab/gpfs")),
        StorageMount(prefix="/lab/pnfs", volume=HostPathVolume(path="/lab/pnfs"), read_only=True),
    ),
    images=ImagePolicy(default="localhost/batch-bridge/lab-runtime:1"),
)


def sbatch(
    body: str,
    argv: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    settings: SlurmSettings | None = None,
    denylist: Sequence[str] = ("LD_PRELOAD", "PATH"),
) -> BatchJob:
    ctx = SubmitContext(
        identity=ALICE,
        job_id="77",
        submit_dir=HOME,
        cluster="lab",
        now=NOW,
        script_name="job.sh",
        environment=env or {},
    )
    return translate(body, ctx, argv, (), settings or BRIDGED, denylist)


def script(*directives: str, command: str = "echo hi") -> str:
    return "#!/bin/bash\n" + "".join(f"#SBATCH {d}\n" for d in directives) + command + "\n"
