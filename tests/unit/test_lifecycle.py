"""The shared state machine: exhaustive, and the rows the design names."""

from __future__ import annotations

import pytest

from bridge.domain.lifecycle import TRANSITIONS, Action, BatchPhase, KubePhase, Outcome, all_keys, decide
from bridge.domain.states import JobState


def test_every_combination_has_exactly_one_action() -> None:
    assert set(TRANSITIONS) == set(all_keys())
    assert len(TRANSITIONS) == len(BatchPhase) * 2 * len(KubePhase)


def test_every_action_is_used() -> None:
    assert set(TRANSITIONS.values()) == set(Action)


@pytest.mark.parametrize(
    ("batch", "outcome", "kube", "action"),
    [
        (BatchPhase.READY, False, KubePhase.ABSENT, Action.CREATE),  # step 1: held job, no Job
        (BatchPhase.READY, False, KubePhase.PENDING, Action.REPORT),  # step 3: pending reason
        (BatchPhase.READY, False, KubePhase.RUNNING, Action.RELEASE),  # step 4: release on Running
        (BatchPhase.RELEASED, False, KubePhase.RUNNING, Action.NONE),  # release is not repeated
        (BatchPhase.RELEASED, False, KubePhase.FAILED, Action.FINISH),  # step 5: outcome written
        (BatchPhase.RELEASED, True, KubePhase.SUCCEEDED, Action.SIGNAL),  # step 5 after a restart
        (BatchPhase.RELEASED, False, KubePhase.ABSENT, Action.LOST),  # Job vanished without outcome
        (BatchPhase.FINAL, False, KubePhase.RUNNING, Action.DELETE),  # step 7: scancel
        (BatchPhase.FINAL, True, KubePhase.SUCCEEDED, Action.NONE),  # step 6: TTL cleans up
        (BatchPhase.WAITING, False, KubePhase.ABSENT, Action.NONE),  # the batch system decides when
        (BatchPhase.DOOMED, False, KubePhase.ABSENT, Action.CANCEL),
    ],
)
def test_rows_of_one_jobs_life(batch: BatchPhase, outcome: bool, kube: KubePhase, action: Action) -> None:
    assert decide(batch, outcome, kube) is action


def test_an_outcome_once_known_is_never_recomputed() -> None:
    """With an outcome written, no row leads to FINISH or LOST (which would write a second one)."""
    for (_, outcome, _), action in TRANSITIONS.items():
        if outcome:
            assert action not in (Action.FINISH, Action.LOST, Action.CREATE)


def test_outcome_failed_flag() -> None:
    assert not Outcome(state=JobState.SUCCEEDED, exit_code=0, reason="ok").failed
    assert Outcome(state=JobState.SUCCEEDED, exit_code=3, reason="x").failed
    assert Outcome(state=JobState.OUT_OF_MEMORY, exit_code=0, signal=9, reason="x").failed
