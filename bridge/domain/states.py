"""One job state machine vocabulary and the tables to and from each system's own.

Every mapping is a table; tests check each is exhaustive. Unknown input maps to UNKNOWN and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

log = logging.getLogger(__name__)


class JobState(StrEnum):
    PENDING = "pending"
    HELD = "held"
    RUNNING = "running"
    SUSPENDED = "suspended"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    NODE_FAIL = "node_fail"
    PREEMPTED = "preempted"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES: Final = frozenset(
    {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
    }
)

# --- Slurm -----------------------------------------------------------------------------------------
# Base states of Slurm 24.11 (src/common/slurm_protocol_defs.c job_state_string).
SLURM_TO_STATE: Final[Mapping[str, JobState]] = MappingProxyType(
    {
        "PENDING": JobState.PENDING,
        "RUNNING": JobState.RUNNING,
        "SUSPENDED": JobState.SUSPENDED,
        "COMPLETED": JobState.SUCCEEDED,
        "CANCELLED": JobState.CANCELLED,
        "FAILED": JobState.FAILED,
        "TIMEOUT": JobState.TIMEOUT,
        "NODE_FAIL": JobState.NODE_FAIL,
        "PREEMPTED": JobState.PREEMPTED,
        "BOOT_FAIL": JobState.NODE_FAIL,
        "DEADLINE": JobState.TIMEOUT,
        "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    }
)
# State flags that may accompany a base state in `--json` output; they never decide the state alone.
SLURM_STATE_FLAGS: Final = frozenset(
    {
        "COMPLETING", "CONFIGURING", "EXPEDITING", "LAUNCH_FAILED", "POWER_UP_NODE", "RECONFIG_FAIL",
        "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "RESV_DEL_HOLD", "REVOKED",
        "SIGNALING", "SPECIAL_EXIT", "STAGE_OUT", "STOPPED", "UPDATE_DB",
    }
)  # fmt: skip
STATE_TO_SLURM: Final[Mapping[JobState, str]] = MappingProxyType(
    {
        JobState.PENDING: "PENDING",
        JobState.HELD: "PENDING",
        JobState.RUNNING: "RUNNING",
        JobState.SUSPENDED: "SUSPENDED",
        JobState.SUCCEEDED: "COMPLETED",
        JobState.FAILED: "FAILED",
        JobState.CANCELLED: "CANCELLED",
        JobState.TIMEOUT: "TIMEOUT",
        JobState.OUT_OF_MEMORY: "OUT_OF_MEMORY",
        JobState.NODE_FAIL: "NODE_FAIL",
        JobState.PREEMPTED: "PREEMPTED",
        JobState.UNKNOWN: "PENDING",
    }
)


def from_slurm(states: str | Iterable[str]) -> JobState:
    """Map Slurm's state (a name, or the list `--json` gives: base state plus flags)."""
    names = [states] if isinstance(states, str) else list(states)
    for name in names:
        state = SLURM_TO_STATE.get(name.upper())
        if state is not None:
            return state
    if not all(n.upper() in SLURM_STATE_FLAGS for n in names) or not names:
        log.warning("unknown Slurm job state %r", names)
    return JobState.UNKNOWN


# --- HTCondor --------------------------------------------------------------------------------------
# JobStatus codes (condor_utils/proc.h).
HTCONDOR_TO_STATE: Final[Mapping[int, JobState]] = MappingProxyType(
    {
        1: JobState.PENDING,  # Idle
        2: JobState.RUNNING,
        3: JobState.CANCELLED,  # Removed
        4: JobState.SUCCEEDED,  # Completed: the exit code tells success from failure
        5: JobState.HELD,
        6: JobState.RUNNING,  # Transferring output
        7: JobState.SUSPENDED,
    }
)
STATE_TO_HTCONDOR: Final[Mapping[JobState, int]] = MappingProxyType(
    {
        JobState.PENDING: 1,
        JobState.HELD: 5,
        JobState.RUNNING: 2,
        JobState.SUSPENDED: 7,
        JobState.SUCCEEDED: 4,
        JobState.FAILED: 4,  # completed with a non-zero ExitCode
        JobState.CANCELLED: 3,
        JobState.TIMEOUT: 5,  # platform-caused ends become holds with a reason
        JobState.OUT_OF_MEMORY: 5,
        JobState.NODE_FAIL: 5,
        JobState.PREEMPTED: 1,  # re-run: back to idle
        JobState.UNKNOWN: 1,
    }
)


def from_htcondor(job_status: int) -> JobState:
    state = HTCONDOR_TO_STATE.get(job_status)
    if state is None:
        log.warning("unknown HTCondor JobStatus %r", job_status)
        return JobState.UNKNOWN
    return state


# --- Kubernetes ------------------------------------------------------------------------------------
POD_PHASE_TO_STATE: Final[Mapping[str, JobState]] = MappingProxyType(
    {
        "Pending": JobState.PENDING,
        "Running": JobState.RUNNING,
        "Succeeded": JobState.SUCCEEDED,
        "Failed": JobState.FAILED,
        "Unknown": JobState.UNKNOWN,
    }
)
# Job conditions with status "True", in the order they are decided (first match wins).
JOB_CONDITION_TO_STATE: Final[Mapping[str, JobState]] = MappingProxyType(
    {
        "Complete": JobState.SUCCEEDED,
        "SuccessCriteriaMet": JobState.SUCCEEDED,
        "Failed": JobState.FAILED,
        "FailureTarget": JobState.FAILED,
        "Suspended": JobState.HELD,
    }
)
# Reasons (Job condition, pod status, container termination) that say more than "failed".
KUBE_REASON_TO_STATE: Final[Mapping[str, JobState]] = MappingProxyType(
    {
        "DeadlineExceeded": JobState.TIMEOUT,
        "OOMKilled": JobState.OUT_OF_MEMORY,
        "Evicted": JobState.NODE_FAIL,
        "NodeLost": JobState.NODE_FAIL,
        "DisruptionTarget": JobState.NODE_FAIL,
        "PreemptionByScheduler": JobState.PREEMPTED,
        "BackoffLimitExceeded": JobState.FAILED,
        "FailedIndexes": JobState.FAILED,
        "PodFailurePolicy": JobState.FAILED,
        "MaxFailedIndexesExceeded": JobState.FAILED,
        "Error": JobState.FAILED,
        "Completed": JobState.SUCCEEDED,
    }
)


def from_kube(true_conditions: Iterable[str], reasons: Iterable[str] = (), pod_phase: str | None = None) -> JobState:
    """Decide the IR state of a Job from its true conditions, known reasons and pod phase."""
    conditions = set(true_conditions)
    decided = next((s for c, s in JOB_CONDITION_TO_STATE.items() if c in conditions), None)
    if decided is None:
        if pod_phase is None:
            return JobState.PENDING
        decided = POD_PHASE_TO_STATE.get(pod_phase)
        if decided is None:
            log.warning("unknown pod phase %r", pod_phase)
            return JobState.UNKNOWN
    if decided in (JobState.FAILED, JobState.UNKNOWN):
        for reason in reasons:
            refined = KUBE_REASON_TO_STATE.get(reason)
            if refined is not None and refined is not JobState.SUCCEEDED:
                return refined
    return decided
