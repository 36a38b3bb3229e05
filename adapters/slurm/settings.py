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
    default_partition: str | None = Field(default=None, description="Partition of jobs that name none.")
