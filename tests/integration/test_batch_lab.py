"""Tests of the batch lab itself: real Slurm and HTCondor, as ordinary users and as the bridge."""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.fixtures.batch_lab import LAB_SCRIPT, REPO, BatchLab, CondorLab, SlurmLab, state_dir
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration


def test_users_and_storage_match_on_host_and_in_lab(batch_lab: BatchLab) -> None:
    assert {"alice", "bob"} <= set(batch_lab.users)
    for user in batch_lab.users.values():
        host = pwd.getpwnam(user.name)
        assert (host.pw_uid, host.pw_gid) == (user.uid, user.gid)
        assert set(user.groups) <= {g.gr_name for g in grp.getgrall() if user.name in g.gr_mem}
        inside = batch_lab.run(user.name, "id").stdout
        assert f"uid={user.uid}({user.name}) gid={user.gid}" in inside
        assert all(f"{gid}({name})" in inside for gid, name in zip(user.group_ids, user.groups, strict=True))
        for d in (user.home, user.data):
            st = d.stat()
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (user.uid, user.gid, 0o755)
        # Same tree on both sides: a file the user writes inside shows up on the host.
        marker = f"{uuid.uuid4().hex}.txt"
        batch_lab.run(user.name, "sh", "-c", f"echo {user.name} > {user.data}/{marker}")
        written = user.data / marker
        assert written.read_text() == f"{user.name}\n"
        assert written.stat().st_uid == user.uid
        written.unlink()


def test_debug_job_completes_in_sacct(slurm_lab: SlurmLab) -> None:
    alice = slurm_lab.users["alice"]
    out = alice.home / f"ok-{uuid.uuid4().hex[:8]}.out"
    job = slurm_lab.sbatch("alice", f"#!/bin/sh\n#SBATCH -o {out}\nid\n")
    rec = slurm_lab.wait_sacct(job)
    assert (rec["State"], rec["ExitCode"], rec["User"], rec["Partition"]) == ("COMPLETED", "0:0", "alice", "debug")
    assert f"uid={alice.uid}(alice)" in out.read_text()
    assert out.stat().st_uid == alice.uid


def test_failing_job_is_failed_3(slurm_lab: SlurmLab) -> None:
    job = slurm_lab.sbatch("bob", "#!/bin/sh\nexit 3\n", "-o", "/dev/null")
    rec = slurm_lab.wait_sacct(job)
    assert (rec["State"], rec["ExitCode"], rec["User"]) == ("FAILED", "3:0", "bob")


def test_gateway_node_and_partitions(slurm_lab: SlurmLab) -> None:
    lines = slurm_lab.run("alice", "sinfo", "-h", "-o", "%P|%c|%m|%G").stdout.split()
    parts = {line.split("|")[0]: line.split("|")[1:] for line in lines}
    assert set(parts) == {"debug*", "k8s"}
    cpus, mem, gres = parts["k8s"]
    assert int(cpus) >= 64
    assert int(mem) >= 64000
    assert gres.startswith("gpu:8")
    # The gateway node's GPUs are usable by Slurm itself (partition k8s is bridged: its jobs go to
    # Kubernetes, see test_slurm_adapter.py).
    job = slurm_lab.sbatch("alice", "#!/bin/sh\ntrue\n", "-p", "debug", "--gres=gpu:2", "-o", "/dev/null")
    rec = slurm_lab.wait_sacct(job)
    assert (rec["State"], rec["Partition"]) == ("COMPLETED", "debug")


def test_held_job_is_visible_and_editable_by_admin(slurm_lab: SlurmLab) -> None:
    job = slurm_lab.sbatch("alice", "#!/bin/sh\ntrue\n", "--hold", "-o", "/dev/null")
    slurm_lab.wait_state(job, ["PENDING"])
    slurm_lab.run("root", "scontrol", "update", f"JobId={job}", "AdminComment=lab-test")
    assert slurm_lab.run("alice", "squeue", "-h", "-j", str(job), "-O", "admin_comment").stdout.strip() == "lab-test"
    denied = slurm_lab.run("alice", "scontrol", "update", f"JobId={job}", "AdminComment=forged", check=False)
    assert denied.returncode != 0
    slurm_lab.run("alice", "scancel", str(job))
    assert slurm_lab.wait_sacct(job)["State"] == f"CANCELLED by {slurm_lab.users['alice'].uid}"


def _refused(status: int, body: object, *reasons: str) -> None:
    """A refusal for the stated reason: not 200, and the reply says why. A 500 from a crash, or a
    reply for another reason, fails (status != 200 alone would pass both)."""
    text = (body if isinstance(body, str) else json.dumps(body)).lower()
    assert status != 200, (status, body)
    assert any(r in text for r in reasons), f"HTTP {status} without {reasons}: {body}"


def test_slurmrestd_needs_a_token(slurm_lab: SlurmLab) -> None:
    status, body = slurm_lab.rest("GET", "/slurm/v0.0.42/jobs/", user="alice")
    assert status == 200
    assert isinstance(body, dict)
    assert "jobs" in body
    status, _ = slurm_lab.rest("GET", "/slurm/v0.0.42/jobs/", user=None)
    assert status == 401
    status, body = slurm_lab.rest("GET", "/slurm/v0.0.42/jobs/", user="alice", token=slurm_lab.token("bob"))
    _refused(status, body, "auth", "credential", "token")


def test_rest_submit_as_user_reaches_sacct(slurm_lab: SlurmLab) -> None:
    alice = slurm_lab.users["alice"]
    body = {
        "script": "#!/bin/sh\nexit 0\n",
        "job": {"name": "rest", "current_working_directory": str(alice.home), "environment": ["PATH=/usr/bin:/bin"]},
    }
    status, resp = slurm_lab.rest("POST", "/slurm/v0.0.42/job/submit", user="alice", body=body)
    assert status == 200, resp
    rec = slurm_lab.wait_sacct(int(resp["job_id"]))
    assert (rec["State"], rec["User"]) == ("COMPLETED", "alice")


def test_bridge_user_is_a_slurm_admin_over_rest(slurm_lab: SlurmLab) -> None:
    job = slurm_lab.sbatch("alice", "#!/bin/sh\ntrue\n", "--hold", "-o", "/dev/null")
    try:
        status, resp = slurm_lab.rest("POST", f"/slurm/v0.0.42/job/{job}", user="bbridge", body={"admin_comment": "b1"})
        assert status == 200, resp
        status, body = slurm_lab.rest(
            "POST", f"/slurm/v0.0.42/job/{job}", user="alice", body={"admin_comment": "forged"}
        )
        _refused(status, body, "denied", "permission", "not authorized")
        assert slurm_lab.run("alice", "squeue", "-h", "-j", str(job), "-O", "admin_comment").stdout.strip() == "b1"
    finally:
        slurm_lab.run("alice", "scancel", str(job))


def test_condor_vanilla_job_reaches_history(condor_lab: CondorLab) -> None:
    cluster = condor_lab.submit(
        "alice",
        textwrap.dedent("""\
            executable = /bin/sh
            arguments = "-c 'echo hello; exit 7'"
            output = condor-$(ClusterId).out
            log = condor-$(ClusterId).log
            should_transfer_files = NO
            queue
        """),
    )
    ad = condor_lab.wait_history(cluster)
    assert (ad["Owner"], ad["JobStatus"], ad["ExitCode"]) == ("alice", 4, 7)
    assert (condor_lab.users["alice"].home / f"condor-{cluster}.out").read_text() == "hello\n"


_BINDINGS = """
import json, sys, htcondor, classad
cluster, attr, value = int(sys.argv[1]), sys.argv[2], sys.argv[3]
schedd = htcondor.Schedd(htcondor.Collector().locate(htcondor.DaemonTypes.Schedd, sys.argv[4]))
ads = schedd.query(constraint=f"ClusterId == {cluster}", projection=["Owner", "JobStatus"])
try:
    schedd.edit([f"{cluster}.0"], attr, classad.quote(value))
    edited = True
except (htcondor.HTCondorIOError, SystemError):  # a denied edit surfaces as either
    edited = False
print(json.dumps({"ads": [dict(a) for a in ads], "edited": edited}))
"""


def _bindings(condor_lab: CondorLab, identity: str, cluster: int, attr: str, value: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _BINDINGS, str(cluster), attr, value, condor_lab.schedd_name],
        env=condor_lab.env(identity),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_bridge_identity_queries_and_edits_through_bindings(condor_lab: CondorLab) -> None:
    cluster = condor_lab.submit("alice", "executable = /bin/true\nhold = true\nshould_transfer_files = NO\nqueue\n")
    try:
        seen = _bindings(condor_lab, "bbridge", cluster, "BridgeLabTest", "from-bridge")
        assert seen["edited"] is True
        assert [(ad["Owner"], ad["JobStatus"]) for ad in seen["ads"]] == [("alice", 5)]  # type: ignore[attr-defined]
        assert condor_lab.q(cluster, ["BridgeLabTest"])[0]["BridgeLabTest"] == "from-bridge"
        # Another ordinary user cannot: the bridge's power comes from QUEUE_SUPER_USERS.
        # (The bindings may report a refused edit as done: what counts is the value the schedd keeps.)
        _bindings(condor_lab, "bob", cluster, "BridgeLabTest", "from-bob")
        assert condor_lab.q(cluster, ["BridgeLabTest"])[0]["BridgeLabTest"] == "from-bridge"
    finally:
        condor_lab.run("alice", "condor_rm", str(cluster))


def test_up_is_idempotent_and_restarts_a_killed_daemon(slurm_lab: SlurmLab) -> None:
    pids = state_dir() / "pids"
    before = {p.name: p.read_text() for p in pids.glob("*.pid")}
    rest_pid = int(before["slurmrestd.pid"].split()[0])
    os.kill(rest_pid, 9)
    wait_until("slurmrestd to die", lambda: None if Path(f"/proc/{rest_pid}").exists() else True, 10)
    up = subprocess.run([str(LAB_SCRIPT), "up"], capture_output=True, text=True, check=False, timeout=120)
    assert up.returncode == 0, up.stderr
    after = {p.name: p.read_text() for p in pids.glob("*.pid")}
    assert after.keys() == before.keys()
    assert {k for k in after if after[k] != before[k]} == {"slurmrestd.pid"}
    assert slurm_lab.rest("GET", "/slurm/v0.0.42/ping")[0] == 200


def _tree(root: Path) -> dict[str, bytes]:
    return (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if root.is_dir()
        else {}
    )


def test_site_files_come_from_the_repository(batch_lab: BatchLab) -> None:
    """The lab carries exactly the checkout's site files: every one installed, byte for byte, and
    nothing else (a stale file from an older checkout fails). With none in the checkout, the lab
    must have none either: the check never runs over nothing."""
    slurm_site, condor_site = REPO / "adapters" / "slurm" / "site", REPO / "adapters" / "htcondor" / "site"
    installed_site, repo_site = _tree(batch_lab.root / "etc/slurm/bridge-site"), _tree(slurm_site)
    # site.lua is the one file the lab fills in: its admin uids are the lab's root, slurm and bbridge.
    lab_lua, repo_lua = installed_site.pop("site.lua", b"").decode(), repo_site.pop("site.lua", b"").decode()
    assert installed_site == repo_site
    uid = {n: batch_lab.run("root", "id", "-u", n).stdout.strip() for n in ("slurm", "bbridge")}
    assert lab_lua == repo_lua.replace("admin_uids = { 0 }", f"admin_uids = {{ 0, {uid['slurm']}, {uid['bbridge']} }}")
    assert lab_lua != repo_lua
    lua = slurm_site / "job_submit.lua"
    conf = (batch_lab.root / "etc/slurm/slurm.conf").read_text()
    installed = batch_lab.root / "etc/slurm/job_submit.lua"
    assert ("JobSubmitPlugins=lua" in conf) == lua.exists()
    assert (installed.read_bytes() if installed.exists() else None) == (lua.read_bytes() if lua.exists() else None)
    config_d = batch_lab.root / "etc/condor/config.d"
    wanted = {f"90-site-{c.name}": c.read_bytes() for c in sorted(condor_site.glob("*.config"))}
    assert {p.name: p.read_bytes() for p in sorted(config_d.glob("90-site-*"))} == wanted


def test_bad_input_says_what_is_wrong(batch_lab: BatchLab) -> None:
    usage = subprocess.run([str(LAB_SCRIPT), "bogus"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
    assert "usage: lab/batch up" in usage.stderr
    unknown = subprocess.run([str(LAB_SCRIPT), "as", "no-such-user", "id"], capture_output=True, text=True, check=False)
    assert unknown.returncode != 0
    assert "no user 'no-such-user' in the lab" in unknown.stderr
