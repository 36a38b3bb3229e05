"""A site admission policy (Kyverno, a ValidatingAdmissionPolicy, a quota) that refuses a job's pod: the
Job exists but no pod does, and only a Warning event says why. The user reads that reason in squeue,
and the job runs once the policy lets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.bridge_lab import SlurmBridge

pytestmark = pytest.mark.integration
SAYS = "refused by the site's admission policy (batch-bridge test)"


def _deny_pods_of(api: Any, name: str, job: int) -> None:
    """A ValidatingAdmissionPolicy (and its binding) denying the pods of one Slurm job."""
    adm: Any = client.AdmissionregistrationV1Api(api)  # plain dicts, as the apiserver takes them
    label = "batch-bridge.io/job-id"
    adm.create_validating_admission_policy(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
                    ]
                },
                "validations": [
                    {
                        "expression": f"!has(object.metadata.labels) || !('{label}' in object.metadata.labels)"
                        f" || object.metadata.labels['{label}'] != '{job}'",
                        "message": SAYS,
                    }
                ],
            },
        }
    )
    adm.create_validating_admission_policy_binding(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]},
        }
    )


def _allow(api: Any, name: str) -> None:
    adm = client.AdmissionregistrationV1Api(api)
    for delete in (adm.delete_validating_admission_policy_binding, adm.delete_validating_admission_policy):
        try:
            delete(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def policy(slurm_bridge: SlurmBridge) -> Iterator[str]:
    name = f"bb-test-deny-{uuid.uuid4().hex[:8]}"
    yield name
    _allow(slurm_bridge.kube.admin, name)


def test_a_pod_refused_by_admission_shows_the_reason_then_runs_when_allowed(
    slurm_bridge: SlurmBridge, policy: str
) -> None:
    alice = slurm_bridge.slurm.users["alice"]
    # Held by a dependency until the policy is in place (the job id is what the policy matches).
    gate = slurm_bridge.slurm.sbatch("alice", "#!/bin/sh\nsleep 3\n", "--partition=debug", "-o", "/dev/null")
    job = slurm_bridge.submit(
        "alice", "#!/bin/sh\n#SBATCH -t 5 -o /dev/null\nexit 0\n", f"--dependency=afterok:{gate}", cwd=alice.home
    )
    _deny_pods_of(slurm_bridge.kube.admin, policy, job)
    comment = slurm_bridge.wait_comment(job, SAYS, timeout=120)
    assert "FailedCreate" in comment, comment
    shown = slurm_bridge.slurm.run("alice", "squeue", "-h", "-j", str(job), "-O", "state,admin_comment:400").stdout
    assert "PENDING" in shown and SAYS in shown, shown
    _allow(slurm_bridge.kube.admin, policy)
    rec = slurm_bridge.slurm.wait_sacct(job, timeout=180)  # the Job controller retries with its back-off
    assert (rec["State"], rec["ExitCode"]) == ("COMPLETED", "0:0"), rec
