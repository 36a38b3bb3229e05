"""Hostile and unusual sbatch scripts: each ends in a refusal whose words say why (sbatch's words where
sbatch refuses too), or in the job Slurm would run - never a traceback, a hang or a silent change."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.slurm.settings import SlurmSettings
from adapters.slurm.translate import SubmitContext, translate
from bridge.cli.main import main
from bridge.domain import wellknown as wk
from bridge.domain.errors import PolicyError, TranslationError
from bridge.domain.ir import BatchJob
from bridge.domain.policy import ImagePolicy, check_job
from bridge.kube.objects import batch_annotations, batch_labels, build_job
from bridge.kube.settings import KubeSettings
from tests.golden.cases import CONFIG
from tests.unit.helpers import ALICE, HOME, NOW, POLICY, sbatch, script

USER = ["--user", "alice", "--uid", "2001", "--gid", "2001", "--groups", "3000", "--config", str(CONFIG)]


def _built(job: BatchJob, policy: object = POLICY) -> dict[str, object]:
    return build_job(job, policy, KubeSettings()).job  # type: ignore[arg-type]


def _cli(tmp_path: Path, data: bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "job.sh"
    path.write_bytes(data)
    code = main(["translate", str(path), "--slurm", *USER, "--submit-dir", HOME])
    return code, capsys.readouterr().err


# --- item 3: image references ---------------------------------------------------------------------
HUB = POLICY.model_copy(update={"images": ImagePolicy(default="x", allowed_registries=("docker.io/library",))})


@pytest.mark.parametrize(
    "image",
    [
        "'docker.io/library/python:3.12-slim;curl x|sh'",
        "'python:3.12 $(id)'",
        "python:3.12`id`",
        "reg.example/UPPER/x:1",
        "reg.example/x:bad^tag",
        "reg.example:notaport/x:1",
        "-x",
    ],
)
def test_bridge_image_outside_the_grammar_is_refused(image: str) -> None:
    job = sbatch(f"#!/bin/sh\n#SBATCH -p k8s\n#BRIDGE --image={image}\necho\n")
    with pytest.raises(PolicyError, match="is not a valid image reference"):
        _built(job)


@pytest.mark.parametrize(
    ("image", "normalised"),
    [
        ("python:3.12-slim", "docker.io/library/python:3.12-slim"),
        ("docker.io/python:3.12-slim", "docker.io/library/python:3.12-slim"),
        ("index.docker.io/library/python", "docker.io/library/python"),
        ("python@sha256:" + "a" * 64, "docker.io/library/python@sha256:" + "a" * 64),
    ],
)
def test_short_image_references_are_normalised_as_docker_does(image: str, normalised: str) -> None:
    job = sbatch(f"#!/bin/sh\n#BRIDGE --image={image}\necho\n")
    spec = _built(job, HUB)["spec"]
    assert spec["template"]["spec"]["containers"][0]["image"] == normalised  # type: ignore[index]


def test_the_allow_list_matches_whole_components() -> None:
    job = sbatch("#!/bin/sh\n#BRIDGE --image=docker.io/libraryx/python:3\necho\n")
    with pytest.raises(PolicyError, match="not from an allowed registry"):
        _built(job, HUB)


def test_sif_images_are_refused_with_the_alternative() -> None:
    job = sbatch("#!/bin/sh\n#BRIDGE --image=/lab/gpfs/images/root.sif\necho\n")
    with pytest.raises(PolicyError, match=r"SIF \(Apptainer/Singularity\).*docker://"):
        _built(job)


# --- items 5, 17: one environment rule -------------------------------------------------------------
def test_forbidden_variables_are_refused_when_set_and_dropped_when_inherited() -> None:
    with pytest.raises(PolicyError, match="environment: setting LD_PRELOAD is not allowed on this site"):
        check_job(sbatch(script("--export=ALL,LD_PRELOAD=/lab/gpfs/x.so")), POLICY)
    with pytest.raises(PolicyError, match="environment: setting PATH is not allowed on this site"):
        check_job(sbatch(script("--export=NONE,PATH=/lab/gpfs/bin")), POLICY)
    inherited = sbatch(script(), env={"LD_PRELOAD": "/x.so", "HOME": HOME})
    assert dict(inherited.environment.variables) == {"HOME": HOME}
    assert any("LD_PRELOAD from the submit environment is not passed" in w for w in inherited.warnings)
    check_job(inherited, POLICY)


def test_a_translator_called_without_a_denylist_still_cannot_pass_one() -> None:
    job = sbatch(script(), env={"PATH": "/usr/bin"}, denylist=())
    with pytest.raises(PolicyError, match="setting PATH is not allowed"):
        check_job(job, POLICY)


# --- items 8, 9: bytes and line breaks, as sbatch and the CLI see them ------------------------------
def test_non_utf8_bytes_are_refused_with_a_line_never_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cli(tmp_path, b"#!/bin/sh\n#SBATCH -p k8s\necho caf\xe9\n", capsys)
    assert code == 2
    assert "job.sh:3: batch script is not valid UTF-8" in err
    assert "Traceback" not in err


def test_the_policy_refuses_non_utf8_text_from_any_door() -> None:
    job = sbatch(script()).model_copy(update={"comment": "caf\udce9"})
    with pytest.raises(PolicyError, match=r"comment is not valid UTF-8 \(byte 0xe9 on line 1\)"):
        check_job(job, POLICY)


def test_dos_line_breaks_are_refused_with_sbatchs_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _cli(tmp_path, b"#!/bin/sh\r\n#SBATCH -p k8s\r\necho\r\n", capsys)
    assert code == 2
    assert r"Batch script contains DOS line breaks (\r\n) instead of expected UNIX line breaks (\n)" in err


# --- item 10: #SLURM ---------------------------------------------------------------------------------
def test_slurm_directives_are_honoured_with_sbatchs_warning() -> None:
    job = sbatch("#!/bin/sh\n#SLURM -J old\n#SBATCH -c 2\n#SLURM -c 3\necho\n#SLURM -c 9\n")
    assert (job.name, job.resources.cpus_per_task) == ("old", 3)
    assert [w for w in job.warnings if "#SLURM" in w] == [
        "line 2: #SLURM directives are deprecated; change them to #SBATCH",
        "line 4: #SLURM directives are deprecated; change them to #SBATCH",
    ]


# --- item 14: bridged partitions ----------------------------------------------------------------------
def test_only_bridged_partitions_are_translated() -> None:
    with pytest.raises(TranslationError, match=r"partition 'debug' is not bridged to Kubernetes \(bridged: k8s\)"):
        sbatch(script("-p debug"))
    with pytest.raises(TranslationError, match=r"names no partition.*--partition=k8s \(bridged to Kubernetes: k8s\)"):
        sbatch(script(), settings=SlurmSettings())
    two = SlurmSettings(partitions=("k8s", "gpu"), default_partition="gpu")
    assert sbatch(script(), settings=two).queue == "gpu"
    assert sbatch(script("-p k8s"), settings=two).queue == "k8s"


# --- item 15: the clock --------------------------------------------------------------------------------
def test_relative_begin_resolves_against_the_submission_time() -> None:
    job = sbatch(script("--begin=now+3600"))
    assert job.begin_time == NOW + timedelta(hours=1)
    with pytest.raises(TypeError):
        SubmitContext(identity=ALICE, job_id="1", submit_dir=HOME, cluster="lab")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="timezone-aware"):
        SubmitContext(identity=ALICE, job_id="1", submit_dir=HOME, cluster="lab", now=datetime(2026, 1, 1))


def test_the_cli_passes_the_real_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.sh"
    path.write_text("#!/bin/sh\n#SBATCH -p k8s --begin=now+3600\necho\n")
    assert main(["translate", str(path), *USER, "--submit-dir", HOME, "-o", "json"]) == 0
    out = capsys.readouterr().out
    begin = out.split(f'"{wk.ANN_BEGIN_TIME}": "', 1)[1].split('"', 1)[0]
    assert abs(datetime.fromisoformat(begin) - (datetime.now().astimezone() + timedelta(hours=1))) < timedelta(
        minutes=5
    )


# --- item 16: the bridge's own labels and annotations ------------------------------------------------
def test_ir_labels_cannot_shadow_the_bridges_keys() -> None:
    job = sbatch(script()).model_copy(
        update={
            "labels": ((wk.LABEL_JOB_ID, "999"), (wk.LABEL_MANAGED_BY, "someone"), ("team", "x")),
            "annotations": ((wk.ANN_SOURCE_ID, "999"),),
        }
    )
    assert batch_labels(job)[wk.LABEL_JOB_ID] == "77"
    assert batch_labels(job)[wk.LABEL_MANAGED_BY] == wk.MANAGED_BY_VALUE
    assert batch_labels(job)["team"] == "x"
    assert batch_annotations(job)[wk.ANN_SOURCE_ID] == "77"
    with pytest.raises(PolicyError, match=f"label '{wk.LABEL_JOB_ID}' is reserved"):
        check_job(job, POLICY)
    other = sbatch(script()).model_copy(update={"annotations": (("kubernetes.io/x", "1"),)})
    with pytest.raises(PolicyError, match=r"annotation 'kubernetes\.io/x' is reserved"):
        check_job(other, POLICY)


# --- item 2 and friends: numbers, arrays, sizes ----------------------------------------------------------
@pytest.mark.parametrize(
    ("directive", "words"),
    [
        ("-c " + "9" * 5000, "--cpus-per-task"),
        ("-t " + "9" * 5000, "too long"),
        ("-N " + "9" * 5000, "--nodes"),
        ("--begin=now+" + "9" * 5000, "more than 100 years"),
        ("--begin=now+99999999999999seconds", "more than 100 years"),
        ("--array=" + ",".join(["0-1000"] * 2000), "more than 1001 items"),
        ("--array=" + ",".join(["0-1000"] * 5), "more than 1001 tasks"),
        ("--array=" + "9" * 5000, "exceeds MaxArraySize"),
        ("--mem=0", "--mem=0 (all of a node's memory) is not configured here"),
        ("--mem=-1", "--mem"),
    ],
)
def test_bad_numbers_are_refused_quickly_and_by_name(directive: str, words: str) -> None:
    start = time.monotonic()
    with pytest.raises(TranslationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        sbatch(script(directive))
    # Counted before expansion: uncounted, this took minutes and GiBs. The bound is loose on purpose (a
    # loaded 2-core machine must not fail it; typical is milliseconds), yet no expansion fits in it.
    assert time.monotonic() - start < 10


def test_mem_zero_is_the_configured_whole_node_memory() -> None:
    job = sbatch(script("--mem=0"), settings=SlurmSettings(default_partition="k8s", whole_node_memory_mib=65536))
    assert job.resources.memory_per_node_mib == 65536
    assert any("--mem=0" in w for w in job.warnings)


@pytest.mark.parametrize(
    ("directive", "words"),
    [("-c 2000", "request too large: 2000 cpus"), ("--mem=20T", "MiB memory"), ("--gpus=100", "100 gpus")],
)
def test_the_sites_caps_apply_to_slurm_too(directive: str, words: str) -> None:
    with pytest.raises(PolicyError, match=words):
        check_job(sbatch(script(directive)), POLICY)


def test_a_translator_never_raises_anything_but_its_own_error() -> None:
    ctx = SubmitContext(identity=ALICE, job_id="1", submit_dir=HOME, cluster="lab", now=NOW)
    for body in ("#!/bin/sh\n#SBATCH --export=A=\udcff\necho\n", "#!/bin/sh\n#SBATCH -J \udcff\necho\n"):
        with pytest.raises(TranslationError):
            translate(body, ctx)


def test_huge_scripts_are_refused_before_they_cost_anything(tmp_path: Path) -> None:
    with pytest.raises(TranslationError, match="max_script_size"):
        sbatch("#!/bin/sh\n#SBATCH -p k8s\n" + "#" * (4 * 1024 * 1024) + "\n")
    big = tmp_path / "big.sh"
    with big.open("wb") as f:
        f.truncate(17 * 1024 * 1024)
    assert main(["translate", str(big), "--slurm", *USER, "--submit-dir", HOME]) == 2
