"""Every metric the daemons export, defined once (``batch_bridge_<noun>_<unit>``, Prometheus naming).

One ``Metrics`` per process, on its own registry (tests make their own). Label values are the closed
sets below and are initialised up front, so a series exists (at 0) before its first event and
dashboards and alerts never see gaps. No job ids in labels: one series per job would be unbounded.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SOURCES: Final = ("slurm", "htcondor")
# Where a tracked job is, as an admin reads it (bridge.engine.reconciler maps the batch phases here).
STATES: Final = ("waiting", "kubernetes_pending", "running", "final")
ACTIONS: Final = ("none", "create", "report", "release", "finish", "signal", "lost", "delete", "audit", "cancel")
TARGETS: Final = ("kubernetes", "batch")
# Seconds: from a poll interval to a long queue wait on a busy cluster.
LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600)
RECONCILE_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.jobs = Gauge(
            "batch_bridge_jobs", "Tracked batch jobs by source and state.", ["source", "state"], registry=r
        )
        self.tracked = Gauge("batch_bridge_tracked_jobs", "Batch jobs the daemon tracks.", ["source"], registry=r)
        self.transitions = Counter(
            "batch_bridge_transitions_total",
            "Actions the reconciler took, by action.",
            ["source", "action"],
            registry=r,
        )
        self.intake = Histogram(
            "batch_bridge_intake_latency_seconds",
            "Batch submit to Kubernetes Job created.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.to_running = Histogram(
            "batch_bridge_submit_to_running_seconds",
            "Batch submit to the batch system told the pod runs.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.status_lag = Histogram(
            "batch_bridge_status_lag_seconds",
            "Pod finished to the outcome written to the batch system.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.to_final = Histogram(
            "batch_bridge_finish_to_final_seconds",
            "Pod finished to the batch record seen final.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.api_errors = Counter(
            "batch_bridge_api_errors_total", "Failed calls, by the system called.", ["source", "target"], registry=r
        )
        self.reconcile = Histogram(
            "batch_bridge_reconcile_duration_seconds",
            "Time to reconcile one job.",
            ["source"],
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self.polls = Counter("batch_bridge_polls_total", "Batched polls of the batch system.", ["source"], registry=r)
        self.leader = Gauge("batch_bridge_leader", "1 while this replica leads (acts), else 0.", ["source"], registry=r)
        for source in SOURCES:
            for state in STATES:
                self.jobs.labels(source, state)
            for action in ACTIONS:
                self.transitions.labels(source, action)
            for target in TARGETS:
                self.api_errors.labels(source, target)
            families: tuple[Counter | Gauge | Histogram, ...] = (
                self.tracked, self.intake, self.to_running, self.status_lag, self.to_final,
                self.reconcile, self.polls, self.leader,
            )  # fmt: skip
            for family in families:
                family.labels(source)
