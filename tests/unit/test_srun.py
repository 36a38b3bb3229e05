"""srun inside a bridged job's pod (bridge/kube/srun.sh), run by a real /bin/sh as a job would run it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bridge.kube.objects import SRUN


def _srun(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    _install(tmp_path)
    base = {
        "PATH": os.environ["PATH"],
        "TMPDIR": str(tmp_path),
        "SLURM_JOB_ID": "77",
        "SLURM_JOB_NAME": "fit",
        "SLURMD_NODENAME": "real-0",
        "SLURM_NTASKS": "1",
    }
    return subprocess.run(
        ["/bin/sh", str(tmp_path / "srun"), *argv],
        env={**base, **(env or {})},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_tasks_get_their_ranks_and_the_step_its_id(tmp_path: Path) -> None:
    proc = _srun(tmp_path, "-n", "3", "sh", "-c", 'echo "$SLURM_PROCID/$SLURM_LOCALID/$SLURM_NTASKS/$SLURM_STEP_ID"')
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["0/0/3/0", "1/1/3/0", "2/2/3/0"]
    again = _srun(tmp_path, "--ntasks=2", "sh", "-c", 'echo "$SLURM_STEP_ID"')
    assert again.stdout.split() == ["1", "1"]  # the next step of the same job


def test_the_default_task_count_is_the_jobs(tmp_path: Path) -> None:
    proc = _srun(tmp_path, "sh", "-c", "echo $SLURM_PROCID", env={"SLURM_NTASKS": "2"})
    assert sorted(proc.stdout.split()) == ["0", "1"]


def test_output_patterns_per_task_and_stderr_with_stdout(tmp_path: Path) -> None:
    proc = _srun(
        tmp_path, "-n2", "--unbuffered", "--output", "%j_%t_log.out", "sh", "-c", "echo out$SLURM_PROCID; echo err >&2"
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "77_0_log.out").read_text() == "out0\nerr\n"
    assert (tmp_path / "77_1_log.out").read_text() == "out1\nerr\n"
    _srun(tmp_path, "-o", "s%s-%J-%N-%x-%%.out", "-e", "e%t.err", "sh", "-c", "echo a; echo b >&2")
    assert (tmp_path / "s1-77.1-real-0-fit-%.out").read_text() == "a\n"
    assert (tmp_path / "e0.err").read_text() == "b\n"


def test_stdin_goes_to_task_zero_only_and_labels_prefix_lines(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("hello\n")
    proc = _srun(tmp_path, "-n", "2", "-l", "-i", "in.txt", "sh", "-c", "cat")
    assert sorted(proc.stdout.splitlines()) == ["0: hello", "1: hello"]  # -i gives every task the file
    proc = subprocess.run(
        ["/bin/sh", "-c", 'printf "x\\n" | "$0" -n 2 -l sh -c cat', str(tmp_path / "srun")],
        env={"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.stdout.splitlines() == ["0: x"]


def test_exit_status_is_the_highest_with_sruns_message(tmp_path: Path) -> None:
    proc = _srun(tmp_path, "-n", "3", "sh", "-c", "exit $SLURM_PROCID")
    assert proc.returncode == 2
    assert "srun: error: real-0: task 2: Exited with exit code 2" in proc.stderr


def test_signals_are_forwarded_to_every_task(tmp_path: Path) -> None:
    task = 'trap "echo got$SLURM_PROCID; exit 3" USR1; touch ready$SLURM_PROCID; while :; do sleep 0.05; done'
    driver = (
        f'"$0" -n 2 sh -c {_quote(task)} & p=$!; '
        "while [ ! -e ready0 ] || [ ! -e ready1 ]; do sleep 0.05; done; kill -USR1 $p; wait $p"
    )
    _install(tmp_path)
    proc = subprocess.run(
        ["/bin/sh", "-c", driver, str(tmp_path / "srun")],
        env={"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 3, proc
    assert sorted(proc.stdout.split()) == ["got0", "got1"]


def test_what_one_pod_cannot_do_is_refused_with_a_message(tmp_path: Path) -> None:
    for argv, words in (
        (("-N", "2", "true"), "--nodes=2 cannot be honoured inside a batch-bridge job"),
        (("--mpi=pmix", "true"), "--mpi=pmix cannot be honoured"),
        (("-w", "node3", "true"), "-w cannot be honoured"),
        (("--pty", "bash"), "--pty cannot be honoured"),
        (("--frobnicate", "true"), "unrecognized option '--frobnicate'"),
        (("-n", "0", "true"), "invalid number of tasks: 0"),
        ((), "no command to run"),
    ):
        proc = _srun(tmp_path, *argv)
        assert proc.returncode == 1 and words in proc.stderr, (argv, proc.stderr)
    assert _srun(tmp_path, "-N", "1", "--mpi=none", "--exclusive", "-c", "2", "true").returncode == 0


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _install(tmp_path: Path) -> None:
    srun = tmp_path / "srun"
    srun.write_text(SRUN)
    srun.chmod(0o755)
