"""The Helm chart against the lab: lint, render, server-side dry-run, install, and RBAC as granted.

helm is the lab's (lab/kube.d/helm.sh builds it from the Go module proxy). Every value set in
charts/batch-bridge/ci is rendered and each object is sent to the lab apiserver with server-side apply
in dry-run mode (validated and admitted, nothing stored). The RBAC is then installed for real and read
back as the chart's ServiceAccount (SelfSubjectRulesReview, what `kubectl auth can-i --list` prints):
it must be exactly what the code declares, nothing more.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes import dynamic as kube_dynamic
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from bridge.cli.chart import rbac_rules
from tests.fixtures.chart_lab import CHART, REPO, run_helm
from tests.fixtures.kube_lab import KubeLab

pytestmark = pytest.mark.integration
VALUE_SETS = {"default": None, **{p.stem: p for p in sorted((CHART / "ci").glob("*.yaml"))}}
# The kinds of an operator the lab does not run (prometheus-operator): nothing can admit them there.
NOT_SERVED = {"ServiceMonitor", "PrometheusRule"}
Triple = tuple[str, str, str]
DynamicClient: Any = kube_dynamic.DynamicClient  # untyped in the client library


def _helm(helm: str, kube_lab: KubeLab, *args: str) -> str:
    return run_helm(helm, kube_lab, *args)


def _values(name: str) -> list[str]:
    path = VALUE_SETS[name]
    return ["-f", str(path)] if path else []


def _render(helm: str, kube_lab: KubeLab, name: str, namespace: str, *extra: str) -> list[dict[str, Any]]:
    version = kube_lab.endpoints["kubernetes_version"]
    text = _helm(helm, kube_lab, "template", "bb", str(CHART), "-n", namespace, "--kube-version", version,
                 *_values(name), *extra)  # fmt: skip
    return [o for o in yaml.safe_load_all(text) if o]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict(helm: str, kube_lab: KubeLab, name: str) -> None:
    out = _helm(helm, kube_lab, "lint", "--strict", str(CHART), *_values(name))
    assert "0 chart(s) failed" in out


def test_schema_rejects_a_config_the_daemon_would_reject(helm: str, kube_lab: KubeLab, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("config: {engine: {workers: 0}, no_such_key: 1}\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    run = subprocess.run([helm, "template", "bb", str(CHART), "--kube-version", "1.36.0", "-f", str(bad)],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert run.returncode != 0 and "/config/engine/workers" in run.stderr and "no_such_key" in run.stderr


@pytest.fixture(scope="module")
def dynamic(kube_lab: KubeLab) -> Any:
    return DynamicClient(kube_lab.admin)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_value_set_passes_server_side_dry_run(helm: str, kube_lab: KubeLab, dynamic: Any, name: str) -> None:
    namespace = kube_lab.namespace("chart")
    objects = _render(helm, kube_lab, name, namespace)
    for obj in objects:
        ns = obj["metadata"].get("namespace")
        if ns and ns != namespace:
            kube_lab.ensure_namespace(ns)  # a job namespace the values name (batch, batch-gpu)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "ConfigMap", "Role"} & kinds if name != "cluster-wide" else {"ClusterRole"} <= kinds
    skipped = set()
    for obj in objects:
        try:
            resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError:
            skipped.add(obj["kind"])
            continue
        ns = obj["metadata"].get("namespace") if resource.namespaced else None
        resource.server_side_apply(body=obj, namespace=ns, field_manager="batch-bridge-chart-test", dry_run="All")
    assert skipped <= NOT_SERVED, skipped
    if name == "monitoring-values":
        assert skipped == NOT_SERVED  # rendered, and only they were not admitted (no operator in the lab)


def test_secure_container_defaults(helm: str, kube_lab: KubeLab) -> None:
    deployments = [o for o in _render(helm, kube_lab, "default", "bb") if o["kind"] == "Deployment"]
    assert sorted(d["metadata"]["name"] for d in deployments) == ["bb-batch-bridge-htcondor", "bb-batch-bridge-slurm"]
    for d in deployments:
        spec = d["spec"]["template"]["spec"]
        assert d["spec"]["replicas"] == 2
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
        (adapter,) = spec["containers"]
        assert adapter["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert adapter["livenessProbe"]["httpGet"]["path"] == "/healthz"
        env = {e["name"]: e.get("value") for e in adapter["env"]}
        assert env["BATCH_BRIDGE_ENGINE__LEADER__ENABLED"] == "true"


def _rules_of(objects: list[dict[str, Any]], kind: str) -> dict[str | None, list[Any]]:
    return {o["metadata"].get("namespace"): o["rules"] for o in objects if o["kind"] == kind}


def test_chart_rules_are_the_rbac_command_rules(helm: str, kube_lab: KubeLab) -> None:
    """The chart's Roles equal what `batch-bridge rbac` prints for the same namespaces."""
    objects = _render(helm, kube_lab, "default", "bb")
    cli = REPO / ".venv/bin/batch-bridge"
    out = subprocess.run([str(cli), "rbac", "--namespace", "batch", "--storage", "--lease-namespace", "bb", "-o",
                          "json"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    printed = json.loads(out)["items"]
    assert _rules_of(objects, "Role") == _rules_of(printed, "Role")
    assert _rules_of(objects, "ClusterRole") == _rules_of(printed, "ClusterRole")


def _triples(rules: list[dict[str, Any]]) -> set[Triple]:
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def _can_i_list(kube_lab: KubeLab, namespace: str, sa_ns: str, sa: str) -> set[Triple]:
    """`kubectl auth can-i --list -n NAMESPACE` as the ServiceAccount (a token from the TokenRequest API)."""
    token = kube_lab.core.create_namespaced_service_account_token(
        sa, sa_ns, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                      expiration_seconds=600))
    ).status.token  # fmt: skip
    conf = client.Configuration()
    conf.host = kube_lab.endpoints["apiserver"]
    conf.ssl_ca_cert = kube_lab.endpoints["ca_file"]
    conf.api_key = {"authorization": f"Bearer {token}"}
    with client.ApiClient(conf) as api:
        review = client.AuthorizationV1Api(api).create_self_subject_rules_review(
            client.V1SelfSubjectRulesReview(spec=client.V1SelfSubjectRulesReviewSpec(namespace=namespace))
        )
    rules = [{"apiGroups": r.api_groups or [""], "resources": r.resources or [], "verbs": r.verbs}
             for r in (review.status.resource_rules if review.status else [])]  # fmt: skip
    return _triples(rules)


@pytest.fixture(scope="module")
def rbac_release(helm: str, kube_lab: KubeLab) -> Iterator[tuple[str, str]]:
    """The chart installed with both adapters off: its ServiceAccount and RBAC, for real."""
    release_ns, job_ns = kube_lab.namespace("chart-rel"), kube_lab.namespace("chart-jobs")
    _helm(helm, kube_lab, "install", "rbac", str(CHART), "-n", release_ns, "--wait", "--timeout", "60s",
          "--set", "slurm.enabled=false", "--set", "htcondor.enabled=false",
          "--set", f"rbac.namespaces={{{job_ns}}}", "--set", "rbac.storage=false")  # fmt: skip
    kube_lab.core.create_namespaced_service_account(release_ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="baseline")))  # fmt: skip
    try:
        yield release_ns, job_ns
    finally:
        _helm(helm, kube_lab, "uninstall", "rbac", "-n", release_ns, "--wait")


def test_service_account_can_do_exactly_what_the_code_declares(
    kube_lab: KubeLab, rbac_release: tuple[str, str]
) -> None:
    release_ns, job_ns = rbac_release
    sa = "rbac-batch-bridge"
    rules = rbac_rules()
    # What any authenticated identity may do (discovery, self reviews) is the cluster's, not the chart's.
    baseline = {ns: _can_i_list(kube_lab, ns, release_ns, "baseline") for ns in (release_ns, job_ns)}
    granted = {ns: _can_i_list(kube_lab, ns, release_ns, sa) - baseline[ns] for ns in (release_ns, job_ns)}
    assert granted[job_ns] == _triples(rules["namespaced"])
    assert granted[release_ns] == _triples(rules["leader"])
    other = kube_lab.namespace("chart-other")
    assert _can_i_list(kube_lab, other, release_ns, sa) - _can_i_list(kube_lab, other, release_ns, "baseline") == set()
