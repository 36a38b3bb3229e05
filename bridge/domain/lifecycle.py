"""The one state machine both front doors share: (batch phase, outcome known, Kubernetes phase) -> action.

The reconciler is level-triggered: it looks at what the batch system says (the desired side) and what
the watch shows (the observed side) and takes the single action the table names. Replaying an event,
a duplicate poll or a restart lands on the same row, so every action must be idempotent (create is
create-or-adopt, release and signal may be repeated, an outcome is written once and never changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from itertools import product
from types import MappingProxyType
from typing import Final

from pydantic import Field

from bridge.domain.ir import Model
from bridge.domain.states import JobState


class BatchPhase(StrEnum):
    """Where the batch system has the job, as far as the bridge is concerned."""

    WAITING = "waiting"  # the batch system would not start it yet: dependency, the user's --begin, a hold
    READY = "ready"  # held only by the bridge: the batch system would start it now
    RELEASED = "released"  # handed back: the gateway shim runs, or is about to
    FINAL = "final"  # ended in the batch system
    DOOMED = "doomed"  # the batch system will never start it (a dependency that can never be satisfied)


class KubePhase(StrEnum):
    """What the watch shows of the job's Kubernetes Job and pod."""

    ABSENT = "absent"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (KubePhase.SUCCEEDED, KubePhase.FAILED)


class Action(StrEnum):
    NONE = "none"
    CREATE = "create"  # build the objects and create-or-adopt them
    REPORT = "report"  # write the pending reason where the user reads it (only when it changed)
    RELEASE = "release"  # let the batch system start the job (the pod runs, or the outcome is known)
    FINISH = "finish"  # write the outcome, then release or wake the shim
    SIGNAL = "signal"  # wake the shim again: the outcome is written, the job still runs
    LOST = "lost"  # the Kubernetes Job vanished without an outcome: finish with a platform failure
    DELETE = "delete"  # the batch side ended or cancelled it: delete the Kubernetes Job
    AUDIT = "audit"  # ended without the bridge's outcome: flag it once in the record
    CANCEL = "cancel"  # end it in the batch system, with the batch system's own reason


_A = Action
_K = KubePhase
# One row per batch phase and "outcome already written"; columns in KubePhase order.
_ROWS: Final[Mapping[tuple[BatchPhase, bool], tuple[Action, Action, Action, Action, Action]]] = {
    #                              ABSENT     PENDING    RUNNING    SUCCEEDED  FAILED
    (BatchPhase.WAITING, False): (_A.NONE, _A.NONE, _A.NONE, _A.NONE, _A.NONE),
    (BatchPhase.WAITING, True): (_A.NONE, _A.NONE, _A.NONE, _A.NONE, _A.NONE),
    (BatchPhase.READY, False): (_A.CREATE, _A.REPORT, _A.RELEASE, _A.FINISH, _A.FINISH),
    (BatchPhase.READY, True): (_A.RELEASE, _A.RELEASE, _A.RELEASE, _A.RELEASE, _A.RELEASE),
    (BatchPhase.RELEASED, False): (_A.LOST, _A.REPORT, _A.NONE, _A.FINISH, _A.FINISH),
    (BatchPhase.RELEASED, True): (_A.SIGNAL, _A.SIGNAL, _A.SIGNAL, _A.SIGNAL, _A.SIGNAL),
    (BatchPhase.FINAL, False): (_A.AUDIT, _A.DELETE, _A.DELETE, _A.AUDIT, _A.AUDIT),
    (BatchPhase.FINAL, True): (_A.NONE, _A.DELETE, _A.DELETE, _A.NONE, _A.NONE),
    (BatchPhase.DOOMED, False): (_A.CANCEL, _A.CANCEL, _A.CANCEL, _A.CANCEL, _A.CANCEL),
    (BatchPhase.DOOMED, True): (_A.CANCEL, _A.CANCEL, _A.CANCEL, _A.CANCEL, _A.CANCEL),
}
TRANSITIONS: Final[Mapping[tuple[BatchPhase, bool, KubePhase], Action]] = MappingProxyType(
    {(b, o, k): _ROWS[(b, o)][i] for (b, o), (i, k) in product(_ROWS, enumerate(KubePhase))}
)


def decide(batch: BatchPhase, outcome_known: bool, kube: KubePhase) -> Action:
    return TRANSITIONS[(batch, outcome_known, kube)]


class Outcome(Model):
    """How a job ended, as the bridge saw it in Kubernetes; written to the batch record once."""

    state: JobState
    exit_code: int = Field(ge=0, le=255)
    signal: int = Field(default=0, ge=0, le=64)
    reason: str = Field(description="One line for the user: what happened and why.")
    detail: tuple[tuple[str, str], ...] = Field(default=(), description="Accounting: namespace, job, pod, node, times.")

    @property
    def failed(self) -> bool:
        return self.state is not JobState.SUCCEEDED or self.exit_code != 0 or self.signal != 0


def all_keys() -> list[tuple[BatchPhase, bool, KubePhase]]:
    return list(product(BatchPhase, (False, True), KubePhase))
