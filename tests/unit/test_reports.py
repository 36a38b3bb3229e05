"""Pending reasons: written to the batch system only once they hold (each write is a batch RPC)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bridge.domain.ir import Source
from bridge.domain.lifecycle import BatchPhase, KubePhase
from bridge.domain.policy import SitePolicy
from bridge.engine import reconciler as module
from bridge.engine.observe import Observation
from bridge.engine.ports import BatchRecord
from bridge.engine.settings import EngineSettings
from bridge.kube.settings import KubeSettings


class _Port:
    source, cluster = Source.SLURM, "lab"

    def __init__(self) -> None:
        self.reports: list[tuple[float, str]] = []

    def report(self, rec: BatchRecord, text: str) -> None:
        self.reports.append((time.monotonic(), text))


class _Kube:
    api = None

    def lister(self, kind: str, namespace: str | None) -> Any:
        return lambda **kw: None


def test_a_reason_is_written_once_it_holds_and_steps_in_passing_cost_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the reconciler's clock
    port = _Port()
    settings = EngineSettings(report_settle_s=1.0, report_min_interval_s=2.0)
    r = module.Reconciler(port, _Kube(), SitePolicy(), KubeSettings(), settings)  # type: ignore[arg-type]
    rec = BatchRecord(key="7", phase=BatchPhase.READY, outcome_known=False, kube_id="7")
    memo = r._memo[rec.key]
    memo.created_at = 100.0

    def observe(at: float, text: str) -> None:
        now[0] = 100.0 + at
        r._do_report(rec, Observation(KubePhase.PENDING, text), memo)

    observe(0.2, "k8s Pending: waiting for the pod to be created")  # Job too young
    observe(0.9, "k8s Pending: waiting for a node")
    observe(1.6, "k8s Pending: starting on kwok-0")  # each step held < 1 s: nothing written
    assert port.reports == []
    observe(2.7, "k8s Pending: starting on kwok-0")  # held 1.1 s
    observe(3.0, "k8s Pending: starting on kwok-0")  # already written
    observe(3.5, "k8s Pending: ImagePullBackOff: x")
    observe(4.6, "k8s Pending: ImagePullBackOff: x")  # held, but 2 s have not passed since the last write
    observe(4.8, "k8s Pending: ImagePullBackOff: x")
    assert [(round(t - 100.0, 1), text) for t, text in port.reports] == [
        (2.7, "k8s Pending: starting on kwok-0"),
        (4.8, "k8s Pending: ImagePullBackOff: x"),
    ]
