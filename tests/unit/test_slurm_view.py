"""The Slurm port's view: a light listing each poll, full records only where something may have changed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from adapters.slurm.port import SlurmPort
from adapters.slurm.view import JobView

Record = dict[str, Any]


class Slurmctld:
    """slurmctld's job table as the two listings see it (pure data, no Slurm behaviour)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Record] = {}
        self.fetches: list[list[str]] = []
        self.answer = True  # False: a fetch returns nothing (the job vanished between listing and fetch)

    def add(
        self, job_id: str, state: str = "PENDING", reason: str = "BeginTime", partition: str = "k8s", on: str = ""
    ) -> None:
        self.jobs[job_id] = {
            "job_id": job_id,
            "job_state": [state],
            "state_reason": reason,
            "partition": partition,
            "dependency": on,
        }

    def states(self) -> list[tuple[str, str]]:
        return [(j, r["job_state"][0]) for j, r in self.jobs.items()]

    def records(self, ids: Iterable[str]) -> list[Record]:
        wanted = list(ids)
        self.fetches.append(wanted)
        return [dict(self.jobs[i]) for i in wanted if i in self.jobs and self.answer]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def keep(rec: Record) -> Record | None:
    return rec if rec["partition"] == "k8s" else None


def waits_on(rec: Record) -> frozenset[str] | None:
    if rec["job_state"] != ["PENDING"] or rec["state_reason"] == "BeginTime":
        return None
    return frozenset(filter(None, rec["dependency"].split(",")))


def aliases(rec: Record) -> frozenset[str]:
    return frozenset({rec["array"]}) if rec.get("array") else frozenset()


def view_of(ctld: Slurmctld, budget: int = 100, clock: Clock | None = None) -> JobView:
    return JobView(ctld, keep, waits_on, budget=budget, refresh_s=10.0, aliases=aliases, clock=clock or Clock())


def test_only_new_jobs_are_fetched_and_state_changes_come_from_the_listing() -> None:
    ctld = Slurmctld()
    for i in range(1, 4):
        ctld.add(str(i))
    view = view_of(ctld)
    view.refresh()
    assert sorted(ctld.fetches[-1]) == ["1", "2", "3"]
    view.refresh()
    assert view.fetched_last == 0
    ctld.jobs["2"]["job_state"] = ["RUNNING"]
    ctld.add("4")
    view.refresh()
    assert ctld.fetches[-1] == ["4"]
    assert {r["job_id"]: r["job_state"] for r in view.records()}["2"] == ["RUNNING"]


def test_a_touched_job_is_read_back_once() -> None:
    ctld = Slurmctld()
    ctld.add("7")
    view = view_of(ctld)
    view.refresh()
    ctld.jobs["7"]["admin_comment"] = "written by the port"
    view.touch("7")
    view.refresh()
    assert ctld.fetches[-1] == ["7"]
    assert view.records()[0]["admin_comment"] == "written by the port"
    view.refresh()
    assert view.fetched_last == 0


def test_another_partitions_job_is_remembered_not_refetched() -> None:
    ctld = Slurmctld()
    ctld.add("1", partition="debug", reason="Dependency")
    view = view_of(ctld)
    view.refresh()
    view.refresh()
    assert view.records() == [] and len(view) == 1 and view.fetched_last == 0


def test_a_dependent_job_is_read_again_when_what_it_waits_on_moves() -> None:
    ctld, clock = Slurmctld(), Clock()
    ctld.add("1", state="RUNNING")
    ctld.add("2", reason="Dependency", on="1")
    ctld.add("3")  # held by the bridge only: its reason does not change by itself
    view = view_of(ctld, clock=clock)
    view.refresh()
    clock.now += 1
    view.refresh()
    assert view.fetched_last == 0
    ctld.jobs["1"]["job_state"] = ["COMPLETED"]
    ctld.jobs["2"]["state_reason"] = "BeginTime"  # satisfied: no state change of its own
    view.refresh()
    assert ctld.fetches[-1] == ["2"]
    assert {r["job_id"]: r["state_reason"] for r in view.records()}["2"] == "BeginTime"
    clock.now += 60
    view.refresh()
    assert view.fetched_last == 0  # no longer waiting on Slurm


def test_a_job_waiting_on_named_jobs_is_not_polled_while_they_do_not_move() -> None:
    ctld, clock = Slurmctld(), Clock()
    ctld.add("1", state="RUNNING")
    for i in range(2, 50):
        ctld.add(str(i), reason="Dependency", on="1")
    view = view_of(ctld, clock=clock)
    view.refresh()
    for _ in range(20):  # 200 s: only the safety net would read them again, every 300 s
        clock.now += 10
        view.refresh()
        assert view.fetched_last == 0
    clock.now += 100
    view.refresh()
    assert view.fetched_last == 48


def test_a_held_job_naming_no_job_is_read_again_every_refresh_s() -> None:
    ctld, clock = Slurmctld(), Clock()
    ctld.add("4", reason="JobHeldUser")
    view = view_of(ctld, clock=clock)
    view.refresh()
    clock.now += 9
    view.refresh()
    assert view.fetched_last == 0
    clock.now += 1
    view.refresh()
    assert ctld.fetches[-1] == ["4"]


def test_the_budget_bounds_a_poll_and_the_rest_follow() -> None:
    ctld = Slurmctld()
    for i in range(1, 251):
        ctld.add(str(i))
    view = view_of(ctld, budget=100)
    view.refresh()
    assert len(ctld.fetches[-1]) == 100
    view.refresh()
    view.refresh()
    assert len(view.records()) == 250
    view.refresh()
    assert view.fetched_last == 0


def test_purged_jobs_leave_the_view_and_the_highest_id_stays() -> None:
    ctld = Slurmctld()
    ctld.add("5")
    ctld.add("9")
    view = view_of(ctld)
    view.refresh()
    del ctld.jobs["9"]
    view.refresh()
    assert [r["job_id"] for r in view.records()] == ["5"]
    assert view.highest_id == 9


def test_a_job_missing_from_its_fetch_is_fetched_again_while_listed() -> None:
    ctld = Slurmctld()
    ctld.add("3")
    view = view_of(ctld)
    ctld.answer = False
    view.refresh()
    assert view.records() == []
    ctld.answer = True
    view.refresh()
    assert [r["job_id"] for r in view.records()] == ["3"]


def test_the_port_names_the_jobs_a_dependency_waits_on() -> None:
    rec = {
        "job_state": ["PENDING"],
        "state_reason": "Dependency",
        "dependency": "afterok:12:13_4(unfulfilled),afterany:14_*",
    }
    assert SlurmPort._waits_on(rec) == frozenset({"12", "13", "14"})
    assert SlurmPort._waits_on({**rec, "dependency": "singleton(unfulfilled)"}) == frozenset()
    assert SlurmPort._waits_on({**rec, "state_reason": "BeginTime"}) is None
    assert SlurmPort._waits_on({**rec, "job_state": ["RUNNING"]}) is None


def test_dependents_are_read_each_poll_while_slurmctld_has_not_yet_reevaluated() -> None:
    """slurmctld re-evaluates dependencies at its next scheduling pass: the reason changes polls later."""
    ctld, clock = Slurmctld(), Clock()
    ctld.add("1", state="RUNNING")
    ctld.add("2", reason="Dependency", on="1")
    view = view_of(ctld, clock=clock)
    view.refresh()
    ctld.jobs["1"]["job_state"] = ["COMPLETED"]
    for _ in range(3):  # still "Dependency" for a few polls
        clock.now += 0.5
        view.refresh()
        assert "2" in ctld.fetches[-1]
    ctld.jobs["2"]["state_reason"] = "BeginTime"
    clock.now += 0.5
    view.refresh()
    assert {r["job_id"]: r["state_reason"] for r in view.records()}["2"] == "BeginTime"


def test_a_task_of_an_array_moving_wakes_what_depends_on_the_array() -> None:
    ctld, clock = Slurmctld(), Clock()
    ctld.add("10", state="RUNNING")  # the array's own record (its last task)
    ctld.add("11", state="RUNNING")
    ctld.jobs["11"]["array"] = "10"  # a task split out, with an id of its own
    ctld.add("20", reason="Dependency", on="10")
    view = view_of(ctld, clock=clock)
    view.refresh()
    clock.now += 20
    view.refresh()
    assert view.fetched_last == 0
    ctld.jobs["11"]["job_state"] = ["COMPLETED"]
    clock.now += 0.5
    view.refresh()
    assert "20" in ctld.fetches[-1]


def test_what_the_port_wrote_is_kept_without_a_read() -> None:
    ctld = Slurmctld()
    ctld.add("7")
    view = view_of(ctld)
    view.refresh()
    view.patch("7", {"admin_comment": "written"})
    view.refresh()
    assert view.fetched_last == 0
    assert view.records()[0]["admin_comment"] == "written"


def test_a_mass_cancel_does_not_starve_new_jobs() -> None:
    ctld = Slurmctld()
    for i in range(1, 501):
        ctld.add(str(i), reason="Dependency", on="9999")
    view = view_of(ctld, budget=100)
    for _ in range(5):
        view.refresh()
    for i in range(1, 501):
        ctld.jobs[str(i)]["job_state"] = ["CANCELLED"]
    ctld.add("600")
    view.refresh()
    assert ctld.fetches[-1] == ["600"]
    assert {r["job_id"]: r["job_state"] for r in view.records()}["7"] == ["CANCELLED"]


def test_an_arrays_own_record_is_read_when_its_states_change() -> None:
    ctld = Slurmctld()
    ctld.add("30")
    ctld.jobs["30"]["array_task_string"] = "0-9"
    view = JobView(ctld, keep, waits_on, followable=lambda rec: not rec.get("array_task_string"), clock=Clock())
    view.refresh()
    ctld.jobs["30"]["job_state"] = ["RUNNING"]
    ctld.jobs["30"]["array_task_string"] = ""
    view.refresh()
    assert ctld.fetches[-1] == ["30"]
    assert view.records()[0]["array_task_string"] == ""


def test_a_job_slurmctld_has_given_no_reason_yet_is_read_at_each_poll_until_it_has_one() -> None:
    ctld, clock = Slurmctld(), Clock()
    ctld.add("8", reason="None")  # just submitted: slurmctld sets BeginTime at its next pass
    view = JobView(ctld, keep, SlurmPort._waits_on, clock=clock)
    view.refresh()
    clock.now += 0.5
    view.refresh()
    assert ctld.fetches[-1] == ["8"]  # not after refresh_s: intake would wait 10 s for nothing
    ctld.jobs["8"]["state_reason"] = "BeginTime"
    clock.now += 0.5
    view.refresh()
    clock.now += 0.5
    view.refresh()
    assert ctld.fetches == [["8"], ["8"], ["8"]] and view.fetched_last == 0
    assert SlurmPort._waits_on({"job_id": 8, "job_state": ["PENDING"]}) == frozenset({"8"})


def test_pending_jobs_are_read_before_ended_ones_the_view_has_not_seen() -> None:
    """A restarted daemon meets every ended job slurmctld still holds; the held jobs intake waits on
    take the budget first."""
    ctld = Slurmctld()
    for i in range(1, 6):
        ctld.add(str(i), state="COMPLETED")
    ctld.add("6")
    ctld.add("7")
    view = view_of(ctld, budget=3)
    view.refresh()
    assert ctld.fetches[-1][:2] == ["6", "7"]
    assert len(ctld.fetches[-1]) == 3


def test_each_record_is_slimmed_as_it_arrives() -> None:
    """The view never holds a whole poll's full records: ``keep`` sees each before the next is read
    (the transports yield records as they come)."""
    kept: list[str] = []
    read_before_kept: list[int] = []

    class Streaming(Slurmctld):
        def records(self, ids: Iterable[str]) -> Iterator[Record]:  # type: ignore[override]
            for i in ids:
                read_before_kept.append(len(kept))
                yield dict(self.jobs[i])

    ctld = Streaming()
    for i in range(1, 5):
        ctld.add(str(i))

    def keeping(rec: Record) -> Record | None:
        kept.append(rec["job_id"])
        return rec

    JobView(ctld, keeping, waits_on, budget=10).refresh()
    assert sorted(kept) == ["1", "2", "3", "4"]
    assert read_before_kept == [0, 1, 2, 3]  # record n+1 was read only after record n was slimmed
