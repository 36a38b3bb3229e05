"""Hostile and unusual submit descriptions: each ends in a refusal whose words say why, or in the job
condor_submit would queue - never a command run here, a hang, a crash or a silent change."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.htcondor.ad import AdContext
from adapters.htcondor.settings import CondorSettings
from adapters.htcondor.submit import RESERVED_ATTRIBUTES, job_ads
from adapters.htcondor.translate import translate
from bridge.domain.errors import PolicyError, TranslationError
from bridge.domain.ir import BatchJob, Command
from bridge.domain.policy import HostPathVolume, ImagePolicy, StorageMount
from bridge.kube.objects import build_job
from bridge.kube.settings import KubeSettings
from tests.unit.helpers import ALICE, HOME, POLICY

CTX = AdContext(identity=ALICE, cluster="lab", submit_dir=HOME)
RUN = "executable = /bin/true\n"


def _jobs(text: str, submit_dir: str = HOME, settings: CondorSettings | None = None) -> list[BatchJob]:
    return translate(text, CTX, submit_dir, cluster_id=5, settings=settings, source="h.sub")


def _built(text: str, submit_dir: str = HOME, policy: object = POLICY) -> list[BatchJob]:
    jobs = _jobs(text, submit_dir)
    for job in jobs:
        build_job(job, policy, KubeSettings())  # type: ignore[arg-type]
    return jobs


def _storage_at(path: Path) -> object:
    here = StorageMount(prefix=str(path), volume=HostPathVolume(path=str(path)))
    return POLICY.model_copy(update={"storage": (*POLICY.storage, here)})


# --- item 1: nothing in a description runs a command on the bridge host --------------------------
COMMAND_FORMS = {
    "queue from CMD |": RUN + "queue x from touch {m} |\n",
    "queue from CMD | with items before": RUN + "queue x from (\n a\n)\nqueue y from touch {m} |\n",
    "include : CMD |": "include : touch {m} |\n" + RUN + "queue\n",
    "INCLUDE spelled loud": "INCLUDE   :   touch {m} |\n" + RUN + "queue\n",
    "include command": "include command : touch {m}\n" + RUN + "queue\n",
    "include split by a continuation": "include \\\n : touch {m} |\n" + RUN + "queue\n",
    "a macro that ends in a pipe": "c = touch {m} |\n" + RUN + "queue x from $(c)\n",
    "a macro as the item file": "c = /dev/zero\n" + RUN + "queue x from $(c)\n",
}


@pytest.mark.parametrize("form", sorted(COMMAND_FORMS))
def test_no_form_runs_a_command_here(form: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(TranslationError) as err:
        _jobs(COMMAND_FORMS[form].format(m=marker), str(tmp_path))
    assert not marker.exists(), f"{form}: a process ran on the bridge host"
    assert any(w in err.value.message for w in ("bridge host", "macros there are not expanded")), err.value.message


def test_the_refusal_names_the_form() -> None:
    with pytest.raises(TranslationError, match=r"h\.sub:2: queue \.\.\. from COMMAND \|"):
        _jobs(RUN + "queue x from sh -c 'id' |\n")
    with pytest.raises(TranslationError, match=r"include with a command"):
        _jobs("include command : id\n" + RUN + "queue\n")
    with pytest.raises(TranslationError, match=r"include : FILE would read a file on the bridge host"):
        _jobs("include : /etc/shadow\n" + RUN + "queue\n")


def test_the_bridges_environment_is_never_read() -> None:
    with pytest.raises(TranslationError, match=r"\$ENV\(\) would read the bridge's environment"):
        _jobs(RUN + "arguments = $ENV(HOME)\nqueue\n")
    job = _jobs(RUN + "getenv = true\nqueue\n")[0]
    assert job.environment.variables == ()
    assert any(w.startswith("getenv:") for w in job.warnings)
    assert not any("getenv" in w for w in _jobs(RUN + "getenv = false\nqueue\n")[0].warnings)


# --- item 2: counted before expansion, bounded in memory and time --------------------------------
@pytest.mark.parametrize(
    "text",
    [
        RUN + "queue 100000000\n",
        RUN + "N = 100000000\nqueue $(N)\n",
        RUN + "queue 100000000 in (a, b)\n",
        RUN + "queue 6000 in (a, b)\n",
        RUN + "queue 5000\nqueue 5001\n",
    ],
)
def test_too_many_procs_are_refused_within_a_second(text: str) -> None:
    start = time.monotonic()
    with pytest.raises(TranslationError, match="more than 10000 jobs in one submission"):
        _jobs(text)
    # Counted before expansion: uncounted, this took minutes and GiBs. The bound is loose on purpose (a
    # loaded 2-core machine must not fail it; typical is milliseconds), yet no expansion fits in it.
    assert time.monotonic() - start < 10


def test_item_files_and_globs_are_counted_first(tmp_path: Path) -> None:
    few = CondorSettings(max_procs=3)
    for i in range(5):
        (tmp_path / f"{i}.dat").write_text("")
    (tmp_path / "items.txt").write_text("".join(f"{i}\n" for i in range(5)))
    with pytest.raises(TranslationError, match="more than 3 jobs"):
        _jobs(RUN + "queue f matching *.dat\n", str(tmp_path), few)
    with pytest.raises(TranslationError, match="more than 3 jobs"):
        _jobs(RUN + "queue f from items.txt\n", str(tmp_path), few)
    with pytest.raises(TranslationError, match="not a regular file"):
        _jobs(RUN + "queue f from /dev/zero\n", str(tmp_path))
    assert len(_jobs(RUN + "queue f from items.txt\n", str(tmp_path))) == 5


def test_a_macro_bomb_costs_a_bounded_child() -> None:
    bomb = RUN + "a0 = " + "x" * 64 + "\n"
    bomb += "".join(f"a{i} = " + f"$(a{i - 1})" * 8 + "\n" for i in range(1, 9))
    start = time.monotonic()
    with pytest.raises(TranslationError, match="refused"):
        _jobs(bomb + "arguments = $(a8)\nqueue\n", settings=CondorSettings(expand_timeout_s=2))
    assert time.monotonic() - start < 10
    assert len(_jobs(RUN + "queue\n")) == 1  # the expander is still serving


def test_a_child_out_of_memory_is_a_refusal() -> None:
    big = RUN + "a0 = " + "x" * 200_000 + "\na1 = " + "$(a0)" * 100 + "\narguments = $(a1)\nqueue\n"
    with pytest.raises(TranslationError, match=r"memory limit 128 MiB.*refused"):
        _jobs(big, settings=CondorSettings(expand_memory_mib=128))


def test_descriptions_are_bounded_in_size() -> None:
    with pytest.raises(TranslationError, match="larger than 100 bytes"):
        _jobs(RUN + "#" * 200 + "\nqueue\n", settings=CondorSettings(max_description_bytes=100))


# --- item 4: attributes of the schedd and the bridge ---------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        '+Managed = "External"',
        '+ManagedManager = "me"',
        "MY.JobStatus = 4",
        "+jobstatus = 4",
        '+Owner = "bob"',
        '+Iwd = "/root"',
        "+ExitCode = 0",
        "+EnteredCurrentStatus = 0",
        "+BatchBridgeOutcome = 1",
    ],
)
def test_reserved_attributes_are_refused_by_name(line: str) -> None:
    name = line.lstrip("+").removeprefix("MY.").split()[0]
    with pytest.raises(TranslationError, match=f"attribute {name} may not be set"):
        _jobs(RUN + line + "\nqueue\n")


def test_a_macro_cannot_name_a_reserved_attribute() -> None:
    with pytest.raises(TranslationError, match="write attribute names out"):
        _jobs(RUN + "a = JobStatus\n+$(a) = 4\nqueue\n")


def test_the_reserved_table_has_the_protocol_attributes_and_the_request_stays_allowed() -> None:
    assert {"managed", "managedmanager", "jobstatus", "owner", "iwd"} <= set(RESERVED_ATTRIBUTES)
    assert len(_jobs(RUN + "+WantKubernetes = true\nqueue\n")) == 1


# --- items 5, 17: one environment rule for both front doors ---------------------------------------
@pytest.mark.parametrize("line", ['environment = "A=1 LD_PRELOAD=/x.so"', "env = PATH=/evil"])
def test_forbidden_variables_set_explicitly_are_refused(line: str) -> None:
    name = "LD_PRELOAD" if "LD_" in line else "PATH"
    with pytest.raises(PolicyError, match=f"environment: setting {name} is not allowed on this site"):
        _built(RUN + line + "\nqueue\n")


def test_malformed_variables_are_refused_not_dropped() -> None:
    with pytest.raises(PolicyError, match="not a valid variable name"):
        _built(RUN + 'environment = "A\x01B=1"\nqueue\n')


# --- item 6: every file the job or the bridge touches ----------------------------------------------
@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("transfer_input_files = data.tgz, /etc/passwd", "file read '/etc/passwd' is not on site storage"),
        ("log = /tmp/job.log", "file written '/tmp/job.log' is not on site storage"),
        ("log = /lab/pnfs/job.log", "file written '/lab/pnfs/job.log' is on read-only storage"),
        ('transfer_output_remaps = "out = /etc/cron.d/x"', "file written '/etc/cron.d/x'"),
        ("transfer_input_files = https://example.org/x", "is a URL"),
    ],
)
def test_files_outside_storage_refuse_the_submission(line: str, words: str) -> None:
    with pytest.raises(TranslationError, match=words.replace("(", r"\(").replace(".", r"\.")):
        _built(RUN + line + "\nqueue\n")


def test_item_files_and_globs_read_here_are_checked(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="file read '/etc/hostname' is not on site storage"):
        _built(RUN + "arguments = $(x)\nqueue x from /etc/hostname\n", str(tmp_path), _storage_at(tmp_path))
    with pytest.raises(PolicyError, match="file read '/etc' is not on site storage"):
        _built(RUN + "queue x matching /etc/*\n", str(tmp_path), _storage_at(tmp_path))
    (tmp_path / "items").write_text("a\nb\n")
    jobs = _built(RUN + "arguments = $(x)\nqueue x from items\n", str(tmp_path), _storage_at(tmp_path))
    assert [j.payload.args for j in jobs if isinstance(j.payload, Command)] == [("a",), ("b",)]


def test_a_user_log_on_storage_is_fine() -> None:
    assert _built(RUN + "log = job.log\nqueue\n")


# --- item 7: sizes HTCondor rounds away -----------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("request_memory = -1", "request_memory = 0: must be larger than 0"),
        ("request_memory = 0", "request_memory = 0"),
        ("request_cpus = 0", "request_cpus = 0"),
        ("request_cpus = -2", "request_cpus = -2"),
        ("request_disk = -5", "request_disk = -4"),
        ("request_gpus = -1", "request_gpus = -1"),
    ],
)
def test_zero_and_negative_sizes_are_refused(line: str, words: str) -> None:
    with pytest.raises(TranslationError, match=words):
        _jobs(RUN + line + "\nqueue\n")


def test_unset_memory_still_gets_the_floor_and_caps_are_the_sites() -> None:
    assert _jobs(RUN + "queue\n")[0].resources.memory_per_node_mib == 128
    with pytest.raises(PolicyError, match="request too large: 5000 cpus"):
        _built(RUN + "request_cpus = 5000\nqueue\n")


# --- items 3, 11, 12: images -----------------------------------------------------------------------
HUB = POLICY.model_copy(update={"images": ImagePolicy(default="x", allowed_registries=("docker.io/library",))})
CONTAINER = "universe = container\n" + RUN


@pytest.mark.parametrize("image", ["python:3.12-slim", "docker://python:3.12-slim", "docker.io/python:3.12-slim"])
def test_short_references_are_normalised_before_the_allow_list(image: str) -> None:
    text = CONTAINER + f"container_image = {image}\nqueue\n"
    if not image.startswith("docker://") and "/" in image:
        with pytest.raises(PolicyError, match="file path"):  # condor_submit would transfer it as a file
            _jobs(text)
        return
    job = _jobs(text)[0]
    pod = build_job(job, HUB, KubeSettings()).job["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "docker.io/library/python:3.12-slim"


@pytest.mark.parametrize(
    "image",
    [
        "docker://docker.io/library/python:3.12-slim;curl x|sh",
        "docker://Python:3",
        "docker://python:3 extra",
        "docker://reg.example/a/b@sha256:abc",
        "docker://reg.example/a/b:" + "t" * 200,
    ],
)
def test_image_references_outside_the_grammar_are_refused(image: str) -> None:
    with pytest.raises(PolicyError, match="is not a valid image reference"):
        _built(CONTAINER + f"container_image = {image}\nqueue\n")


@pytest.mark.parametrize("image", ["/lab/gpfs/images/root.sif", "root.sif", "oras://reg/x:1"])
def test_sif_images_are_refused_naming_apptainer_and_the_alternative(image: str) -> None:
    with pytest.raises(PolicyError, match=r"SIF \(Apptainer/Singularity\).*docker://"):
        _jobs(CONTAINER + f"container_image = {image}\nqueue\n")


# --- item 13: programs of the image ---------------------------------------------------------------
def test_system_programs_run_from_the_image_with_a_warning() -> None:
    job = _built("executable = /bin/sh\narguments = \"-c 'echo hi'\"\nqueue\n")[0]
    assert isinstance(job.payload, Command)
    assert job.payload.in_image
    assert any("the image's copy runs" in w for w in job.warnings)
    with pytest.raises(PolicyError, match=r"executable '/etc/init\.d/x' is not on site storage"):
        _built("executable = /etc/init.d/x\nqueue\n")
    with pytest.raises(PolicyError, match="output file '/etc/x' is not on site storage"):
        _built("executable = /bin/sh\noutput = /etc/x\nqueue\n")


# --- items 8, 17: bytes and text --------------------------------------------------------------------
def test_non_utf8_and_nul_are_refused_with_a_line() -> None:
    with pytest.raises(TranslationError, match=r"h\.sub:2: submit description is not valid UTF-8"):
        _jobs(RUN + "arguments = caf\udce9\nqueue\n")
    with pytest.raises(TranslationError, match="NUL"):
        _jobs(RUN + "arguments = a\0b\nqueue\n")


def test_dos_line_breaks_are_read_as_condor_submit_reads_them() -> None:
    jobs = _jobs("executable = /bin/echo\r\narguments = hi\r\nqueue 2\r\n")
    assert [j.payload.args for j in jobs if isinstance(j.payload, Command)] == [("hi",), ("hi",)]


def test_job_ads_without_a_schedd_need_an_absolute_submit_dir() -> None:
    with pytest.raises(TranslationError, match="must be absolute"):
        job_ads(RUN + "queue\n", "relative")


def test_a_dead_expander_is_replaced() -> None:
    from adapters.htcondor import submit

    _jobs(RUN + "queue\n")
    server = submit._EXPANDER._proc
    assert server is not None
    server.kill()
    server.wait()
    assert len(_jobs(RUN + "queue\n")) == 1
    assert submit._EXPANDER._proc is not server
