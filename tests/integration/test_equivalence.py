"""Equivalence with the real batch systems: what the bridge reads from a submission is what Slurm
24.11 and HTCondor 23.9 themselves store for it.

Slurm: each script is submitted held with the real sbatch as alice, and slurmctld's record
(`scontrol show job --json`) is compared field by field with the IR. Scripts sbatch refuses must be
refused by the translator too. HTCondor: each description is submitted held with the real
condor_submit; the schedd's ads, read from the host with the bindings as the bridge identity, go
through the same `view_of` + `to_ir` as the ads the bridge makes itself, and the IRs must agree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.htcondor.ad import AdContext, AdView, to_ir
from adapters.htcondor.submit import job_ads
from adapters.slurm.settings import SlurmSettings
from adapters.slurm.translate import SubmitContext, translate
from bridge.domain.errors import TranslationError
from bridge.domain.ir import BatchJob, Identity, Placeholder
from tests.fixtures.batch_lab import CondorLab, SlurmLab
from tests.fixtures.tools import user_tree

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# gpu.sh asks for a GPU type the lab's gres.conf does not define: Slurm refuses it for site reasons.
SLURM_EXAMPLES = sorted(p for p in (EXAMPLES / "slurm").iterdir() if p.name != "gpu.sh")
CRAFTED = {
    "defaults": "#!/bin/bash\necho hi\n",
    "long-and-short": "#!/bin/sh\n#SBATCH --job-name=ls -c2 --ntasks 3\n#SBATCH -t 1-2:30 --mem=1500M\necho\n",
    "abbreviated": "#!/bin/sh\n#SBATCH --job-na=abbr --cpus-per-t=2 --parti=k8s\necho\n",
    "after-command": "#!/bin/sh\n#SBATCH -J before\necho\n#SBATCH -J after\n",
    "array-step": "#!/bin/sh\n#SBATCH --array=1-20:5%3 -o a-%A-%a.out\necho\n",
    "patterns": "#!/bin/sh\n#SBATCH -J p -o %x/%u-%j-%5j-%%.log -e %x-%N-%t-%n-%s-%J.err\necho\n",
    "gpus": "#!/bin/sh\n#SBATCH --gres=gpu:2 --mem-per-gpu=1G -n 2 --tmp=3G\necho\n",
    "per-cpu": "#!/bin/sh\n#SBATCH --mem-per-cpu=700 -c 4 -t 45:30\necho\n",
    "chdir": "#!/bin/sh\n#SBATCH -D /lab/pnfs/data/alice -i in.txt -o out.txt --open-mode=append\necho\n",
    # {dep} is a held job submitted first: slurmctld refuses dependencies on unknown jobs.
    "qos-open-mode": "#!/bin/sh\n#SBATCH --qos=normal --open-mode=truncate -o q-%j.out\necho\n",
    # sbatch 24.11 still honours #SLURM lines (with a warning to change them to #SBATCH).
    "slurm-directive": "#!/bin/sh\n#SLURM -J old -c 2\necho\n",
    "misc": "#!/bin/sh\n#SBATCH --requeue --comment='two words' -d afterok:{dep} -A physics -q normal\necho\n",
}
REFUSED = {
    "no-shebang": "echo hi\n",
    "dos": "#!/bin/sh\r\n#SBATCH -J x\r\necho\r\n",
    "unknown-option": "#!/bin/sh\n#SBATCH --frobnicate=1\necho\n",
    "ambiguous": "#!/bin/sh\n#SBATCH --ti=10\necho\n",
    "ambiguous-cpus": "#!/bin/sh\n#SBATCH --cpus-per=2\necho\n",
    "bad-time": "#!/bin/sh\n#SBATCH -t 1:2:3:4\necho\n",
    "bad-array": "#!/bin/sh\n#SBATCH --array=5-1\necho\n",
    "bad-count": "#!/bin/sh\n#SBATCH -c zero\necho\n",
    "bad-dependency": "#!/bin/sh\n#SBATCH -d sometime:1\necho\n",
}
# The lab's slurm.conf: debug is the Default=YES partition. Equivalence is about reading the
# submission, so both partitions count as bridged here (the partition check has unit tests).
LAB_SLURM = SlurmSettings(partitions=("k8s", "debug"), default_partition="debug")
NOW = datetime.now().astimezone()
# Patterns slurmctld leaves for slurmstepd, expanded as slurmstepd does for a batch step.
RUNTIME_PATTERNS = {"%N": "NODE", "%t": "0", "%n": "0", "%s": "batch"}


def _identity(slurm_lab: SlurmLab) -> Identity:
    alice = slurm_lab.users["alice"]
    return Identity(
        user="alice", uid=alice.uid, gid=alice.gid, groups=tuple(g for g in alice.group_ids if g != alice.gid)
    )


def _number(field: dict[str, Any]) -> int | None:
    return int(field["number"]) if field.get("set") and not field.get("infinite") else None


def _indexes(text: str) -> tuple[set[int], int | None]:
    spec, _, throttle = text.partition("%")
    out: set[int] = set()
    for item in spec.split(","):
        rng, _, step = item.partition(":")
        lo, _, hi = rng.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1, int(step or 1)))
    return out, int(throttle) if throttle else None


def _slurm_path(text: str, job_id: int) -> str:
    text = text.replace("%J", f"{job_id}.batch")
    for pattern, value in RUNTIME_PATTERNS.items():
        text = text.replace(pattern, value)
    return text


def _ours(path: Any, job: BatchJob) -> str | None:
    if path is None:
        return None
    rendered: str = path.render({Placeholder.NODE_NAME: "NODE", Placeholder.ARRAY_TASK_ID: "4294967294"})
    return rendered if rendered.startswith("/") else f"{job.working_dir}/{rendered}"


DEF_MEM_PER_CPU = 100  # lab/batch.d/conf/slurm.conf.in


def _unset_is_none(value: Any) -> Any:
    """Slurm reports an unset size as unset or 0 and an unset string as "": both mean None here."""
    if isinstance(value, dict):
        return _number(value) or None
    return value or None


def _asked(body: str, *spellings: str) -> str | None:
    """The value the script's #SBATCH lines give for an option (last wins), or None."""
    lines = " ".join(line[len("#SBATCH") :] for line in body.splitlines() if line.startswith("#SBATCH"))
    found = None
    for spelling in spellings:
        sep = r"\s*" if not spelling.startswith("--") else r"[=\s]"
        for match in re.finditer(rf"(?:^|\s){re.escape(spelling)}{sep}('[^']*'|\S+)", lines):
            found = match.group(1).strip("'")
    return found


def _compare(rec: dict[str, Any], job: BatchJob, body: str) -> None:
    """Every field, whether the IR has it or not: a translator that drops one must fail here."""
    r = job.resources
    assert rec["name"] == job.name
    assert rec["current_working_directory"] == job.working_dir
    assert rec["partition"] == (job.queue or "debug")
    assert _number(rec["time_limit"]) == (job.time_limit_s // 60 if job.time_limit_s else None)
    assert _number(rec["cpus_per_task"]) == r.cpus_per_task
    assert _number(rec["tasks"]) == r.tasks
    if r.memory_per_gpu_mib is None:  # with --mem-per-gpu slurmctld also reports a per-node figure
        assert _unset_is_none(rec["memory_per_node"]) == r.memory_per_node_mib
    # Without a memory request slurmctld applies the lab's DefMemPerCPU=100 (a site default, not a request).
    unset = r.memory_per_node_mib is None and r.memory_per_cpu_mib is None and r.memory_per_gpu_mib is None
    assert _unset_is_none(rec["memory_per_cpu"]) == (DEF_MEM_PER_CPU if unset else r.memory_per_cpu_mib)
    per_gpu = f"gres/gpu:{r.memory_per_gpu_mib}" if r.memory_per_gpu_mib is not None else None
    assert _unset_is_none(rec.get("memory_per_tres")) == per_gpu
    assert _unset_is_none(rec["minimum_tmp_disk_per_node"]) == r.ephemeral_disk_mib
    gpus = f"gres/gpu:{r.gpus.type + ':' if r.gpus.type else ''}{r.gpus.count}" if r.gpus is not None else None
    assert _unset_is_none(rec.get("tres_per_node")) == gpus
    assert bool(rec.get("array_task_string")) == (job.array is not None)
    if job.array is not None:
        indexes, throttle = _indexes(rec["array_task_string"])
        assert indexes == set(job.array.indexes)
        assert (_number(rec["array_max_tasks"]) or None) == job.array.throttle == throttle
    assert _slurm_path(rec["standard_output"], int(job.source_id)) == _ours(job.io.stdout, job)
    err = _ours(job.io.stderr or job.io.stdout, job)
    assert _slurm_path(rec["standard_error"], int(job.source_id)) == err
    assert rec["standard_input"] == (_ours(job.io.stdin, job) or "/dev/null")
    assert bool(rec["requeue"]) == job.requeue
    assert _unset_is_none(rec.get("comment")) == job.comment
    # Slurm fills in the user's default account and QOS; the IR has them only when the script asks.
    assert job.account == _asked(body, "-A", "--account")
    if job.account is not None:
        assert rec["account"] == job.account
    assert job.qos == _asked(body, "-q", "--qos")
    if job.qos is not None:
        assert rec["qos"] == job.qos
    mode = _asked(body, "--open-mode")
    assert job.io.open_mode.value == (mode or "truncate")
    if "open_mode" in rec:  # not every OpenAPI version reports it
        assert str(rec["open_mode"]).lower().startswith(job.io.open_mode.value[:4])
    if job.dependencies.items:
        assert rec["dependency"].startswith(job.dependencies.items[0].kind.value + ":")
    else:
        assert not rec.get("dependency")


def _submit_and_compare(slurm_lab: SlurmLab, body: str, home: str) -> None:
    # Slurm's own record of the options, so outside the bridged partition: job_submit.lua rewrites the
    # streams and the hold of bridged jobs (test_slurm_consistency.py compares those with the daemon).
    job_id = slurm_lab.sbatch("alice", body, "--hold", "-p", "debug", cwd=home)
    try:
        rec = slurm_lab.job(job_id)
        assert rec is not None
        ctx = SubmitContext(
            identity=_identity(slurm_lab), job_id=str(job_id), submit_dir=home, cluster=slurm_lab.cluster, now=NOW
        )
        _compare(rec, translate(body, ctx, ["-p", "debug"], settings=LAB_SLURM), body)
    finally:
        slurm_lab.run("alice", "scancel", str(job_id), check=False)


@pytest.mark.parametrize("example", SLURM_EXAMPLES, ids=lambda p: p.name)
def test_examples_read_as_slurmctld_stores_them(slurm_lab: SlurmLab, example: Path) -> None:
    _submit_and_compare(slurm_lab, example.read_text(), str(slurm_lab.users["alice"].home))


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_option_forms_read_as_slurmctld_stores_them(slurm_lab: SlurmLab, name: str) -> None:
    home = str(slurm_lab.users["alice"].home)
    body = CRAFTED[name]
    if "{dep}" not in body:
        _submit_and_compare(slurm_lab, body, home)
        return
    dep = slurm_lab.sbatch("alice", CRAFTED["defaults"], "--hold", cwd=home)
    try:
        _submit_and_compare(slurm_lab, body.replace("{dep}", str(dep)), home)
    finally:
        slurm_lab.run("alice", "scancel", str(dep), check=False)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_sbatch_refuses_the_translator_refuses(slurm_lab: SlurmLab, name: str) -> None:
    body = REFUSED[name]
    proc = slurm_lab.run("alice", "sbatch", "--hold", "--parsable", input=body, check=False)
    if proc.returncode == 0:  # pragma: no cover - only on a regression in the lab
        slurm_lab.run("alice", "scancel", proc.stdout.strip().split(";")[0], check=False)
    assert proc.returncode != 0, f"real sbatch accepted {name}"
    ctx = SubmitContext(
        identity=_identity(slurm_lab), job_id="1", submit_dir="/lab/gpfs/home/alice", cluster="lab", now=NOW
    )
    with pytest.raises(TranslationError):
        translate(body, ctx, settings=LAB_SLURM)


# --- HTCondor ------------------------------------------------------------------------------------
SCHEDD_VIEWS = """
import json, sys, htcondor
from adapters.htcondor.ad import view_of
schedd = htcondor.Schedd(htcondor.Collector().locate(htcondor.DaemonTypes.Schedd, sys.argv[2]))
ads = schedd.query(constraint=f"ClusterId == {sys.argv[1]}")
print(json.dumps(sorted((view_of(ad).values for ad in ads), key=lambda v: v["ProcId"])))
"""


def _schedd_views(condor_lab: CondorLab, cluster: int) -> list[AdView]:
    env = condor_lab.env("bbridge")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-c", SCHEDD_VIEWS, str(cluster), condor_lab.schedd_name],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [AdView(v) for v in json.loads(proc.stdout)]


def _comparable(job: BatchJob) -> dict[str, Any]:
    # RequestDisk defaults to DiskUsage, which the schedd measures and a local submit cannot; the
    # submit time is the schedd's QDate, which a local submit does not have yet.
    data = job.model_dump(exclude={"submit_dir", "submit_time"})
    data["resources"].pop("ephemeral_disk_mib")
    return data


# What condor_submit checks exists before it queues (the executable, transfer_input_files), made in a
# fresh folder of alice's for the examples that name such files.
NEEDS = {"transfer.sub": {"analyse.sh": "#!/bin/sh\nexit 0\n", "config.json": "{}\n", "calib/c1": "1\n"}}


@pytest.mark.parametrize("example", sorted((EXAMPLES / "htcondor").iterdir()), ids=lambda p: p.name)
def test_schedd_ads_and_local_ads_give_the_same_ir(condor_lab: CondorLab, example: Path) -> None:
    home = str(condor_lab.users["alice"].home)
    if example.name in NEEDS:
        home = str(user_tree(condor_lab.lab, "alice", "equiv", NEEDS[example.name]))
    text = example.read_text()
    cluster = condor_lab.submit("alice", text.replace("\nqueue", "\nhold = true\nqueue", 1), cwd=home)
    try:
        alice = condor_lab.users["alice"]
        ident = Identity(user="alice", uid=alice.uid, gid=alice.gid)
        ctx = AdContext(identity=ident, cluster="lab")
        theirs = [to_ir(v, ctx) for v in _schedd_views(condor_lab, cluster)]
        mine = [to_ir(v, ctx) for v in job_ads(text, home, cluster_id=cluster)]
        assert len(theirs) == len(mine) > 0
        for a, b in zip(theirs, mine, strict=True):
            assert _comparable(a) == _comparable(b)
    finally:
        condor_lab.run("alice", "condor_rm", str(cluster), check=False)


def test_the_lab_storage_is_visible_here() -> None:
    assert os.path.isdir("/lab/gpfs/home/alice")
