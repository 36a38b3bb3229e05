"""The HTCondor adapter end to end on the lab: the real condor_submit as alice and bob, the daemon
`batch-bridge run htcondor` as bbridge (started by `lab/bridge up --only htcondor`, which never
touches the Slurm daemon), pods on the real node; condor_q, condor_history and the user log read
back. Every wait is a condition with a deadline.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.fixtures.bridge_lab import NAMESPACE
from tests.fixtures.condor_bridge import SHELL, CondorBridge
from tests.fixtures.condor_bridge import types_of as _types
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("site_config_installed")]


def test_exit_code_output_times_and_user_log(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("alice")
    cluster = condor_bridge.submit(
        "alice",
        SHELL
        + "arguments = \"-c 'echo hello $(id -un) in $PWD; exit 3'\"\noutput = out\nerror = err\nlog = job.log\nqueue\n",
        d,
    )
    (ad,) = condor_bridge.wait_history(cluster)
    assert (ad["Owner"], ad["JobStatus"], ad["ExitCode"], ad["Managed"]) == ("alice", 4, 3, "ScheddDone")
    assert ad["QDate"] <= ad["JobStartDate"] <= ad["CompletionDate"] and ad["RemoteWallClockTime"] >= 0
    assert ad["NumJobStarts"] == 1 and ad["RemoteHost"].endswith("@real-0")
    assert (d / "out").read_text() == f"hello alice in {d}\n"
    events = condor_bridge.events(d / "job.log")
    assert _types(events) == [0, 1, 5]
    assert events[-1]["ReturnValue"] == 3 and events[-1]["TerminatedNormally"]
    # condor_wait reads the bridge's events and returns.
    waited = condor_bridge.condor.run("alice", "condor_wait", "-wait", "30", str(d / "job.log"), f"{cluster}.0")
    assert "All jobs done" in waited.stdout
    assert [j.metadata.name for j in condor_bridge.kube_jobs(f"{cluster}.0")]  # kept until its TTL


def test_queue_n_mixed_exit_codes_one_job_per_proc(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("bob")
    cluster = condor_bridge.submit(
        "bob",
        SHELL
        + "arguments = \"-c 'echo proc $(Process); exit $(Process)'\"\noutput = out.$(Process)\nlog = job.log\nqueue 3\n",
        d,
    )
    ads = condor_bridge.wait_history(cluster, procs=3)
    assert [(a["Owner"], a["ProcId"], a["ExitCode"]) for a in ads] == [("bob", 0, 0), ("bob", 1, 1), ("bob", 2, 2)]
    assert [(d / f"out.{p}").read_text() for p in range(3)] == ["proc 0\n", "proc 1\n", "proc 2\n"]
    assert all(len(condor_bridge.kube_jobs(f"{cluster}.{p}")) == 1 for p in range(3))
    events = condor_bridge.events(d / "job.log")
    assert all(_types(events, p) == [0, 1, 5] for p in range(3))


def test_running_shows_r_then_condor_rm_deletes_the_job(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("alice")
    cluster = condor_bridge.submit("alice", SHELL + "arguments = \"-c 'sleep 300'\"\nlog = job.log\nqueue\n", d)
    ad = condor_bridge.wait_q(cluster, "running", lambda a: a.get("JobStatus") == 2, timeout=120)
    assert ad["BridgeState"] == "running" and ad["ShadowBday"] > 0 and ad["KubernetesStatus"].startswith("k8s Running")
    seen = condor_bridge.condor.run("alice", "condor_q", str(cluster), "-af", "JobStatus", "RemoteHost").stdout
    assert seen.split()[0] == "2" and "@real-0" in seen
    assert condor_bridge.kube_jobs(f"{cluster}.0")
    condor_bridge.condor.run("alice", "condor_rm", str(cluster))
    wait_until("the Kubernetes Job deleted", lambda: not condor_bridge.kube_jobs(f"{cluster}.0") or None, 60)
    (ad,) = condor_bridge.wait_history(cluster)
    assert (ad["JobStatus"], ad["BridgeState"]) == (3, "removed")
    assert _types(condor_bridge.events(d / "job.log")) == [0, 1, 9]


def test_condor_rm_while_pending_and_the_pending_reason(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("bob")
    cluster = condor_bridge.submit("bob", SHELL + "arguments = -c true\nrequest_cpus = 64\nlog = job.log\nqueue\n", d)
    ad = condor_bridge.wait_q(
        cluster, "a pending reason", lambda a: "Insufficient cpu" in str(a.get("KubernetesStatus")), timeout=60
    )
    assert ad["JobStatus"] == 1
    shown = condor_bridge.condor.run("bob", "condor_q", str(cluster), "-af", "KubernetesStatus").stdout
    assert shown.startswith("k8s Pending:")
    assert condor_bridge.kube_jobs(f"{cluster}.0")
    condor_bridge.condor.run("bob", "condor_rm", str(cluster))
    wait_until("the Kubernetes Job deleted", lambda: not condor_bridge.kube_jobs(f"{cluster}.0") or None, 60)
    (ad,) = condor_bridge.wait_history(cluster)
    assert ad["JobStatus"] == 3
    assert _types(condor_bridge.events(d / "job.log")) == [0, 9]


def test_refusal_holds_with_reason_and_code(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("alice")
    cluster = condor_bridge.submit(
        "alice", SHELL + "arguments = -c true\noutput = /etc/stolen\nlog = job.log\nqueue\n", d
    )
    ad = condor_bridge.wait_q(cluster, "held", lambda a: a.get("JobStatus") == 5, timeout=60)
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (26, 1)
    assert "/etc/stolen" in ad["HoldReason"] and "not on site storage" in ad["HoldReason"]
    shown = condor_bridge.condor.run("alice", "condor_q", "-hold", str(cluster)).stdout
    assert "not on site storage" in shown
    assert not condor_bridge.kube_jobs(f"{cluster}.0")
    assert _types(condor_bridge.events(d / "job.log")) == [0, 12]
    condor_bridge.condor.run("alice", "condor_rm", str(cluster))
    condor_bridge.wait_history(cluster)


def test_root_cannot_submit_and_system_users_are_refused(condor_bridge: CondorBridge) -> None:
    """root: the schedd itself refuses the submission (no job reaches the bridge, whose policy refuses
    uid 0 too: unit-tested). bbridge (uid 990, a system user): held, the site's rule named."""
    root = condor_bridge.condor.run("root", "condor_submit", input=SHELL + "queue\n", cwd="/tmp", check=False)
    assert root.returncode != 0 and "Cannot allocate a cluster id" in root.stdout + root.stderr, root
    cluster = condor_bridge.submit("bbridge", SHELL + "arguments = -c true\nqueue\n", Path("/tmp"))
    ad = condor_bridge.wait_q(cluster, "held", lambda a: a.get("JobStatus") == 5, timeout=60)
    assert "(uid 990)" in ad["HoldReason"] and ad["HoldReasonSubCode"] == 1, ad["HoldReason"]
    assert not condor_bridge.kube_jobs(f"{cluster}.0")
    condor_bridge.condor.run("bbridge", "condor_rm", str(cluster))
    condor_bridge.wait_history(cluster)


def test_users_cannot_forge_the_bridges_record(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("alice")
    forged = '+Managed = "ScheddDone"\n+ManagedManager = "me"\n+BridgeState = "done"\n+KubernetesStatus = "forged"\n'
    cluster = condor_bridge.submit(
        "alice", SHELL + forged + "arguments = \"-c 'sleep 4; exit 3'\"\nlog = job.log\nqueue\n", d
    )
    ad = condor_bridge.wait_q(cluster, "running", lambda a: a.get("JobStatus") == 2, timeout=120)
    assert (ad["Managed"], ad["ManagedManager"], ad["BridgeState"]) == ("External", "batch-bridge", "running")
    assert "forged" not in ad["KubernetesStatus"]
    for attr, value in (("Managed", '"ScheddDone"'), ("BridgeState", '"done"'), ("KubernetesStatus", '"x"')):
        edit = condor_bridge.condor.run("alice", "condor_qedit", str(cluster), attr, value, check=False)
        assert edit.returncode != 0, f"alice could edit {attr}"
    # ExitCode is not protected (the shadow of normal jobs writes it as the owner): a scribble while
    # the pod runs must not reach history.
    condor_bridge.condor.run("alice", "condor_qedit", str(cluster), "ExitCode", "0")
    (ad,) = condor_bridge.wait_history(cluster)
    assert (ad["ExitCode"], ad["BridgeState"]) == (3, "done")


def test_not_selected_jobs_say_why_and_run_in_condor(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("bob")
    cluster = condor_bridge.submit("bob", "executable = /bin/true\nshould_transfer_files = NO\nqueue\n", d)
    (ad,) = condor_bridge.wait_history(cluster)
    assert ad["KubernetesSelection"].startswith("not selected") and "BridgeState" not in ad
    assert ad["ExitCode"] == 0 and not condor_bridge.kube_jobs(f"{cluster}.0")


def test_hold_stops_the_pod_and_release_runs_again(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("alice")
    cluster = condor_bridge.submit(
        "alice", SHELL + "arguments = \"-c 'sleep 6; echo run; exit 5'\"\noutput = out\nlog = job.log\nqueue\n", d
    )
    condor_bridge.wait_q(cluster, "running", lambda a: a.get("JobStatus") == 2, timeout=120)
    condor_bridge.condor.run("alice", "condor_hold", str(cluster))
    wait_until("the first run's Job deleted", lambda: not condor_bridge.kube_jobs(f"{cluster}.0") or None, 60)
    condor_bridge.wait_q(cluster, "hold acknowledged", lambda a: a.get("BridgeRun") == 1, timeout=30)
    condor_bridge.condor.run("alice", "condor_release", str(cluster))
    (ad,) = condor_bridge.wait_history(cluster)
    assert (ad["ExitCode"], ad["NumJobStarts"], ad["BridgeRun"]) == (5, 2, 1)
    assert len(condor_bridge.kube_jobs(f"{cluster}.0.r1")) == 1
    assert _types(condor_bridge.events(d / "job.log")) == [0, 1, 12, 13, 1, 5]


def test_kill9_mid_run_loses_and_duplicates_nothing(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("bob")
    n = 50
    cluster = condor_bridge.submit(
        "bob", SHELL + f"arguments = \"-c 'exit $(Process)'\"\nlog = job.log\nqueue {n}\n", d
    )

    def some_done() -> int | None:  # in the middle: some procs in history, the rest idle or running
        done = len(condor_bridge.ads(cluster, "history"))
        return done if done >= 3 else None

    done_at_kill = wait_until("a few procs done", some_done, 240, interval=0.5)
    condor_bridge.kill9()
    condor_bridge.up()
    ads = condor_bridge.wait_history(cluster, procs=n, timeout=600)
    assert done_at_kill < n, "every proc had finished before the kill: nothing was in the middle"
    print(f"kill -9 with {done_at_kill} of {n} procs in history")
    assert [(a["ProcId"], a["ExitCode"], a["NumJobStarts"]) for a in ads] == [(p, p, 1) for p in range(n)]
    assert all(len(condor_bridge.kube_jobs(f"{cluster}.{p}")) == 1 for p in range(n))
    events = condor_bridge.events(d / "job.log")
    assert all(_types(events, p) == [0, 1, 5] for p in range(n)), [(e.proc, int(e.type)) for e in events]


def _dag(condor_bridge: CondorBridge, user: str, a_exit: int) -> tuple[Path, int]:
    d = condor_bridge.workdir(user)
    for node, code in (("a", a_exit), ("b", 0)):
        (d / f"{node}.sub").write_text(
            SHELL + f"arguments = \"-c 'echo {node}; exit {code}'\"\noutput = {node}.out\nlog = {node}.log\nqueue\n"
        )
    (d / "two.dag").write_text("JOB A a.sub\nJOB B b.sub\nPARENT A CHILD B\n")
    for f in d.iterdir():
        os.chown(f, condor_bridge.condor.users[user].uid, condor_bridge.condor.users[user].gid)
    out = condor_bridge.condor.run(user, "condor_submit_dag", "-f", "two.dag", cwd=d).stdout
    match = re.search(r"submitted to cluster (\d+)", out)
    assert match, out
    return d, int(match.group(1))


def test_dag_b_runs_after_a_through_dagman(condor_bridge: CondorBridge) -> None:
    d, dagman = _dag(condor_bridge, "alice", 0)
    (ad,) = condor_bridge.wait_history(dagman, timeout=180)
    assert (ad["JobStatus"], ad["ExitCode"]) == (4, 0)
    assert (d / "a.out").read_text() == "a\n" and (d / "b.out").read_text() == "b\n"
    a_end = condor_bridge.events(d / "a.log")[-1]
    b_start = next(e for e in condor_bridge.events(d / "b.log") if int(e.type) == 1)
    assert a_end["EventTime"] <= b_start["EventTime"]


def test_dag_failing_a_leaves_b_unrun_with_a_rescue_file(condor_bridge: CondorBridge) -> None:
    d, dagman = _dag(condor_bridge, "bob", 2)
    (ad,) = condor_bridge.wait_history(dagman, timeout=180)
    assert ad["ExitCode"] != 0
    assert not (d / "b.out").exists()
    assert (d / "two.dag.rescue001").exists()


HOSTILE = {
    "local universe": ("universe = local\n", "universe 12"),
    "Iwd outside storage": ('+Iwd = "/root"\n', "/root"),
    "LD_PRELOAD": ('environment = "LD_PRELOAD=/lab/gpfs/x.so"\n', "LD_PRELOAD"),
    "image from elsewhere": ("container_image = docker://evil.example/x:1\nuniverse = container\n", "evil.example"),
}


def test_hostile_descriptions_are_held_with_the_reason_and_the_daemon_lives(condor_bridge: CondorBridge) -> None:
    pid = condor_bridge.pid()
    d = condor_bridge.workdir("alice")
    clusters = {
        name: condor_bridge.submit("alice", SHELL + extra + "arguments = -c true\nqueue\n", d)
        for name, (extra, _) in HOSTILE.items()
    }
    for name, cluster in clusters.items():
        ad = condor_bridge.wait_q(cluster, f"{name} held", lambda a: a.get("JobStatus") == 5, timeout=60)
        assert ad["HoldReasonSubCode"] == 1 and HOSTILE[name][1] in ad["HoldReason"], (name, ad["HoldReason"])
        assert not condor_bridge.kube_jobs(f"{cluster}.0")
    assert condor_bridge.pid() == pid
    condor_bridge.condor.run("alice", "condor_rm", *map(str, clusters.values()))


def test_schedd_restart_mid_run(condor_bridge: CondorBridge) -> None:
    d = condor_bridge.workdir("bob")
    cluster = condor_bridge.submit(
        "bob", SHELL + "arguments = \"-c 'sleep 3; exit $(Process)'\"\nlog = job.log\nqueue 3\n", d
    )
    wait_until("a proc running", lambda: any(a.get("JobStatus") == 2 for a in condor_bridge.ads(cluster)) or None, 120)
    condor_bridge.condor.run("root", "condor_restart", "-daemon", "schedd")
    ads = condor_bridge.wait_history(cluster, procs=3, timeout=240)
    assert [(a["ProcId"], a["JobStatus"], a["ExitCode"]) for a in ads] == [(p, 4, p) for p in range(3)]
    events = condor_bridge.events(d / "job.log")
    assert all(_types(events, p).count(5) == 1 for p in range(3))


def test_container_universe_runs_the_requested_image(condor_bridge: CondorBridge) -> None:
    """The lab has one runnable image (also the site's default); that an image it does not hold holds
    the job (test_htcondor_limits) shows the request is the one used."""
    image = "localhost/batch-bridge/lab-runtime:2"
    d = condor_bridge.workdir("bob")
    cluster = condor_bridge.submit(
        "bob",
        SHELL + f"universe = container\ncontainer_image = docker://{image}\narguments = \"-c 'exit 4'\"\nqueue\n",
        d,
    )
    (ad,) = condor_bridge.wait_history(cluster)
    assert (ad["JobStatus"], ad["ExitCode"], ad["WantContainer"]) == (4, 4, True)
    (job,) = condor_bridge.kube_jobs(f"{cluster}.0")
    assert job.spec.template.spec.containers[0].image == image
    (pod,) = condor_bridge.kube.job_pods(NAMESPACE, job.metadata.name)
    assert pod.status.container_statuses[0].image == image
