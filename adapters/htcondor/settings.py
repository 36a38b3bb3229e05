"""Settings of the HTCondor front door (typed, every field documented)."""

from __future__ import annotations

from pydantic import Field

from bridge.domain.ir import Model


class CondorSettings(Model):
    min_memory_mib: int = Field(
        default=128, ge=1, description="Memory floor: HTCondor's default RequestMemory can evaluate to 0 or 1 MiB."
    )
    max_cpus: int = Field(default=1024, ge=1, description="Larger RequestCpus is refused as a mistake.")
    max_gpus: int = Field(default=64, ge=0, description="Larger RequestGPUs is refused as a mistake.")
    max_memory_mib: int = Field(default=16 * 1024 * 1024, ge=1, description="Larger RequestMemory is refused.")
    max_procs: int = Field(default=10000, ge=1, description="Most procs one submit description may make.")
