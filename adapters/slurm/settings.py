"""Settings of the Slurm front door (typed, every field documented)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.domain.ir import Model


class SlurmTransportSettings(Model):
    kind: Literal["rest", "cli"] = Field(
        default="rest", description="slurmrestd with a JWT (works from a pod), or the Slurm CLI's --json on this host."
    )
    rest_url: str = Field(default="http://127.0.0.1:6820", description="slurmrestd base URL.")
    rest_user: str = Field(default="bbridge", description="X-SLURM-USER-NAME: the bridge's Slurm administrator.")
    token_file: str = Field(
        default="/var/run/secrets/batch-bridge/slurm-jwt", description="File holding the JWT; re-read when it changes."
    )
    cli_prefix: tuple[str, ...] = Field(
        default=(), description="argv prefix for the Slurm commands (e.g. a wrapper that enters the Slurm host)."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one Slurm call.")


class SlurmDaemonSettings(Model):
    transport: SlurmTransportSettings = Field(
        default_factory=SlurmTransportSettings, description="How the daemon talks to slurmctld."
    )
    fetch_budget: int = Field(
        default=200,
        ge=1,
        description="Full job records read per poll at most (new or changed jobs, jobs waiting on a dependency); "
        "the rest wait for the next poll, so a poll's Slurm work stays bounded.",
    )


class SlurmSettings(Model):
    unknown_options: Literal["error", "warn"] = Field(
        default="error",
        description="What an option the bridge cannot honour does: fail the job, or run it with a recorded "
        "warning. --uid/--gid are always refused.",
    )
    max_array_size: int = Field(default=1001, ge=1, description="Slurm's MaxArraySize: indexes must be below it.")
    partitions: tuple[str, ...] = Field(
        default=("k8s",),
        min_length=1,
        description="The partitions whose jobs go to Kubernetes; a job for any other partition is refused.",
    )
    default_partition: str | None = Field(
        default=None,
        description="Partition of jobs that name none (Slurm's Default=YES partition); unset: such jobs are "
        "refused, since Slurm would run them in a partition the bridge does not know.",
    )
    whole_node_memory_mib: int | None = Field(
        default=None,
        ge=1,
        description="What --mem=0 (all of a node's memory, in Slurm) means here, in MiB: the largest allocatable "
        "memory of the Kubernetes nodes jobs may land on. Unset: --mem=0 is refused.",
    )
    daemon: SlurmDaemonSettings = Field(
        default_factory=lambda: SlurmDaemonSettings(), description="The adapter daemon (batch-bridge run slurm)."
    )
