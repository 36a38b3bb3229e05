"""Settings of the HTCondor front door (typed, every field documented).

The size caps of one job (CPUs, memory, GPUs) are the site's, for both front doors: ``site.limits``.
"""

from __future__ import annotations

from pydantic import Field

from bridge.domain.ir import Model


class CondorSettings(Model):
    min_memory_mib: int = Field(
        default=128, ge=1, description="Memory floor: HTCondor's default RequestMemory can evaluate to 0 or 1 MiB."
    )
    max_procs: int = Field(
        default=10000, ge=1, description="Most procs one submit description may make; counted before expansion."
    )
    max_description_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Largest submit description (and item file) read, in bytes."
    )
    expand_memory_mib: int = Field(
        default=1024,
        ge=128,
        description="Address-space limit of the process that expands a description with HTCondor's code.",
    )
    expand_timeout_s: float = Field(
        default=10.0, gt=0, description="Wall-clock limit of expanding one description (seconds)."
    )
