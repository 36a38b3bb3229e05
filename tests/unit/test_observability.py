"""Metrics defined once, named by the Prometheus conventions, series present before their first event;
the daemons' /metrics, /healthz and /readyz."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from bridge.observability.metrics import ACTIONS, SOURCES, STATES, Metrics
from bridge.observability.server import serve

NAME = re.compile(r"^batch_bridge_[a-z]+(_[a-z]+)*$")


def test_every_metric_is_named_batch_bridge_noun_unit() -> None:
    families = list(Metrics().registry.collect())
    assert all(NAME.match(f.name) for f in families), [f.name for f in families]
    for f in families:
        if f.type == "histogram":
            assert f.name.endswith("_seconds"), f.name  # durations in the base unit
        if f.type == "counter":
            assert {s.name for s in f.samples} >= {f.name + "_total"}, f.name
    names = {f.name for f in families}
    assert {"batch_bridge_jobs", "batch_bridge_intake_latency_seconds", "batch_bridge_leader"} <= names


def test_label_values_exist_before_the_first_event() -> None:
    m = Metrics()
    samples = {(s.name, tuple(sorted(s.labels.items()))) for f in m.registry.collect() for s in f.samples}
    for source in SOURCES:
        for state in STATES:
            assert ("batch_bridge_jobs", (("source", source), ("state", state))) in samples
        for action in ACTIONS:
            assert ("batch_bridge_transitions_total", (("action", action), ("source", source))) in samples
        assert ("batch_bridge_status_lag_seconds_count", (("source", source),)) in samples


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_endpoints_say_health_readiness_and_metrics() -> None:
    m = Metrics()
    state = {"ready": (False, "watches not synced")}
    server = serve(m, lambda: state["ready"], host="127.0.0.1", port=0)
    try:
        port = server.server_port
        assert _get(port, "/healthz") == (200, "ok\n")
        assert _get(port, "/readyz") == (503, "watches not synced\n")
        state["ready"] = (True, "")
        assert _get(port, "/readyz") == (200, "ok\n")
        m.intake.labels("slurm").observe(0.3)
        code, text = _get(port, "/metrics")
        assert code == 200 and 'batch_bridge_intake_latency_seconds_count{source="slurm"} 1.0' in text
        assert _get(port, "/nothing")[0] == 404
    finally:
        server.shutdown()


def test_json_log_lines_carry_the_job_fields() -> None:
    """Through a real logger: ``extra=`` must not name one of LogRecord's own attributes (logging raises)."""
    import json
    import logging

    from bridge.cli.run import JsonFormatter
    from bridge.observability.logfields import job_fields

    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    logger = logging.getLogger("batch-bridge.test-fields")
    handler = Capture()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("job %s created", "12", extra=job_fields("slurm", "12", "batch", "slurm-lab-12-abc"))
        logger.warning("no job")
    finally:
        logger.removeHandler(handler)
    line, plain = (json.loads(text) for text in lines)
    assert (line["source"], line["job_id"], line["namespace"], line["name"]) == (
        "slurm",
        "12",
        "batch",
        "slurm-lab-12-abc",
    )
    assert line["logger"] == "batch-bridge.test-fields" and "name" not in plain and "job_id" not in plain
    assert job_fields("htcondor", "3.0") == {"bb_source": "htcondor", "bb_job_id": "3.0"}  # unset fields left out


def test_job_event_names_the_job_and_is_bounded() -> None:
    from datetime import UTC, datetime

    from bridge.kube.events import MESSAGE_MAX, job_event

    ev = job_event("batch", "slurm-lab-7-x", "uid-1", "Released", "m" * 5000, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert ev["involvedObject"] == {"apiVersion": "batch/v1", "kind": "Job", "namespace": "batch",
                                    "name": "slurm-lab-7-x", "uid": "uid-1"}  # fmt: skip
    assert (
        len(ev["message"]) == MESSAGE_MAX and ev["type"] == "Normal" and ev["source"] == {"component": "batch-bridge"}
    )
    assert ev["metadata"] == {"generateName": "slurm-lab-7-x.", "namespace": "batch"}
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2027-01-01T00:00:00Z"


def test_an_event_the_apiserver_cannot_take_is_dropped_not_raised() -> None:
    """Best effort for real: nothing listens on the port, so the client's connection itself fails."""
    from kubernetes import client

    from bridge.kube.client import Kube
    from bridge.kube.events import job_event

    conf = client.Configuration(host="http://127.0.0.1:9")  # discard port: connection refused
    conf.retries = 0
    kube = Kube(client.ApiClient(conf))
    assert kube.record_event(job_event("batch", "slurm-lab-1-x", "uid-1", "Released", "running")) is False
