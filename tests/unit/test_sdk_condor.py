"""The htcondor backend without a lab: JobSpec -> submit description, job ads -> JobStatus, and ids
that can never reach a constraint."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.domain.policy import SitePolicy
from bridge.domain.states import JobState
from bridge.sdk import JobSpec
from bridge.sdk.condor_backend import cluster_id, clusters_constraint
from bridge.sdk.condor_status import BRIDGE_HOLDS, cluster_status, proc_status
from bridge.sdk.condor_submit import KEY_ATTR, UNSUPPORTED, submission
from bridge.sdk.errors import InvalidSpec, JobNotFound, PolicyRefused

POLICY = SitePolicy()
CWD = "/lab/gpfs/home/alice/work"


def _sub(spec: JobSpec, key: str | None = None) -> Any:
    return submission(spec, POLICY, cwd=CWD, key=key)


def test_a_command_goes_to_the_bridged_selection_with_its_requests() -> None:
    spec = JobSpec.command(["echo", "a b"], memory="2G", cpus=4, time_limit=600, account="physics")
    sub = _sub(spec, key="p/step")
    d = sub.description
    assert d["+WantKubernetes"] == "true" and d[f"+{KEY_ATTR}"] == '"p/step"'
    assert (d["request_cpus"], d["request_memory"], d["allowed_execute_duration"]) == ("4", "2048", "600")
    assert (d["accounting_group"], d["initialdir"], d["should_transfer_files"]) == ("physics", CWD, "NO")
    assert d["executable"] == sub.script_path and sub.script_path.startswith(f"{CWD}/.batch-bridge/echo-")
    assert d["output"] == "echo-$(Cluster).out" and "error" not in d
    assert sub.script.splitlines()[:2] == ["#!/bin/sh", "exec 2>&1"]  # stderr joins stdout, as elsewhere
    assert (sub.items, sub.count) == (None, 1)


def test_environment_is_exported_quoted_in_the_script_never_in_the_description() -> None:
    sub = _sub(JobSpec.command(["true"], env={"GREETING": "hello $USER; `x`"}))
    assert "export GREETING='hello $USER; `x`'" in sub.script
    assert "environment" not in sub.description


def test_arrays_are_one_cluster_queue_n_or_one_proc_per_index() -> None:
    dense = _sub(JobSpec.command(["true"], array=range(5), stdout=f"{CWD}/out-{{index}}.txt"))
    assert (dense.count, dense.items) == (5, None)
    assert dense.description["output"] == f"{CWD}/out-$(Process).txt"
    assert dense.description["environment"] == "BATCH_BRIDGE_ARRAY_INDEX=$(Process)"
    sparse = _sub(JobSpec.command(["true"], array=[2, 7]))
    assert sparse.items == ({"SdkIndex": "2"}, {"SdkIndex": "7"})
    assert sparse.description["output"] == "true-$(Cluster)_$(SdkIndex).out"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"stdout": f"{CWD}/$(Owner).out"}, "stdout"),  # a submit macro
        ({"stdout": f'{CWD}/x"\n+Owner = "root'}, "stdout"),  # a line of submit language
        ({"account": "a\nqueue 100"}, "account"),
        ({"queue": "k8s"}, "queue"),
        ({"gpus": 1, "gpu_type": "a100"}, "gpu_type"),
    ],
)
def test_hostile_or_unmapped_fields_are_refused_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        _sub(JobSpec.command(["true"], **options))
    assert field in err.value.problems


def test_a_hostile_key_is_refused_and_unsupported_is_a_table() -> None:
    with pytest.raises(InvalidSpec) as err:
        _sub(JobSpec.command(["true"]), key='x" || true || "')
    assert "key" in err.value.problems
    assert set(UNSUPPORTED) <= set(JobSpec.model_fields)


def test_the_site_env_denylist_holds() -> None:
    with pytest.raises(PolicyRefused, match="LD_PRELOAD"):
        _sub(JobSpec.command(["true"], env={"LD_PRELOAD": "/x.so"}))


@pytest.mark.parametrize("job_id", ["1 || true", "1.0", "", "-1", "ClusterId"])
def test_ids_are_numbers_only(job_id: str) -> None:
    with pytest.raises(JobNotFound):
        cluster_id(job_id)


def test_one_constraint_for_many_clusters() -> None:
    assert clusters_constraint([3, 1, 3]) == "ClusterId == 1 || ClusterId == 3"
    assert clusters_constraint([]) == "false"


AD = {"ClusterId": 7, "ProcId": 0, "QDate": 1796140000, "JobBatchName": "fit", "Iwd": CWD, "Out": "fit.out"}


@pytest.mark.parametrize(
    ("ad", "state", "code"),
    [
        ({"JobStatus": 1}, JobState.PENDING, None),
        ({"JobStatus": 2, "JobCurrentStartDate": 1796140010}, JobState.RUNNING, None),
        ({"JobStatus": 4, "ExitCode": 0, "CompletionDate": 1796140020}, JobState.SUCCEEDED, 0),
        ({"JobStatus": 4, "ExitCode": 3, "CompletionDate": 1796140020}, JobState.FAILED, 3),
        ({"JobStatus": 4, "ExitBySignal": True, "ExitSignal": 9}, JobState.FAILED, 137),
        ({"JobStatus": 3, "RemoveReason": "via condor_rm (by user alice)"}, JobState.CANCELLED, None),
        ({"JobStatus": 5, "HoldReasonCode": 1, "HoldReason": "via condor_hold"}, JobState.HELD, None),
        ({"JobStatus": 5, "HoldReasonCode": 26, "HoldReasonSubCode": 1}, JobState.FAILED, None),
        ({"JobStatus": 5, "HoldReasonCode": 26, "HoldReasonSubCode": 5}, JobState.OUT_OF_MEMORY, None),
    ],
)
def test_proc_states(ad: dict[str, Any], state: JobState, code: int | None) -> None:
    status = proc_status("7", AD | ad)
    assert (status.state, status.exit_code) == (state, code)
    assert dict(status.detail)["output"] == f"{CWD}/fit.out"


def test_a_bridge_hold_is_final_with_its_reason() -> None:
    reason = "refused by batch-bridge: output file '/tmp/x' is not on site storage"
    ad = AD | {"JobStatus": 5, "HoldReasonCode": 26, "HoldReasonSubCode": 1, "HoldReason": reason,
               "EnteredCurrentStatus": 1796140005, "KubernetesStatus": f"held: {reason}"}  # fmt: skip
    status = proc_status("7", ad)
    assert status.final and not status.ok and status.reason.startswith(reason)
    assert status.finished is not None and dict(status.detail)["hold_code"] == "26.1"
    assert set(BRIDGE_HOLDS) == set(range(1, 8))  # every sub-code of docs/admin/htcondor.md


def test_a_cluster_rolls_up_and_counts_procs_not_seen_yet() -> None:
    done = AD | {"JobStatus": 4, "ExitCode": 0}
    assert cluster_status("7", [done], procs=3).state is JobState.PENDING
    bad = AD | {"ProcId": 1, "JobStatus": 4, "ExitCode": 5, "KubernetesStatus": "FAILED: exit code 5 (Error)"}
    status = cluster_status("7", [done, bad])
    assert (status.state, status.exit_code, status.tasks) == (JobState.FAILED, 5, {"succeeded": 1, "failed": 1})
    assert status.reason == "1 of 2 tasks failed (first: FAILED: exit code 5 (Error))"
