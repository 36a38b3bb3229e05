"""HTCondor file transfer (should_transfer_files = YES): what the translator reads from the ad, and
the entrypoint's copies in and out, executed for real by /bin/sh (scratch is a temporary folder)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from adapters.htcondor.ad import AdContext, AdView, to_ir
from bridge.domain import wellknown as wk
from bridge.domain.errors import TranslationError
from bridge.domain.ir import BatchJob, FileTransfer
from bridge.domain.policy import WRITES
from bridge.kube import entrypoint
from tests.unit.helpers import ALICE

CTX = AdContext(identity=ALICE, cluster="lab")
IWD = "/lab/gpfs/home/alice/run"


def _view(**values: object) -> AdView:
    base: dict[str, object] = {"ClusterId": 7, "ProcId": 0, "Cmd": "job.sh", "Iwd": IWD, "JobUniverse": 5}
    return AdView({**base, **values})


def test_yes_transfers_the_executable_and_inputs_made_absolute() -> None:
    job = to_ir(_view(ShouldTransferFiles="YES", TransferInput="a.txt, calib/, /lab/pnfs/x.dat"), CTX)
    assert job.transfer == FileTransfer(
        inputs=(f"{IWD}/job.sh", f"{IWD}/a.txt", f"{IWD}/calib/", "/lab/pnfs/x.dat"), outputs=None, remaps=()
    )
    assert not any("in place" in w for w in job.warnings)


@pytest.mark.parametrize("mode", ["NO", "IF_NEEDED", None])
def test_other_modes_run_in_place_and_say_so(mode: str | None) -> None:
    values: dict[str, object] = {"TransferInput": "a.txt"}
    if mode is not None:
        values["ShouldTransferFiles"] = mode
    job = to_ir(_view(**values), CTX)
    assert job.transfer is None
    assert any("reads site storage in place" in w for w in job.warnings)


def test_outputs_remaps_and_a_remapped_stream() -> None:
    job = to_ir(
        _view(
            ShouldTransferFiles="YES",
            TransferOutput="out.root,sub/plot.png",
            TransferOutputRemaps="out.root = /lab/pnfs/r.root ; job.out = logs/job.out",
            Out="job.out",
            Err="job.err",
        ),
        CTX,
    )
    assert job.transfer is not None
    assert job.transfer.outputs == ("out.root", "sub/plot.png")
    assert job.transfer.remaps == (("out.root", "/lab/pnfs/r.root"), ("job.out", f"{IWD}/logs/job.out"))
    assert job.io.stdout is not None and job.io.stdout.render({}) == "logs/job.out"  # both relative to Iwd
    assert job.io.stderr is not None and job.io.stderr.render({}) == "job.err"
    writes = {e.value for e in job.extensions if e.name == WRITES}
    assert {IWD, f"{IWD}/plot.png", "/lab/pnfs/r.root"} <= writes  # the site policy checks each


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"TransferOutput": "/etc/x"}, "must name a file in the job's scratch directory"),
        ({"TransferOutput": "../up"}, "must name a file in the job's scratch directory"),
        ({"TransferOutputRemaps": "o = https://example.org/o"}, "is a URL"),
        ({"TransferInput": "https://example.org/in"}, "is a URL"),
    ],
)
def test_refused_transfers_say_why(values: dict[str, object], message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        to_ir(_view(ShouldTransferFiles="YES", **values), CTX)


# --- the entrypoint, run by a real /bin/sh ------------------------------------------------------------


def _prepare(tmp_path: Path, body: str, **values: object) -> tuple[list[str], dict[str, str], Path, Path]:
    iwd, box = tmp_path / "iwd", tmp_path / "scratch"
    iwd.mkdir(exist_ok=True)
    box.mkdir(exist_ok=True)
    (iwd / "job.sh").write_text("#!/bin/sh\n" + body)
    (iwd / "job.sh").chmod(0o755)
    view = _view(ShouldTransferFiles="YES", Iwd=str(iwd), Out="job.out", Err="job.err", **values)
    job: BatchJob = to_ir(view, CTX)
    script = entrypoint.render(job).replace(wk.SCRATCH_MOUNT, str(box))
    (tmp_path / "entry.sh").write_text(script)
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)}
    return ["/bin/sh", str(tmp_path / "entry.sh")], env, iwd, box


def _run(tmp_path: Path, body: str, **values: object) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    argv, env, iwd, box = _prepare(tmp_path, body, **values)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    return proc, iwd, box


def test_the_job_runs_in_scratch_with_copies_and_new_or_changed_files_come_back(tmp_path: Path) -> None:
    iwd = tmp_path / "iwd"
    (iwd / "calib").mkdir(parents=True)
    (iwd / "calib" / "c1").write_text("c1\n")
    (iwd / "in.txt").write_text("input\n")
    (iwd / "keep.txt").write_text("untouched\n")
    body = 'pwd; ls; cat c1; echo changed > in.txt; echo new > made.txt; mkdir d; echo x > d/f; rm "$0"; exit 3\n'
    proc, iwd, box = _run(tmp_path, body, TransferInput="in.txt, keep.txt, calib/")
    assert proc.returncode == 3, proc.stderr
    out = (iwd / "job.out").read_text().splitlines()
    assert out[0] == str(box) and out[1:5] == ["c1", "in.txt", "job.sh", "keep.txt"] and out[5] == "c1"
    assert (iwd / "in.txt").read_text() == "changed\n"  # modified inputs come back
    assert (iwd / "made.txt").read_text() == "new\n"
    assert (iwd / "keep.txt").read_text() == "untouched\n"
    assert not (iwd / "d").exists() and not (iwd / "c1").exists()  # no subdirectories, no unchanged inputs
    assert (iwd / "job.sh").exists()  # the original executable stays where it was


def test_listed_outputs_and_remaps_and_a_missing_one_is_reported(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    body = "echo r > result.txt; mkdir plots; echo p > plots/p1; echo ignored > other.txt\n"
    proc, iwd, _ = _run(
        tmp_path,
        body,
        TransferOutput="result.txt,plots,never.txt",
        TransferOutputRemaps=f"result.txt = {target}/r.txt",
    )
    assert proc.returncode == 0
    assert (target / "r.txt").read_text() == "r\n" and (iwd / "plots" / "p1").read_text() == "p\n"
    assert not (iwd / "other.txt").exists() and not (iwd / "result.txt").exists()
    assert "transfer_output_files: never.txt was not made" in (iwd / "job.err").read_text()


def test_a_missing_input_fails_before_the_job_runs(tmp_path: Path) -> None:
    proc, iwd, _ = _run(tmp_path, "echo ran > ran.txt\n", TransferInput="absent.txt")
    assert proc.returncode == 1
    assert "transfer_input_files: cannot copy" in proc.stderr and not (iwd / "ran.txt").exists()


def test_a_stopped_job_transfers_nothing_back(tmp_path: Path) -> None:
    argv, env, iwd, box = _prepare(tmp_path, "echo partial > part.txt; while :; do sleep 0.1; done\n")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (box / "part.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (box / "part.txt").exists()
        proc.send_signal(signal.SIGTERM)  # the kubelet stopping the pod
        proc.wait(timeout=20)
    finally:
        proc.kill()
    assert not (iwd / "part.txt").exists()


def test_transferred_paths_are_checked_as_text_too() -> None:
    from bridge.domain.errors import PolicyError
    from bridge.domain.policy import check_text

    job = to_ir(_view(ShouldTransferFiles="YES"), CTX)
    bad = job.model_copy(update={"transfer": FileTransfer(inputs=("/lab/gpfs/a\0b",))})
    with pytest.raises(PolicyError, match="file transferred"):
        check_text(bad)
