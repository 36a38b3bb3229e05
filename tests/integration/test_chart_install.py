"""The chart installed into the lab: the adapters run as pods on the real node, with the chart's
ServiceAccount token, its Secrets and its identity files, and bridge a Slurm and an HTCondor job end
to end; the Slurm leader is killed (kill -9) mid-run and the standby takes over; /metrics moves.

The host daemons of lab/bridge are stopped for the module and started again at its end. The lab has
one real node and the daemons need its host network (slurmrestd and the schedd listen on 127.0.0.1),
so two replicas of one Deployment would share the metrics port: the standby is a second release of
the chart (Slurm only, another port) in the same namespace, competing for the same Lease
(batch-bridge-slurm-<cluster> in the release namespace), which is what two replicas do.
The daemon image: $BATCH_BRIDGE_DAEMON_IMAGE (REPO:TAG, already imported), else the lab's
lab/kube.d/node/daemon-image.sh builds and imports it and prints REPO:TAG last.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.fixtures.batch_lab import CondorLab, SlurmLab
from tests.fixtures.chart_lab import CHART, REPO, run_helm
from tests.fixtures.kube_lab import KubeLab
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration
PRIMARY, STANDBY = "bb", "bbsb"
PORT, STANDBY_PORT = 18080, 18090  # Slurm; the HTCondor adapter is PORT + 1
LEASE_S = 10.0  # the standby takes over this long after the last renewal
JOB_NS = "batch"
LAB_CONFIG = REPO / "examples/config/lab-real-node.yaml"  # the host daemons' configuration
SHELL = "executable = /bin/sh\nshould_transfer_files = NO\n+WantKubernetes = true\n"


def _image() -> str:
    if os.environ.get("BATCH_BRIDGE_DAEMON_IMAGE"):
        return os.environ["BATCH_BRIDGE_DAEMON_IMAGE"]
    script = REPO / "lab/kube.d/node/daemon-image.sh"
    out = subprocess.run([str(script)], capture_output=True, text=True, timeout=1200, check=True).stdout
    return out.strip().splitlines()[-1]


def _lab_bridge(*args: str) -> None:
    subprocess.run([str(REPO / "lab/bridge"), *args], capture_output=True, text=True, timeout=600, check=True)


def _secret(kube: KubeLab, ns: str, name: str, key: str, path: str) -> None:
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data={key: Path(path).read_text()})
    kube.core.create_namespaced_secret(ns, body)


def _identity_files(kube: KubeLab, ns: str, users: list[str]) -> None:
    """The lab users' passwd and group lines (what a site exports from its directory)."""
    passwd = subprocess.run(["getent", "passwd", *users], capture_output=True, text=True, check=True).stdout
    groups = subprocess.run(["getent", "group"], capture_output=True, text=True, check=True).stdout
    mine = "".join(line + "\n" for line in groups.splitlines() if set(line.split(":")[-1].split(",")) & set(users)
                   or line.split(":")[0] in users)  # fmt: skip
    kube.core.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="site-identity"), data={"passwd": passwd, "group": mine}),
    )


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _values(condor: CondorLab, image: str) -> dict[str, Any]:
    repo, _, tag = image.rpartition(":")
    condor_config = Path(condor.config_path("bbridge")).read_text()
    condor_config = "".join(line + "\n" for line in condor_config.splitlines()
                            if not line.startswith(("SEC_TOKEN_DIRECTORY", "#")))  # fmt: skip
    return {
        "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
        "secrets": {"slurmJwt": {"name": "slurm-jwt", "key": "jwt"}, "condorToken": {"name": "condor-token", "key": "token"}},
        "identity": {"passwd": {"configMap": "site-identity", "key": "passwd"},
                     "group": {"configMap": "site-identity", "key": "group"}},
        "htcondor": {"condorConfig": condor_config},
        "config": _merge(yaml.safe_load(LAB_CONFIG.read_text()), {
            "htcondor": {"daemon": {"schedd": condor.schedd_name, "uid_domain": condor.uid_domain, "user_log": {"mode": "off"}}},
            "engine": {"watch_namespaces": [JOB_NS], "leader": {"lease_s": LEASE_S, "renew_s": 1.0, "deadline_s": 6.0}},
        }),
    }  # fmt: skip


@dataclass
class Installed:
    kube: KubeLab
    namespace: str

    def pods(self, release: str, component: str, terminating: bool = False) -> list[Any]:
        sel = f"app.kubernetes.io/instance={release},app.kubernetes.io/component={component}"
        return [p for p in self.kube.core.list_namespaced_pod(self.namespace, label_selector=sel).items
                if terminating or p.metadata.deletion_timestamp is None]  # fmt: skip

    def logs(self, *releases: str) -> str:
        """Every Slurm adapter container's log (the current and the previous run) of these releases."""
        out = []
        for release in releases:
            for pod in self.pods(release, "slurm", terminating=True):
                for previous in (True, False):
                    try:
                        text = self.kube.core.read_namespaced_pod_log(
                            pod.metadata.name, self.namespace, previous=previous, tail_lines=40
                        )
                    except client.ApiException as exc:
                        text = f"({exc.status} {exc.reason})"
                    out.append(f"--- {pod.metadata.name} {'previous' if previous else 'current'}:\n{text}")
        return "\n".join(out)

    def holder(self, adapter: str) -> str:
        lease = client.CoordinationV1Api(self.kube.admin).read_namespaced_lease(
            f"batch-bridge-{adapter}-lab", self.namespace
        )
        return str(lease.spec.holder_identity or "") if lease.spec else ""


def _ready(inst: Installed, release: str, component: str) -> Any:
    def probe() -> Any:
        pods = inst.pods(release, component)
        ok = [
            p for p in pods if p.status.phase == "Running" and all(c.ready for c in p.status.container_statuses or [])
        ]
        return ok[0] if ok else None

    return wait_until(f"{release} {component} pod ready", probe, 180, interval=0.5)


@pytest.fixture(scope="module")
def installed(helm: str, kube_lab: KubeLab, slurm_lab: SlurmLab, condor_lab: CondorLab) -> Iterator[Installed]:
    image = _image()
    ns = kube_lab.namespace("bb-chart")
    _lab_bridge("down")
    try:
        _secret(kube_lab, ns, "slurm-jwt", "jwt", slurm_lab.endpoints["jwt"]["bbridge"])
        _secret(kube_lab, ns, "condor-token", "token", str(condor_lab.token_dir("bbridge") / "token"))
        _identity_files(kube_lab, ns, sorted(slurm_lab.users))
        with tempfile.TemporaryDirectory() as tmp:
            values = Path(tmp) / "values.yaml"
            values.write_text(yaml.safe_dump(_values(condor_lab, image)))
            lab_values = CHART / "ci/lab-values.yaml"
            common = ["-n", ns, "-f", str(lab_values), "-f", str(values), "--wait", "--timeout", "180s"]
            run_helm(helm, kube_lab, "install", PRIMARY, str(CHART), *common, "--set", f"http.port={PORT}")
            run_helm(helm, kube_lab, "install", STANDBY, str(CHART), *common, "--set", f"http.port={STANDBY_PORT}",
                     "--set", "htcondor.enabled=false")  # fmt: skip
        inst = Installed(kube_lab, ns)
        for release, component in ((PRIMARY, "slurm"), (PRIMARY, "htcondor"), (STANDBY, "slurm")):
            _ready(inst, release, component)
        yield inst
    finally:
        for release in (STANDBY, PRIMARY):
            subprocess.run([helm, "uninstall", release, "-n", ns, "--wait", "--timeout", "120s"],
                           env={"KUBECONFIG": kube_lab.endpoints["admin_kubeconfig"], "HOME": "/tmp", "PATH": "/usr/bin:/bin"},
                           capture_output=True, check=False)  # fmt: skip
        _lab_bridge("up")


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^(batch_bridge_\w+)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def _count(metrics: dict[str, float], family: str, source: str) -> float:
    return metrics.get(f'{family}_count{{source="{source}"}}', 0.0)


def _script(body: str) -> str:
    return f"#!/bin/bash\n#SBATCH -t 5\n#SBATCH -o /lab/gpfs/home/alice/chart-%j.out\n{body}\n"


def test_adapters_run_as_pods_on_the_real_node_with_the_charts_service_account(installed: Installed) -> None:
    for release, component in ((PRIMARY, "slurm"), (PRIMARY, "htcondor"), (STANDBY, "slurm")):
        (pod,) = installed.pods(release, component)
        assert pod.spec.node_name == "real-0" and pod.spec.service_account_name == f"{release}-batch-bridge"
        assert pod.spec.security_context.run_as_user == 10001
    assert _pod_of(installed.holder("htcondor")) == installed.pods(PRIMARY, "htcondor")[0].metadata.name


def test_slurm_job_end_to_end_and_the_histograms_move(installed: Installed, slurm_lab: SlurmLab) -> None:
    leader = installed.holder("slurm")
    port = PORT if leader.startswith(f"{PRIMARY}-") else STANDBY_PORT
    before = _scrape(port)
    job = slurm_lab.sbatch("alice", _script("echo hello from $(id -un) $(id -G); exit 3"), "--partition=k8s")
    rec = slurm_lab.wait_sacct(job, timeout=120)
    assert (rec["State"], rec["ExitCode"], rec["User"]) == ("FAILED", "3:0", "alice")
    out = Path(f"/lab/gpfs/home/alice/chart-{job}.out").read_text()
    assert "hello from alice 2001 3000" in out  # uid and groups from the chart's identity files
    after = _scrape(port)
    for family in ("batch_bridge_intake_latency_seconds", "batch_bridge_status_lag_seconds",
                   "batch_bridge_reconcile_duration_seconds"):  # fmt: skip
        assert _count(after, family, "slurm") > _count(before, family, "slurm"), family
    assert after['batch_bridge_leader{source="slurm"}'] == 1.0
    (kjob,) = SlurmBridgeJobs(installed.kube).jobs(job)

    def reasons() -> set[str]:  # Events are written off the reconcile path: soon after, not before
        events = installed.kube.core.list_namespaced_event(
            JOB_NS, field_selector=f"involvedObject.uid={kjob.metadata.uid},source=batch-bridge"
        ).items
        return {e.reason for e in events}

    wait_until("the Released and BatchRecordFinal Events", reasons, timeout=30,
               done=lambda seen: {"Released", "BatchRecordFinal"} <= (seen or set()))  # fmt: skip


def test_htcondor_job_end_to_end(installed: Installed, condor_lab: CondorLab) -> None:
    before = _scrape(PORT + 1)
    d = condor_lab.users["alice"].home / "bb-chart" / uuid.uuid4().hex[:8]
    condor_lab.run("alice", "mkdir", "-p", str(d))
    cluster = condor_lab.submit(
        "alice", SHELL + "arguments = \"-c 'id -u; exit 4'\"\noutput = chart-condor.out\nqueue\n", d
    )
    ad = condor_lab.wait_history(cluster, timeout=120)
    assert (ad["Owner"], ad["JobStatus"], ad["ExitCode"], ad["Managed"]) == ("alice", 4, 4, "ScheddDone")
    assert (d / "chart-condor.out").read_text().strip() == "2001"
    after = _scrape(PORT + 1)
    # (HTCondor records carry no submit time yet, so its intake and submit-to-running stay empty.)
    for family in ("batch_bridge_status_lag_seconds", "batch_bridge_reconcile_duration_seconds"):
        assert _count(after, family, "htcondor") > _count(before, family, "htcondor"), family


def _pod_of(holder: str) -> str:
    """The pod of a Lease holder: its identity is the pod name, '_' and a per-process suffix."""
    return holder.rpartition("_")[0]


def _daemon_pid(pod: str) -> int:
    """The pod's daemon process on the host (host network, one kernel): found by its POD_NAME."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"POD_NAME={pod}\0".encode() in env and b"batch-bridge" in cmd and b"run\0slurm" in cmd:
            return int(proc.name)
    raise AssertionError(f"no daemon process for pod {pod}")


def test_leader_killed_mid_run_standby_takes_over(
    installed: Installed, slurm_lab: SlurmLab, kube_lab: KubeLab, record_property: Any
) -> None:
    leader = installed.holder("slurm")
    release = PRIMARY if leader.startswith(f"{PRIMARY}-") else STANDBY
    other = STANDBY if release == PRIMARY else PRIMARY
    standby = installed.pods(other, "slurm")[0].metadata.name
    jobs = [slurm_lab.sbatch("alice", _script(f"sleep 6; exit {i % 3}"), "--partition=k8s") for i in range(6)]
    bridge = SlurmBridgeJobs(kube_lab)
    wait_until("every job has its Kubernetes Job", lambda: all(bridge.count(j) == 1 for j in jobs) or None, 90)
    pid = _daemon_pid(_pod_of(leader))
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    # Its container restarts as a new contender (identities are per process); its Deployment goes to 0
    # too, so that the standby is the one left.
    client.AppsV1Api(kube_lab.admin).patch_namespaced_deployment_scale(
        f"{release}-batch-bridge-slurm", installed.namespace, {"spec": {"replicas": 0}}
    )
    seen: list[tuple[float, str]] = []  # (s after the kill, holder) at each change: the story if it fails

    def holder() -> str:
        now = installed.holder("slurm")
        if not seen or seen[-1][1] != now:
            seen.append((round(time.monotonic() - killed, 2), now))
        return now

    try:
        wait_until("the standby holds the Lease", holder, 30, interval=0.1, done=lambda h: _pod_of(h or "") == standby)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nholders after the kill: {seen}\n{installed.logs(release, other)}") from exc
    port = STANDBY_PORT if other == STANDBY else PORT
    wait_until("the standby acts", lambda: _scrape(port).get('batch_bridge_leader{source="slurm"}') == 1.0 or None, 30)
    takeover = time.monotonic() - killed
    record_property("failover_s", round(takeover, 2))
    print(f"failover: leader {leader} killed -> {standby} acting in {takeover:.2f} s")
    assert takeover <= 15.0, takeover
    for i, job in enumerate(jobs):
        rec = slurm_lab.wait_sacct(job, timeout=120)
        assert (rec["State"], rec["ExitCode"]) == (("COMPLETED" if i % 3 == 0 else "FAILED"), f"{i % 3}:0"), (job, rec)
        assert bridge.count(job) <= 1  # never a second Kubernetes Job (finished ones may be gone by TTL)
    assert bridge.created_total(jobs) == len(jobs)
    rss = _rss_kib(_daemon_pid(standby))  # the standby's container never restarted: one daemon
    record_property("standby_rss_kib", rss)
    print(f"daemon RSS as installed (acting leader): {rss / 1024:.1f} MiB")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class SlurmBridgeJobs:
    def __init__(self, kube: KubeLab) -> None:
        self.kube = kube
        self.seen: dict[int, set[str]] = {}

    def jobs(self, job: int) -> list[Any]:
        items = self.kube.batch.list_namespaced_job(
            JOB_NS, label_selector=f"batch-bridge.io/source=slurm,batch-bridge.io/job-id={job}"
        ).items
        self.seen.setdefault(job, set()).update(j.metadata.uid for j in items)
        return [j for j in items if j.metadata.deletion_timestamp is None]

    def count(self, job: int) -> int:
        return len(self.jobs(job))

    def created_total(self, jobs: list[int]) -> int:
        """Distinct Kubernetes Jobs (by uid) ever seen for these batch jobs."""
        for job in jobs:
            self.count(job)
        return sum(len(self.seen.get(j, ())) for j in jobs)
