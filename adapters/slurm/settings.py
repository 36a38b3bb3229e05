"""Settings of the Slurm front door (typed, every field documented)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.domain.ir import Model


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
