"""The state tables are exhaustive both ways and unknown input maps to UNKNOWN."""

from __future__ import annotations

import logging

import pytest

from bridge.domain import states
from bridge.domain.states import JobState


def test_every_ir_state_has_a_slurm_and_an_htcondor_name() -> None:
    assert set(states.STATE_TO_SLURM) == set(JobState)
    assert set(states.STATE_TO_HTCONDOR) == set(JobState)


def test_every_slurm_base_state_maps_and_round_trips_to_itself() -> None:
    for name, state in states.SLURM_TO_STATE.items():
        assert states.from_slurm(name) is state
        if state in (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.CANCELLED):
            assert states.STATE_TO_SLURM[state] == name


@pytest.mark.parametrize("code", range(1, 8))
def test_every_htcondor_job_status_maps(code: int) -> None:
    assert states.from_htcondor(code) is not JobState.UNKNOWN


def test_ir_to_htcondor_uses_only_real_codes() -> None:
    assert set(states.STATE_TO_HTCONDOR.values()) <= set(states.HTCONDOR_TO_STATE)


def test_ir_to_slurm_uses_only_real_names() -> None:
    assert set(states.STATE_TO_SLURM.values()) <= set(states.SLURM_TO_STATE)


def test_slurm_json_state_list_uses_the_base_state_not_the_flags() -> None:
    assert states.from_slurm(["PENDING", "REQUEUED"]) is JobState.PENDING
    assert states.from_slurm(["COMPLETING", "RUNNING"]) is JobState.RUNNING


def test_unknown_inputs_map_to_unknown_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert states.from_slurm("WIBBLE") is JobState.UNKNOWN
        assert states.from_htcondor(42) is JobState.UNKNOWN
        assert states.from_kube([], pod_phase="Exploded") is JobState.UNKNOWN
    assert len(caplog.records) == 3


def test_kube_conditions_reasons_and_phases() -> None:
    assert states.from_kube(["Complete"]) is JobState.SUCCEEDED
    assert states.from_kube(["Failed"], ["DeadlineExceeded"]) is JobState.TIMEOUT
    assert states.from_kube(["Failed"], ["BackoffLimitExceeded", "OOMKilled"]) is JobState.FAILED
    assert states.from_kube(["Failed"], ["OOMKilled"]) is JobState.OUT_OF_MEMORY
    assert states.from_kube([], ["Evicted"], pod_phase="Failed") is JobState.NODE_FAIL
    assert states.from_kube([], pod_phase="Running") is JobState.RUNNING
    assert states.from_kube([]) is JobState.PENDING
    assert states.from_kube(["Suspended"]) is JobState.HELD


def test_every_pod_phase_and_condition_maps_to_a_state() -> None:
    for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
        assert phase in states.POD_PHASE_TO_STATE
    for condition in ("Complete", "Failed", "Suspended", "FailureTarget", "SuccessCriteriaMet"):
        assert condition in states.JOB_CONDITION_TO_STATE


def test_final_states() -> None:
    assert JobState.SUCCEEDED.is_final
    assert not JobState.RUNNING.is_final
    assert not JobState.HELD.is_final
