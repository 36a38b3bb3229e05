"""JobSpec: constructors, field-level refusals, the IR it becomes, and the Slurm script it becomes."""

from __future__ import annotations

import pytest

from bridge.domain.ir import Identity, PathField, Placeholder, Source
from bridge.domain.policy import SitePolicy
from bridge.sdk import InvalidSpec, JobSpec, PolicyRefused
from bridge.sdk import slurm_script as sc
from bridge.sdk.backend import After, Dependency

ALICE = Identity(user="alice", uid=2001, gid=2001)


def test_command_is_quoted_never_expanded() -> None:
    spec = JobSpec.command(["python3", "-c", "print('$HOME; `id`')"], memory="2G", time_limit="1:30")
    assert spec.body == "#!/bin/sh\nexec python3 -c 'print('\"'\"'$HOME; `id`'\"'\"')'\n"
    assert (spec.name, spec.memory_mib, spec.time_limit_s) == ("python3", 2048, 90)


def test_every_bad_field_is_named() -> None:
    with pytest.raises(InvalidSpec) as err:
        JobSpec.script("echo", cpus=0, memory="lots", name="no spaces", working_dir="rel/dir", env={"A=B": "x"})
    assert set(err.value.problems) == {"cpus", "memory", "name", "working_dir", "env"}
    with pytest.raises(InvalidSpec, match="throttle: only an array"):
        JobSpec.script("echo", throttle=2)
    with pytest.raises(InvalidSpec, match="sorted and unique"):
        JobSpec.script("echo", array=[3, 1])
    with pytest.raises(InvalidSpec, match="command"):
        JobSpec.command([])


def test_ir_carries_identity_array_and_index_paths() -> None:
    spec = JobSpec.script(
        "#!/bin/bash\necho $BATCH_BRIDGE_ARRAY_INDEX", array=range(4), throttle=2, stdout="out-{index:03d}.txt"
    )
    ir = spec.to_ir(identity=ALICE, source_id="alice.k", cluster="lab", cwd="/lab/gpfs/home/alice/x/..", queue=None)
    assert (ir.source, ir.identity, ir.working_dir) == (Source.SDK, ALICE, "/lab/gpfs/home/alice")
    assert ir.payload.interpreter == ("/bin/bash",)  # type: ignore[union-attr]
    assert ir.array is not None and ir.array.indexes == (0, 1, 2, 3) and ir.array.throttle == 2
    assert ir.io.stdout is not None and ir.io.stdout.parts == (
        "out-",
        PathField(field=Placeholder.ARRAY_TASK_ID, width=3),
        ".txt",
    )


def test_slurm_script_and_description() -> None:
    spec = JobSpec.command(["sh", "-c", "echo $X"], env={"X": "a b'c"}, image="localhost/x:1", array=[0, 2], throttle=1)
    text = sc.script(spec, SitePolicy())
    assert text.splitlines()[:3] == ["#!/bin/sh", "#BRIDGE --image=localhost/x:1", "export X='a b'\"'\"'c'"]
    job = sc.description(spec, cwd="/d", partition="k8s", key="p.s", after=[Dependency(After.OK, ("1", "2"))])
    assert (job["array"], job["dependency"], job["comment"]) == ("0,2%1", "afterok:1:2", "batch-bridge-sdk key=p.s")
    assert job["standard_output"] == "slurm-%A_%a.out"
    assert sc.expand("out-%3a-%j.txt", "/d", {"index": "7", "job": "12"}) == "/d/out-007-12.txt"
    assert sc.slurm_pattern("/d/x-{index}%.txt") == "/d/x-%a%%.txt"


def test_slurm_refuses_what_the_site_refuses() -> None:
    with pytest.raises(PolicyRefused, match="LD_PRELOAD"):
        sc.script(JobSpec.command(["true"], env={"LD_PRELOAD": "/x.so"}), SitePolicy())
    with pytest.raises(InvalidSpec, match="env"):
        sc.script(JobSpec.script("#!/usr/bin/python3\nprint(1)", env={"A": "1"}), SitePolicy())
