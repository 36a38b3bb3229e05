"""Pipeline definitions and readiness (Slurm's dependency rules), status roll-ups, the hub."""

from __future__ import annotations

import pytest

from bridge.domain.states import JobState
from bridge.sdk import InvalidSpec, JobSpec, Pipeline
from bridge.sdk.hub import StatusHub
from bridge.sdk.pipeline import Readiness, readiness
from bridge.sdk.slurm_status import status_of
from bridge.sdk.status import JobStatus

SPEC = JobSpec.command(["true"])


def _s(state: JobState, code: int | None = None) -> JobStatus:
    return JobStatus("x", state, exit_code=code)


@pytest.mark.parametrize(
    ("kind", "upstream", "expected"),
    [
        ("after_ok", [_s(JobState.SUCCEEDED, 0), _s(JobState.SUCCEEDED, 0)], Readiness.READY),
        ("after_ok", [_s(JobState.SUCCEEDED, 0), _s(JobState.RUNNING)], Readiness.WAIT),
        ("after_ok", [_s(JobState.FAILED, 3), _s(JobState.RUNNING)], Readiness.NEVER),
        ("after_ok", [_s(JobState.SUCCEEDED, 0), None], Readiness.WAIT),
        ("after_not_ok", [_s(JobState.FAILED, 1), _s(JobState.CANCELLED)], Readiness.READY),
        ("after_not_ok", [_s(JobState.SUCCEEDED, 0), _s(JobState.RUNNING)], Readiness.NEVER),
        ("after_any", [_s(JobState.FAILED, 1), _s(JobState.SUCCEEDED, 0)], Readiness.READY),
        ("after_any", [_s(JobState.FAILED, 1), _s(JobState.PENDING)], Readiness.WAIT),
    ],
)
def test_readiness_follows_slurms_rules(kind: str, upstream: list[JobStatus | None], expected: Readiness) -> None:
    p = Pipeline("p")
    p.step("a", SPEC)
    p.step("b", SPEC)
    step = p.step("c", SPEC, **{kind: ["a", "b"]})
    assert readiness(step, {"a": upstream[0], "b": upstream[1]}) is expected


def test_fan_out_fan_in_and_bad_definitions() -> None:
    p = Pipeline("analysis")
    split = p.step("split", SPEC)
    work = [p.step(f"w{i}", SPEC, after_ok=[split]) for i in range(3)]
    p.step("merge", SPEC, after_ok=work)
    assert p.downstream()["split"] == ["w0", "w1", "w2"]
    assert p.key("merge") == "analysis.merge"
    with pytest.raises(InvalidSpec, match="unknown or later"):
        p.step("x", SPEC, after_ok=["later"])
    with pytest.raises(InvalidSpec, match="defined twice"):
        p.step("merge", SPEC)
    with pytest.raises(InvalidSpec, match="exactly one of script or command"):
        Pipeline.from_mapping({"name": "y", "steps": [{"name": "a"}]})
    loaded = Pipeline.from_mapping(
        {
            "name": "y",
            "steps": [{"name": "a", "command": ["true"]}, {"name": "b", "script": "echo", "after_any": ["a"]}],
        }
    )
    assert loaded.steps["b"].after[0][1] == ("a",)


def test_array_roll_up_from_slurm_task_records() -> None:
    tasks = [
        {"job_id": 10 + i, "array_job_id": {"set": True, "number": 10}, "array_task_id": {"set": True, "number": i},
         "job_state": [state], "exit_code": {"return_code": {"set": True, "number": code}}, "name": "w"}
        for i, (state, code) in enumerate([("COMPLETED", 0), ("FAILED", 4), ("RUNNING", 0)])
    ]  # fmt: skip
    assert status_of("10", tasks).state is JobState.RUNNING
    tasks[2]["job_state"] = ["COMPLETED"]
    done = status_of("10", tasks)
    assert (done.state, done.exit_code, done.reason) == (JobState.FAILED, 4, "1 of 3 tasks failed")


def test_hub_publishes_changes_only_and_wakes_waiters() -> None:
    hub, seen = StatusHub(), list[JobStatus]()
    hub.subscribe("x", seen.append)
    hub.publish(_s(JobState.PENDING))
    hub.publish(_s(JobState.PENDING))
    hub.publish(_s(JobState.SUCCEEDED, 0))
    assert [s.state for s in seen] == [JobState.PENDING, JobState.SUCCEEDED]
    assert hub.wait("x", lambda s: s.final, 0) == _s(JobState.SUCCEEDED, 0)
    assert hub.wait("y", lambda s: True, 0.01) is None
