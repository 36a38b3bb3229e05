"""The HTCondor adapter's pure parts and its port against an in-memory schedd.

The fake schedd evaluates constraints with HTCondor's own ClassAd library, so the claim's atomicity
(a running, held, removed or claimed job cannot match) is tested against the real expression.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from adapters.htcondor import edits
from adapters.htcondor import events as ev
from adapters.htcondor.port import CondorPort
from adapters.htcondor.record import PHASES, CondorJob, State, Status, claimable, parse, phase
from adapters.htcondor.settings import CondorSettings
from adapters.htcondor.transport import Edit
from bridge.domain.errors import PolicyError
from bridge.domain.ir import Identity
from bridge.domain.lifecycle import BatchPhase, Outcome
from bridge.domain.states import JobState

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import classad
    import htcondor2

MANAGER = "batch-bridge"
ALICE = Identity(user="alice", uid=2001, gid=2001, groups=(3000,), home="/lab/gpfs/home/alice")


class FakeSchedd:
    def __init__(self) -> None:
        self.ads: dict[str, Any] = {}
        self.calls: list[str] = []
        self.refuse: set[str] = set()  # attributes whose edits are silently dropped (a refused edit)

    def add(self, cluster: int, proc: int, **attrs: object) -> None:
        base: dict[str, object] = {
            "ClusterId": cluster,
            "ProcId": proc,
            "Owner": "alice",
            "User": "alice@lab",
            "JobStatus": 1,
            "JobUniverse": 5,
            "Cmd": "/bin/echo",
            "Arguments": "hi",
            "Iwd": "/lab/gpfs/home/alice",
            "Out": "/lab/gpfs/home/alice/out",
            "Err": "/lab/gpfs/home/alice/err",
            "UserLog": "/lab/gpfs/home/alice/job.log",
            "RequestCpus": 1,
            "RequestMemory": 128,
            "WantKubernetes": True,
            "Managed": "External",
            "ManagedManager": MANAGER,
            "QDate": 1_799_000_000,
        }
        self.ads[f"{cluster}.{proc}"] = classad.ClassAd({**base, **attrs})

    def _match(self, constraint: str) -> list[Any]:
        expr = classad.ExprTree(constraint)
        return [ad for ad in self.ads.values() if expr.eval(ad) is True]

    def query(self, constraint: str, projection: Sequence[str] = ()) -> list[Any]:
        self.calls.append("query")
        return [
            classad.ClassAd({k: ad[k] for k in projection if k in ad}) if projection else ad
            for ad in self._match(constraint)
        ]

    def _set(self, ad: Any, edit: Edit) -> None:
        for key, value in edit.items():
            if key not in self.refuse:
                ad[key] = value

    def edit_where(self, constraint: str, edit: Edit) -> int:
        self.calls.append("edit")
        matched = self._match(constraint)
        for ad in matched:
            self._set(ad, edit)
        return len(matched)

    def edit(self, job_ids: Sequence[str], edit: Edit) -> None:
        self.calls.append("edit")
        for job_id in job_ids:
            self._set(self.ads[job_id], edit)


class MemoryLog:
    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    def append(self, owner: str, path: str, event: ev.Event) -> bool:
        text = self.files.get(path, "")
        if sum(1 for line in text.splitlines() if line.startswith(event.head)) < event.nth:
            self.files[path] = text + event.text
        return True


def _port(schedd: FakeSchedd, userlog: MemoryLog | None = None, **daemon: object) -> CondorPort:
    settings = CondorSettings.model_validate({"daemon": {"uid_domain": "lab", **daemon}})
    return CondorPort(
        schedd, settings, "lab", userlog or MemoryLog(), clock=lambda: 1_800_000_000.0, identity=lambda _: ALICE
    )


def _ok(code: int = 0) -> Outcome:
    state = JobState.SUCCEEDED if code == 0 else JobState.FAILED
    detail = (
        ("pod", "p-1"),
        ("node", "real-0"),
        ("start", "2027-01-15T08:00:00Z"),
        ("end", "2027-01-15T08:00:10Z"),
        ("exit", str(code)),
    )
    return Outcome(state=state, exit_code=code, reason=f"exit {code}", detail=detail)


# --- the phase table ---------------------------------------------------------------------------------


def test_the_phase_table_is_exhaustive() -> None:
    assert set(PHASES) == set(product(Status, State))


@pytest.mark.parametrize(
    ("status", "state", "expected"),
    [
        (Status.IDLE, State.NONE, (BatchPhase.WAITING, False)),  # selected, not yet claimed
        (Status.IDLE, State.CLAIMED, (BatchPhase.READY, False)),
        (Status.RUNNING, State.RUNNING, (BatchPhase.RELEASED, False)),
        (Status.IDLE, State.RUNNING, (BatchPhase.RELEASED, False)),  # JobStatus reset under a running pod
        (Status.COMPLETED, State.RUNNING, (BatchPhase.RELEASED, False)),  # the owner forged JobStatus 4
        (Status.COMPLETED, State.DONE, (BatchPhase.FINAL, True)),
        (Status.REMOVED, State.RUNNING, (BatchPhase.FINAL, False)),  # condor_rm: delete, then abort
        (Status.REMOVED, State.REMOVED, (BatchPhase.FINAL, True)),
        (Status.HELD, State.RUNNING, (BatchPhase.FINAL, False)),  # condor_hold: stop the pod
        (Status.HELD, State.HELD, (BatchPhase.FINAL, True)),
        (Status.HELD, State.NONE, (BatchPhase.WAITING, False)),  # submitted on hold
        (Status.IDLE, State.HELD, (BatchPhase.WAITING, False)),  # released: claimed again next poll
    ],
)
def test_phase_rows(status: Status, state: State, expected: tuple[BatchPhase, bool]) -> None:
    assert phase(CondorJob(1, 0, status, state, "alice")) == expected


def test_no_row_with_an_outcome_leads_back_to_taking_the_job_in() -> None:
    for (_, state), (ph, known) in PHASES.items():
        if state in (State.DONE, State.REMOVED):
            assert known and ph is BatchPhase.FINAL


@pytest.mark.parametrize(
    "ad",
    [
        {},
        {"ClusterId": "1", "ProcId": 0},
        {"ClusterId": -1, "ProcId": 0},
        {"ClusterId": 1, "ProcId": 0, "JobStatus": 99, "BridgeState": "bogus", "BridgeRun": "x", "UserLog": 5},
        {"ClusterId": 1, "ProcId": 0, "JobStatus": True, "BridgeStartDate": 1.5, "Iwd": None},
    ],
)
def test_hostile_ads_never_raise(ad: dict[str, Any]) -> None:
    job = parse(ad)
    if job is not None:
        assert phase(job)[0] in BatchPhase


def test_relative_user_log_is_under_iwd() -> None:
    job = parse({"ClusterId": 1, "ProcId": 0, "UserLog": "x.log", "Iwd": "/lab/gpfs/home/alice/"})
    assert parse({"ClusterId": 1, "ProcId": 0, "UserLog": "x.log"}).logs == ()  # type: ignore[union-attr]
    assert job is not None and job.logs == ("/lab/gpfs/home/alice/x.log",)
    dag = parse({"ClusterId": 1, "ProcId": 0, "UserLog": "/d/a.log", "DAGManNodesLog": "/d/./x.dag.nodes.log"})
    assert dag is not None and dag.logs == ("/d/a.log", "/d/x.dag.nodes.log")


def test_kube_id_names_the_run() -> None:
    assert CondorJob(7, 3, Status.IDLE, State.CLAIMED, "a").kube_id == "7.3"
    assert CondorJob(7, 3, Status.IDLE, State.CLAIMED, "a", run=2).kube_id == "7.3.r2"


# --- hold or complete ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "sub"),
    [
        (_ok(0), None),
        (_ok(3), None),
        (Outcome(state=JobState.FAILED, exit_code=1, reason="refused by batch-bridge: path"), edits.HoldSub.REFUSED),
        (Outcome(state=JobState.FAILED, exit_code=1, reason="Kubernetes refused: quota"), edits.HoldSub.KUBE_REFUSED),
        (Outcome(state=JobState.FAILED, exit_code=1, reason="image could not be used (x)"), edits.HoldSub.IMAGE),
        (Outcome(state=JobState.NODE_FAIL, exit_code=1, reason="NODE_FAIL: gone"), edits.HoldSub.PLATFORM),
        (
            Outcome(state=JobState.OUT_OF_MEMORY, exit_code=137, signal=9, reason="OOM", detail=(("exit", "137"),)),
            edits.HoldSub.MEMORY,
        ),
        (Outcome(state=JobState.TIMEOUT, exit_code=1, reason="TIMEOUT"), edits.HoldSub.TIME),
        (Outcome(state=JobState.FAILED, exit_code=1, reason="something else"), edits.HoldSub.OTHER),
    ],
)
def test_hold_subcodes(outcome: Outcome, sub: edits.HoldSub | None) -> None:
    assert edits.hold_subcode(outcome) is sub


def test_completion_is_one_transaction_with_scheddone() -> None:
    job = CondorJob(1, 0, Status.RUNNING, State.RUNNING, "alice", starts=1, start_date=1_799_999_990)
    edit = edits.completed(job, _ok(3), 1_800_000_000)
    assert edit["Managed"] == "ScheddDone" and edit["ExitCode"] == 3 and edit["JobStatus"] == 4
    assert edit["RemoteWallClockTime"] == 10.0  # from the pod's own start and end
    assert edit["BridgeState"] == "done"


def test_a_short_pods_start_never_comes_after_its_end() -> None:
    """Found by CI: the running edit wrote the bridge's clock (a second after the pod had ended)."""
    job = CondorJob(1, 0, Status.RUNNING, State.RUNNING, "alice", starts=1, start_date=1_800_000_002)
    pod = (("start", "2027-01-15T08:00:00Z"), ("end", "2027-01-15T08:00:01Z"))
    edit = edits.completed(job, Outcome(state=JobState.FAILED, exit_code=3, reason="FAILED", detail=pod), 1_800_000_003)
    start, end = edit["JobStartDate"], edit["CompletionDate"]
    assert isinstance(start, int) and isinstance(end, int) and start <= end, edit
    assert edit["JobCurrentStartDate"] == start
    again = CondorJob(1, 0, Status.RUNNING, State.RUNNING, "alice", starts=2, start_date=1_800_000_002)
    assert "JobStartDate" not in edits.completed(again, _ok(0), 1_800_000_003)  # the first run's stays


# --- user-log events ---------------------------------------------------------------------------------


def test_events_parse_with_htcondor_job_event_log(tmp_path: Path) -> None:
    path = tmp_path / "job.log"
    t = 1_800_000_000.0
    made = [
        ev.execute(12, 3, t, "htcondor-lab-12-3-abc@real-0", 1),
        ev.held(12, 3, t, "batch-bridge: bad\npath\x1b[31m", 26, 1, 1),
        ev.terminate(12, 3, t, 3, 0),
        ev.terminate(12, 4, t, 0, 9),
        ev.aborted(12, 5, t, "via condor_rm (by user alice)"),
    ]
    path.write_text("".join(e.text for e in made))
    seen = list(htcondor2.JobEventLog(str(path)).events(0))
    assert [(int(e.type), e.cluster, e.proc) for e in seen] == [
        (1, 12, 3),
        (12, 12, 3),
        (5, 12, 3),
        (5, 12, 4),
        (9, 12, 5),
    ]
    assert seen[1]["HoldReason"] == "batch-bridge: bad path [31m" and seen[1]["HoldReasonSubCode"] == 1
    assert seen[2]["ReturnValue"] == 3 and seen[3]["TerminatedBySignal"] == 9


# --- the port ----------------------------------------------------------------------------------------


def test_poll_claims_atomically_and_only_what_it_may() -> None:
    schedd = FakeSchedd()
    schedd.add(1, 0)  # selected, idle: claimed
    schedd.add(1, 1, JobStatus=2)  # running (not ours): never claimed
    schedd.add(1, 2, JobStatus=5)  # held: not claimed
    schedd.add(1, 3, Managed="External", ManagedManager="someone-else")
    schedd.add(1, 4, WantKubernetes=False, Managed=classad.Value.Undefined, ManagedManager=classad.Value.Undefined)
    records = {r.key: r for r in _port(schedd).poll()}
    assert schedd.ads["1.0"]["BridgeState"] == "claimed"
    assert all("BridgeState" not in schedd.ads[k] for k in ("1.1", "1.2", "1.3", "1.4"))
    assert records["1.0"].phase is BatchPhase.READY
    assert records["1.2"].phase is BatchPhase.WAITING
    assert set(records) == {"1.0", "1.1", "1.2"}  # another manager's job is not ours
    assert schedd.calls == ["edit", "query", "query"]


def test_claim_constraint_refuses_claimed_running_held_removed() -> None:
    expr = classad.ExprTree(claimable(MANAGER))
    base = {"JobStatus": 1, "WantKubernetes": True, "Managed": "External", "ManagedManager": MANAGER}
    assert expr.eval(classad.ClassAd(base)) is True
    for change in (
        {"JobStatus": 2},
        {"JobStatus": 3},
        {"JobStatus": 5},
        {"BridgeState": "claimed"},
        {"BridgeState": "running"},
        {"ManagedManager": "x"},
        {"WantKubernetes": False},
    ):
        assert expr.eval(classad.ClassAd({**base, **change})) is not True, change


def test_to_ir_uses_the_authenticated_owner_and_refuses_another_domain() -> None:
    schedd = FakeSchedd()
    schedd.add(2, 0)
    schedd.add(2, 1, User="alice@elsewhere")
    port = _port(schedd)
    records = {r.key: r for r in port.poll()}
    ir = port.to_ir(records["2.0"])
    assert (ir.source_id, ir.identity.uid, getattr(ir.payload, "executable", None)) == ("2.0", 2001, "/bin/echo")
    assert ir.submit_time is not None and ir.submit_time.timestamp() == 1_799_000_000
    with pytest.raises(PolicyError, match="elsewhere"):
        port.to_ir(records["2.1"])


def test_run_to_completion_writes_events_once_and_scheddone() -> None:
    schedd, userlog = FakeSchedd(), MemoryLog()
    schedd.add(3, 0)
    port = _port(schedd, userlog)
    rec = port.poll()[0]
    port.release(rec, "k8s Running on real-0")
    ad = schedd.ads["3.0"]
    assert (ad["JobStatus"], ad["BridgeState"], ad["NumJobStarts"]) == (2, "running", 1)
    assert ad["RemoteHost"].endswith("@real-0") and ad["ShadowBday"] == ad["JobCurrentStartDate"]
    ad["ExitCode"] = 0  # the owner scribbles while it runs
    rec = port.poll()[0]
    assert rec.phase is BatchPhase.RELEASED
    port.finish(rec, _ok(3))
    port.finish(rec, _ok(0))  # a repeated (or different) finish never writes a second outcome
    assert (ad["JobStatus"], ad["ExitCode"], ad["Managed"]) == (4, 3, "ScheddDone")
    port2 = _port(schedd, userlog)  # a restarted daemon repeats both steps: no second event
    rec2 = port2.poll()[0]
    assert rec2.phase is BatchPhase.FINAL and rec2.outcome_known
    log_text = userlog.files["/lab/gpfs/home/alice/job.log"]
    assert [line[:3] for line in log_text.splitlines() if line[:1].isdigit()] == ["001", "005"]


def test_refusal_holds_with_code_and_a_new_run() -> None:
    schedd = FakeSchedd()
    schedd.add(4, 0)
    port = _port(schedd)
    rec = port.poll()[0]
    port.finish(rec, Outcome(state=JobState.FAILED, exit_code=1, reason="refused by batch-bridge: no"))
    port.release(rec, "refused")  # the engine's release after an outcome: nothing to start
    ad = schedd.ads["4.0"]
    assert (ad["JobStatus"], ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (5, 26, 1)
    assert ad["HoldReason"] == "refused by batch-bridge: no" and ad["BridgeRun"] == 1
    rec = port.poll()[0]
    assert (rec.key, rec.phase, rec.outcome_known) == ("4.0.r1", BatchPhase.FINAL, True)
    assert port.gone("4.0")  # the first run's Job may go
    assert not port.gone("4.0.r1")


def test_refused_edit_is_written_again_at_the_next_poll_onto_the_same_state_only() -> None:
    schedd = FakeSchedd()
    schedd.add(5, 0)
    schedd.add(6, 0)
    port = _port(schedd)
    first, second = port.poll()
    schedd.refuse = {"BridgeState"}
    port.release(first, "k8s Running on real-0")  # reported done, not kept
    port.release(second, "k8s Running on real-0")
    schedd.refuse = set()
    schedd.ads["6.0"]["BridgeState"] = "removed"  # moved on meanwhile: never overwritten
    edits_before = schedd.calls.count("edit")
    port.poll()
    assert schedd.ads["5.0"]["BridgeState"] == "running" and schedd.ads["5.0"]["JobStatus"] == 2
    assert schedd.ads["6.0"]["BridgeState"] == "removed"
    assert schedd.calls.count("edit") == edits_before + 2  # the claim, and one write again
    port.poll()
    assert schedd.calls.count("edit") == edits_before + 3  # kept: nothing more


def test_a_transition_costs_one_schedd_call() -> None:
    schedd = FakeSchedd()
    schedd.add(7, 0)
    port = _port(schedd)
    rec = port.poll()[0]
    calls = len(schedd.calls)
    port.release(rec, "k8s Running on real-0")
    assert schedd.calls[calls:] == ["edit"]


def test_remove_and_hold_are_finished_by_audit() -> None:
    schedd, userlog = FakeSchedd(), MemoryLog()
    schedd.add(6, 0, BridgeState="running", JobStatus=3, RemoveReason="via condor_rm (by user alice)")
    schedd.add(6, 1, BridgeState="running", JobStatus=5, HoldReason="via condor_hold", HoldReasonCode=1)
    port = _port(schedd, userlog)
    for rec in port.poll():
        assert rec.phase is BatchPhase.FINAL and not rec.outcome_known
        port.audit(rec)
    assert "Managed" not in schedd.ads["6.0"] or schedd.ads["6.0"]["Managed"] == "External"  # written at the next poll
    port.poll()
    assert (schedd.ads["6.0"]["Managed"], schedd.ads["6.0"]["BridgeState"]) == ("ScheddDone", "removed")
    assert (schedd.ads["6.1"]["BridgeState"], schedd.ads["6.1"]["BridgeRun"]) == ("held", 1)
    heads = [line[:17] for line in userlog.files["/lab/gpfs/home/alice/job.log"].splitlines() if line[:1].isdigit()]
    assert heads == ["009 (006.000.000)", "012 (006.001.000)"]


def test_poll_reasserts_jobstatus_the_owner_changed() -> None:
    schedd = FakeSchedd()
    schedd.add(
        7, 0, BridgeState="running", JobStatus=4, BridgeStarts=1, BridgeNode="real-0", BridgeStartDate=1_799_999_000
    )
    _port(schedd).poll()
    assert schedd.ads["7.0"]["JobStatus"] == 2 and schedd.ads["7.0"]["JobCurrentStartDate"] == 1_799_999_000


def test_gone_only_for_ids_this_schedd_issued() -> None:
    schedd = FakeSchedd()
    schedd.add(9, 0)
    port = _port(schedd)
    port.poll()
    assert port.gone("8.0") and not port.gone("9.0") and not port.gone("10.0")
    assert not port.gone("slurm-123") and not port.gone("9.0.rX")


def test_platform_failure_rerun_policy() -> None:
    schedd, userlog = FakeSchedd(), MemoryLog()
    schedd.add(10, 0, BridgeState="running", JobStatus=2, BridgeStarts=1)
    port = _port(schedd, userlog, platform_failures="rerun")
    rec = port.poll()[0]
    port.finish(rec, Outcome(state=JobState.NODE_FAIL, exit_code=1, reason="NODE_FAIL: node lost"))
    ad = schedd.ads["10.0"]
    assert (ad["JobStatus"], ad["BridgeState"], ad["BridgeRun"]) == (1, "held", 1)
    assert _heads(userlog) == ["004"]  # the lost run: evicted, as HTCondor writes it
    port.poll()  # claimed again for its second run
    assert ad["BridgeState"] == "claimed"


def test_every_event_the_bridge_writes_passes_the_user_log_helper() -> None:
    import re

    helper = (Path(__file__).resolve().parents[2] / "adapters/htcondor/site/batch-bridge-userlog").read_text()
    match = re.search(r"^CODES = \((.*)\)$", helper, re.M)
    assert match and set(re.findall(r'"(\d{3})"', match.group(1))) == {f"{c:03d}" for c in ev.CODES}


def test_a_pod_that_ended_before_it_was_seen_running_still_has_an_execute_event() -> None:
    schedd, userlog = FakeSchedd(), MemoryLog()
    schedd.add(11, 0)
    port = _port(schedd, userlog)
    port.finish(port.poll()[0], _ok(0))
    assert schedd.ads["11.0"]["NumJobStarts"] == 1
    assert _heads(userlog) == ["001", "005"]


def _heads(userlog: MemoryLog) -> list[str]:
    return [line[:3] for line in userlog.files["/lab/gpfs/home/alice/job.log"].splitlines() if line[:1].isdigit()]


@pytest.mark.parametrize(
    ("detail", "heads", "starts"),
    [
        ((("start", "2027-01-15T08:00:00Z"), ("exit", "137")), ["001", "012"], 1),  # ran, then OOMKilled
        ((), ["012"], None),  # never ran: an image that cannot be pulled
    ],
)
def test_a_hold_counts_a_run_the_bridge_did_not_see_start(
    detail: tuple[tuple[str, str], ...], heads: list[str], starts: int | None
) -> None:
    schedd, userlog = FakeSchedd(), MemoryLog()
    schedd.add(12, 0)
    port = _port(schedd, userlog)
    port.finish(port.poll()[0], Outcome(state=JobState.OUT_OF_MEMORY, exit_code=137, reason="OOM", detail=detail))
    assert (schedd.ads["12.0"]["JobStatus"], schedd.ads["12.0"].get("NumJobStarts")) == (5, starts)
    assert _heads(userlog) == heads


HOSTILE: list[dict[str, object]] = [
    {"JobUniverse": 7},  # scheduler universe
    {"JobUniverse": 12},  # local universe: would run on the schedd host
    {"Iwd": "/root"},
    {"Iwd": "relative"},
    {"Cmd": ""},
    {"Arguments": "\"unterminated 'quote"},
    {"Environment": "A=1 =2 ''' \"x"},
    {"RequestMemory": -5},
    {"RequestCpus": 1e300},
    {"RequestCpus": "many"},
    {"ContainerImage": "file:///lab/gpfs/x.sif", "WantContainer": True},
    {"Owner": "bob"},  # an Owner that is not the authenticated user the identity came from
    {"ClusterId": 2**62},
]


@pytest.mark.parametrize("attrs", HOSTILE, ids=[next(iter(a)) + str(i) for i, a in enumerate(HOSTILE)])
def test_hostile_ads_refuse_or_translate_never_crash(attrs: dict[str, object]) -> None:
    from bridge.domain.errors import TranslationError
    from bridge.domain.policy import SitePolicy
    from bridge.kube.objects import build_job
    from bridge.kube.settings import KubeSettings

    schedd = FakeSchedd()
    schedd.add(20, 0, **attrs)
    port = _port(schedd)
    records = port.poll()
    for rec in records:
        if rec.phase is BatchPhase.READY:
            with contextlib.suppress(TranslationError):
                build_job(port.to_ir(rec), SitePolicy(), KubeSettings())


@pytest.mark.parametrize("owner", ["root", "nosuchuser-xyz", "../../etc/passwd", ""])
def test_root_and_unknown_owners_are_refused(owner: str) -> None:
    from adapters.htcondor.port import owner_identity
    from bridge.domain.policy import SitePolicy, check_identity

    schedd = FakeSchedd()
    schedd.add(21, 0, Owner=owner, User=f"{owner}@lab")
    settings = CondorSettings.model_validate({"daemon": {"uid_domain": "lab"}})
    port = CondorPort(schedd, settings, "lab", MemoryLog(), identity=owner_identity)
    (rec,) = port.poll()
    with pytest.raises(PolicyError):
        check_identity(port.to_ir(rec), SitePolicy())


def test_whole_ads_are_read_once_per_claimed_job() -> None:
    schedd = FakeSchedd()
    schedd.add(30, 0)
    schedd.add(30, 1)
    port = _port(schedd)
    port.poll()
    port.poll()
    assert schedd.calls == ["edit", "query", "query", "edit", "query"]  # poll 2: claim, light query only
    schedd.add(31, 0)
    records = {r.key: r for r in port.poll()}
    assert schedd.calls[-3:] == ["edit", "query", "query"] and records["31.0"].native.view is not None


def test_pending_reasons_are_batched_and_never_overwrite_a_later_transition() -> None:
    schedd = FakeSchedd()
    for proc in range(3):
        schedd.add(40, proc)
    port = _port(schedd)
    recs = {r.key: r for r in port.poll()}
    for key in recs:
        port.report(recs[key], "k8s Pending: waiting for a node")
    port.release(recs["40.2"], "k8s Running on real-0")  # started before the next poll flushed
    calls = len(schedd.calls)
    port.poll()
    assert schedd.calls[calls] == "edit" and schedd.calls[calls + 1] == "edit"  # one report edit, then the claim
    assert [schedd.ads[f"40.{p}"]["KubernetesStatus"] for p in range(3)] == [
        "k8s Pending: waiting for a node",
        "k8s Pending: waiting for a node",
        "k8s Running on real-0",
    ]


def test_a_removed_cluster_is_handed_back_in_one_edit() -> None:
    schedd = FakeSchedd()
    for proc in range(50):
        schedd.add(50, proc, JobStatus=3, RemoveReason="via condor_rm (by user alice)")
    port = _port(schedd)
    for rec in port.poll():
        port.audit(rec)
    calls = len(schedd.calls)
    port.poll()
    assert schedd.calls[calls:] == ["edit", "edit", "query"]  # the removals, the claim, the light query
    assert all(ad["Managed"] == "ScheddDone" for ad in schedd.ads.values())


def test_records_carry_the_schedds_submit_time_for_the_latency_metrics() -> None:
    schedd = FakeSchedd()
    schedd.add(1, 0, QDate=1764600000)
    schedd.add(1, 1, QDate="soon")  # not a time: no submit time rather than a wrong one
    records = {r.key: r for r in _port(schedd).poll()}
    assert (records["1.0"].submitted, records["1.1"].submitted) == (1764600000, None)
