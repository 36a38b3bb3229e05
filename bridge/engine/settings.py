"""How the engine runs (typed, every field documented)."""

from __future__ import annotations

from pydantic import Field

from bridge.domain.ir import Model


class LeaderSettings(Model):
    enabled: bool = Field(
        default=False, description="Lease-based leader election: of the replicas of one adapter, one acts."
    )
    namespace: str = Field(default="batch-bridge", description="Namespace of the Lease (the daemon's own).")
    lease_name: str | None = Field(
        default=None, description="Name of the Lease; default batch-bridge-<adapter>-<cluster>."
    )
    identity: str | None = Field(
        default=None,
        description="This replica's name in the Lease; default $POD_NAME (else the host), '_', 8 random hex digits.",
    )
    lease_s: float = Field(default=15.0, gt=0, description="A standby takes over after this long without renewal.")
    renew_s: float = Field(default=2.0, gt=0, description="How often the leader renews the Lease.")
    deadline_s: float = Field(
        default=10.0, gt=0, description="A leader that cannot renew this long stops acting (and the daemon exits)."
    )


class IdentitySettings(Model):
    passwd_file: str | None = Field(
        default=None,
        description="passwd(5)-format file to resolve batch users from instead of NSS (a daemon in a pod "
        "has no site NSS; the chart mounts it from a ConfigMap or Secret). Unset: NSS on the host.",
    )
    group_file: str | None = Field(
        default=None, description="group(5)-format file for supplementary groups (with passwd_file)."
    )


class EngineSettings(Model):
    poll_interval_s: float = Field(
        default=0.5, gt=0, description="One batched query of the batch system per interval (level-triggered)."
    )
    resync_s: float = Field(
        default=10.0, gt=0, description="Every job is reconciled at least this often; between, only changed ones."
    )
    workers: int = Field(
        default=16,
        ge=1,
        le=128,
        description="Reconcile workers: jobs handled at once (each mostly waits on the apiserver or the batch "
        "system; 16 took a 1,000-job burst in faster than 8 on the lab).",
    )
    image_pull_timeout_s: float = Field(
        default=300, gt=0, description="A pod that cannot pull its image for this long fails the job with the reason."
    )
    signal_repeat_s: float = Field(
        default=2.0, gt=0, description="Wake the gateway shim again if the job still runs this long after a wake."
    )
    report_min_interval_s: float = Field(
        default=2.0, ge=0, description="Least time between two pending-reason updates of one job."
    )
    report_settle_s: float = Field(
        default=1.0,
        ge=0,
        description="A pending reason is written only once it has held this long, and the Job is this old "
        "(most pods start sooner, and the steps a starting pod passes cost no write).",
    )
    report_routine_after_s: float = Field(
        default=10.0,
        ge=0,
        description="A routine step (no pod or node yet, starting) is written only once the Job is this "
        "old: a 1,000-job burst's steps cost thousands of batch writes at 1 s, and problems "
        "(unschedulable, image pull, admission refusals) still show after report_settle_s.",
    )
    watch_namespaces: tuple[str, ...] | None = Field(
        default=None,
        description="Namespaces to watch (a Role in each suffices); None watches all (needs a ClusterRole).",
    )
    leader: LeaderSettings = Field(default_factory=LeaderSettings, description="Leader election (HA).")
    events: bool = Field(
        default=True,
        description="Kubernetes Events on the Jobs for user-visible transitions (released, outcome written, "
        "adopted); one write each, best effort: written by their own two writers, dropped (counted) when 2,000 wait.",
    )
    identity: IdentitySettings = Field(
        default_factory=IdentitySettings, description="Where uid/gid/groups of a batch user are read from."
    )
    http_port: int = Field(
        default=0, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz; 0 serves none."
    )
    http_host: str = Field(default="0.0.0.0", description="Address the HTTP endpoints listen on.")
    orphan_grace_polls: int = Field(
        default=3, ge=1, description="A running Kubernetes Job whose batch job is gone this many polls is deleted."
    )

    @property
    def api_connections(self) -> int:
        """Threads that use the apiserver client at once: the workers, the two Event writers, three
        watches per namespace, the poll and the leader lease."""
        return self.workers + 2 + 3 * len(self.watch_namespaces or (None,)) + 2
