"""Pending reasons: written to the batch system only once they hold (each write is a batch RPC)."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def _reconciler(monkeypatch: pytest.MonkeyPatch) -> tuple[_Port, Callable[..., None]]:
    """A reconciler whose clock reads 100 + the time each observation is made at (its Job created at 100)."""
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the reconciler's clock
    port = _Port()
    settings = EngineSettings(report_settle_s=1.0, report_min_interval_s=2.0, report_routine_after_s=10.0)
    r = module.Reconciler(port, _Kube(), SitePolicy(), KubeSettings(), settings)  # type: ignore[arg-type]
    rec = BatchRecord(key="7", phase=BatchPhase.READY, outcome_known=False, kube_id="7")
    memo = r._memo[rec.key]
    memo.created_at = 100.0

    def observe(at: float, text: str, routine: bool = False) -> None:
        now[0] = 100.0 + at
        r._do_report(rec, Observation(KubePhase.PENDING, text, routine=routine), memo)

    return port, observe


def _written(port: _Port) -> list[tuple[float, str]]:
    return [(round(t - 100.0, 1), text) for t, text in port.reports]


def test_a_problem_is_written_once_it_holds_and_steps_in_passing_cost_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    port, observe = _reconciler(monkeypatch)
    observe(0.2, "k8s Pending: FailedCreate: quota")  # Job too young
    observe(0.9, "k8s Pending: 0/4 nodes are available")
    observe(1.6, "k8s Pending: ErrImagePull: x")  # each reason held < 1 s: nothing written
    assert port.reports == []
    observe(2.7, "k8s Pending: ErrImagePull: x")  # held 1.1 s
    observe(3.0, "k8s Pending: ErrImagePull: x")  # already written
    observe(3.5, "k8s Pending: ImagePullBackOff: x")
    observe(4.6, "k8s Pending: ImagePullBackOff: x")  # held, but 2 s have not passed since the last write
    observe(4.8, "k8s Pending: ImagePullBackOff: x")
    assert _written(port) == [(2.7, "k8s Pending: ErrImagePull: x"), (4.8, "k8s Pending: ImagePullBackOff: x")]


def test_routine_steps_are_written_only_when_the_job_has_waited_long(monkeypatch: pytest.MonkeyPatch) -> None:
    port, observe = _reconciler(monkeypatch)
    observe(1.5, "k8s Pending: waiting for the pod to be created", True)
    observe(4.0, "k8s Pending: waiting for the pod to be created", True)  # held 2.5 s: a burst's step
    observe(6.0, "k8s Pending: waiting for a node", True)
    observe(9.9, "k8s Pending: waiting for a node", True)
    assert port.reports == []
    observe(10.0, "k8s Pending: waiting for a node", True)
    assert _written(port) == [(10.0, "k8s Pending: waiting for a node")]
