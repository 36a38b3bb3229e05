"""Settings of the HTCondor front door (typed, every field documented).

The size caps of one job (CPUs, memory, GPUs) are the site's, for both front doors: ``site.limits``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.domain.ir import Model


class CondorUserLogSettings(Model):
    mode: Literal["sudo", "off"] = Field(
        default="sudo",
        description="How the user log is written: through sudo as the job's owner running the fixed helper "
        "(site/batch-bridge-userlog), or not at all (the daemon never writes users' files itself).",
    )
    sudo: str = Field(default="/usr/bin/sudo", description="The sudo binary.")
    helper: str = Field(
        default="/usr/local/libexec/batch-bridge/batch-bridge-userlog",
        description="The installed helper (root-owned, not writable by the bridge user); sudoers names it.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one helper call.")


class CondorDaemonSettings(Model):
    schedd: str | None = Field(
        default=None, description="Name of the schedd to manage (its Name in the collector); None: the local one."
    )
    condor_config: str | None = Field(
        default=None,
        description="CONDOR_CONFIG for the bindings (collector, SEC_TOKEN_DIRECTORY with the bridge's IDTOKEN); "
        "None: the environment's.",
    )
    manager: str = Field(
        default="batch-bridge",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="ManagedManager of the jobs this daemon manages (the site config's BATCH_BRIDGE_MANAGER).",
    )
    uid_domain: str | None = Field(
        default=None,
        description="UID_DOMAIN of the schedd: a job's User must be Owner@uid_domain, else it is refused "
        "(an identity from another domain is not a local account). None: not checked.",
    )
    platform_failures: Literal["hold", "rerun"] = Field(
        default="hold",
        description="A pod lost to the platform (node lost, evicted, preempted): hold the job with the reason, "
        "or put it back to idle for a new run.",
    )
    user_log: CondorUserLogSettings = Field(
        default_factory=CondorUserLogSettings, description="Writing the jobs' user logs (log = ...)."
    )


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
    daemon: CondorDaemonSettings = Field(
        default_factory=lambda: CondorDaemonSettings(), description="The adapter daemon (batch-bridge run htcondor)."
    )
