"""sbatch semantics: directive placement, option spellings, precedence, errors with lines."""

from __future__ import annotations

import pytest

from adapters.slurm.settings import SlurmSettings
from bridge.domain.errors import PolicyError, TranslationError
from bridge.domain.ir import ExportMode, GpuScope, OpenMode, PathField, Placeholder, Script
from bridge.domain.policy import check_job
from tests.unit.helpers import HOME, POLICY, sbatch, script


def test_directives_stop_at_the_first_command() -> None:
    job = sbatch("#!/bin/bash\n#SBATCH -J first\n\n# comment\n#SBATCH -c 3\necho\n#SBATCH -c 9\n")
    assert job.name == "first"
    assert job.resources.cpus_per_task == 3


@pytest.mark.parametrize("spelling", [["--time=10"], ["--time", "10"], ["-t", "10"], ["-t10"]])
def test_option_spellings(spelling: list[str]) -> None:
    assert sbatch(script(" ".join(spelling))).time_limit_s == 600


def test_precedence_command_line_over_environment_over_script() -> None:
    body = script("-p fromscript", "-J fromscript", "-t 5")
    bridged = SlurmSettings(partitions=("cli", "env", "fromscript"))
    job = sbatch(
        body, argv=["-p", "cli"], env={"SBATCH_PARTITION": "env", "SBATCH_JOB_NAME": "envname"}, settings=bridged
    )
    assert (job.queue, job.name, job.time_limit_s) == ("cli", "envname", 300)


def test_last_directive_wins() -> None:
    assert sbatch(script("-c 2", "--cpus-per-task=5")).resources.cpus_per_task == 5


def test_unknown_option_names_option_and_line() -> None:
    with pytest.raises(TranslationError) as err:
        sbatch(script("-J ok", "--frobnicate=3"))
    assert err.value.line == 3
    assert "--frobnicate" in str(err.value)
    assert str(err.value).startswith("job.sh:3:")


def test_refused_option_says_why_and_warn_mode_records_it() -> None:
    with pytest.raises(TranslationError, match=r"--nodelist .* Kubernetes chooses the node"):
        sbatch(script("--nodelist=n1"))
    warn = SlurmSettings(unknown_options="warn", default_partition="k8s")
    job = sbatch(script("--nodelist=n1", "--reservation=r"), settings=warn)
    assert len(job.warnings) == 2
    assert "--nodelist" in job.warnings[0]


def test_uid_is_refused_even_in_warn_mode() -> None:
    with pytest.raises(TranslationError, match="--uid"):
        sbatch(script("--uid=0"), settings=SlurmSettings(unknown_options="warn"))


def test_abbreviations_resolve_like_getopt_long() -> None:
    assert sbatch(script("--job-na=x")).name == "x"
    with pytest.raises(TranslationError, match="ambiguous"):
        sbatch(script("--mem-per=3"))
    with pytest.raises(TranslationError, match="ambiguous"):
        sbatch(script("--ti=10"))  # --time and --time-min


def test_resources() -> None:
    job = sbatch(script("-n 4", "-c 2", "--mem-per-cpu=500M", "--gpus-per-task=v100:1", "--tmp=2G", "-C ssd&avx2"))
    r = job.resources
    assert (r.tasks, r.cpus_per_task, r.memory_per_cpu_mib, r.ephemeral_disk_mib) == (4, 2, 500, 2048)
    assert r.gpus is not None
    assert (r.gpus.count, r.gpus.type, r.gpus.per) == (1, "v100", GpuScope.TASK)
    assert r.features == ("ssd", "avx2")


def test_conflicting_memory_and_gpu_forms_are_refused() -> None:
    with pytest.raises(TranslationError, match="mutually exclusive"):
        sbatch(script("--mem=1G", "--mem-per-cpu=1G"))
    with pytest.raises(TranslationError, match="one way only"):
        sbatch(script("--gres=gpu:1", "--gpus=2"))


def test_defaults_follow_slurm() -> None:
    job = sbatch(script())
    assert job.name == "job.sh"
    assert job.working_dir == HOME
    assert job.io.stdout is not None
    assert job.io.stdout.parts == ("slurm-77.out",)
    assert job.io.stderr is None
    assert job.io.stdin is None
    assert job.io.open_mode is OpenMode.TRUNCATE
    assert isinstance(job.payload, Script)
    assert job.payload.interpreter == ("/bin/bash",)


def test_array_default_output_and_patterns() -> None:
    job = sbatch(script("--array=1-3", "-o out/%x_%A_%3a.txt", "-J j"))
    assert job.io.stdout is not None
    assert job.io.stdout.parts == ("out/j_77_", PathField(field=Placeholder.ARRAY_TASK_ID, width=3), ".txt")
    default = sbatch(script("--array=1-3")).io.stdout
    assert default is not None
    assert default.parts[0] == "slurm-77_"


def test_chdir_is_relative_to_the_submit_dir_and_normalised() -> None:
    assert sbatch(script("-D sub/../run")).working_dir == HOME + "/run"


def test_export_modes_and_denylist() -> None:
    env = {"HOME": HOME, "PATH": "/usr/bin", "FOO": "1"}
    all_ = sbatch(script(), env=env)
    assert all_.environment.export is ExportMode.ALL
    assert dict(all_.environment.variables) == {"HOME": HOME, "FOO": "1"}
    assert any("PATH" in w for w in all_.warnings)
    none = sbatch(script("--export=NONE,X=2"), env=env)
    assert dict(none.environment.variables) == {"X": "2"}
    listed = sbatch(script("--export=FOO,Y=3"), env=env)
    assert listed.environment.export is ExportMode.LISTED
    assert dict(listed.environment.variables) == {"FOO": "1", "Y": "3"}
    with pytest.raises(PolicyError, match="setting LD_PRELOAD is not allowed"):
        check_job(sbatch(script("--export=ALL,LD_PRELOAD=/tmp/x.so"), env=env), POLICY)


def test_bridge_image_directive() -> None:
    assert sbatch("#!/bin/sh\n#BRIDGE --image=reg/x:1\necho\n").image == "reg/x:1"
    with pytest.raises(TranslationError, match="#BRIDGE") as err:
        sbatch("#!/bin/sh\n#BRIDGE --colour=red\necho\n")
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty"),
        ("echo hi\n", "#!"),
        ("#!/bin/sh\r\necho\r\n", "DOS"),
        ("#!/bin/sh\necho \0\n", "NUL"),
        ("#!sh\necho\n", "absolute"),
        ("#!/bin/sh\n#SBATCH hetjob\necho\n", "heterogeneous"),
        ("#!/bin/sh\n#SBATCH -p a,b\necho\n", "one partition"),
        ("#!/bin/sh\n#SBATCH --comment='x\necho\n", "cannot parse"),
    ],
)
def test_scripts_slurm_refuses_are_refused(body: str, message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        sbatch(body)


def test_mail_options_are_accepted_with_a_warning() -> None:
    job = sbatch(script("--mail-type=END", "--mail-user=a@b"))
    assert len(job.warnings) == 2
    assert {(e.name, e.value) for e in job.extensions} == {("mail-type", "END"), ("mail-user", "a@b")}


def test_client_only_options_change_nothing() -> None:
    plain = sbatch(script()).model_dump(exclude={"payload"})
    assert sbatch(script("--parsable", "-Q", "-v")).model_dump(exclude={"payload"}) == plain


def test_invalid_variable_names_are_not_passed() -> None:
    job = sbatch(script(), env={"GOOD": "1", "BAD NAME": "2", "ÜML": "3"})
    assert dict(job.environment.variables) == {"GOOD": "1"}
    assert len(job.warnings) == 2
    with pytest.raises(TranslationError, match="NAME=value"):
        sbatch(script("--export='A B=1'"))


# What workflow tools emit (submitit, Snakemake's slurm executor, law), accepted with Slurm's meaning.
SUBMITIT = """#!/bin/bash

# Parameters
#SBATCH --cpus-per-task=1
#SBATCH --error=/lab/gpfs/home/alice/log/%j_0_log.err
#SBATCH --job-name=submitit
#SBATCH --mem=1GB
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/lab/gpfs/home/alice/log/%j_0_log.out
#SBATCH --partition=k8s
#SBATCH --signal=USR2@90
#SBATCH --time=5
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /lab/gpfs/home/alice/log/%j_%t_log.out --error /lab/gpfs/home/alice/log/%j_%t_log.err \\
  /lab/gpfs/home/alice/venv/bin/python -u -m submitit.core._submit /lab/gpfs/home/alice/log
"""


def test_a_submitit_script_translates_with_its_wckey_signal_and_open_mode() -> None:
    job = sbatch(SUBMITIT, settings=SlurmSettings(partitions=("k8s",)))
    assert [(e.name, e.value) for e in job.extensions] == [("wckey", "submitit")]
    assert job.signal is not None and (job.signal.name, job.signal.seconds_before, job.signal.batch_only) == (
        "USR2",
        90,
        False,
    )
    assert job.io.open_mode is OpenMode.APPEND
    assert not any("wckey" in w for w in job.warnings)


def test_wrap_is_the_script_sbatch_writes() -> None:
    job = sbatch("", argv=["--wrap=python3 -c 'print(1)'", "-t", "5"])
    assert isinstance(job.payload, Script)
    assert job.payload.body == "#!/bin/sh\n# This script was created by sbatch --wrap.\n\npython3 -c 'print(1)'\n"
    assert job.time_limit_s == 300


def test_mail_options_are_kept_with_a_recorded_caveat() -> None:
    job = sbatch(script("--mail-type=END", "--mail-user=alice@example.org"))
    assert {e.name for e in job.extensions} == {"mail-type", "mail-user"}
    assert any("no mail is sent" in w for w in job.warnings)
