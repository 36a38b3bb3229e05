"""The batch-bridge command as a user runs it: exit codes, stdout objects, stderr messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge.cli.main import main
from tests.golden.cases import CONFIG, EXAMPLES

USER = ["--user", "alice", "--uid", "2001", "--gid", "2001", "--groups", "3000", "--config", str(CONFIG)]


def test_translate_prints_yaml_objects(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["translate", str(EXAMPLES / "slurm" / "hello.sh"), *USER, "--submit-dir", "/lab/gpfs/home/alice"])
    out = capsys.readouterr().out
    assert code == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(out)]
    assert kinds == ["Job"]  # the files travel as pod annotations


def test_translate_json_and_submit_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(
        [
            "translate",
            str(EXAMPLES / "htcondor" / "queue_n.sub"),
            *USER,
            "--submit-dir",
            str(tmp_path),
            "-o",
            "json",
            "--config",
            str(CONFIG),
        ]
    )
    assert code == 2  # tmp_path is not on the lab's site storage
    assert "not on site storage" in capsys.readouterr().err
    code = main(
        [
            "translate",
            str(EXAMPLES / "htcondor" / "queue_n.sub"),
            *USER,
            "--submit-dir",
            "/lab/gpfs/home/alice",
            "-o",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["kind"] == "List"
    assert [i["kind"] for i in doc["items"]] == ["Job"] * 3  # queue 3: one Job per proc


def test_errors_name_file_and_line_and_exit_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\n#SBATCH -J x\n#SBATCH --bogus\necho\n")
    assert main(["translate", str(bad), *USER, "--submit-dir", "/lab/gpfs/home/alice"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{bad}:3: unrecognized option --bogus" in captured.err


def test_warnings_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "translate",
            str(EXAMPLES / "slurm" / "hello.sh"),
            *USER,
            "--submit-dir",
            "/lab/gpfs/home/alice",
            "--sbatch-args=--mail-type=END",
        ]
    )
    assert "warning: 1: --mail-type" in capsys.readouterr().err


def test_config_check_and_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(CONFIG)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {min_uid: -1}\n")
    assert main(["config", "check", str(bad)]) == 2
    assert "min_uid" in capsys.readouterr().err
    assert main(["config", "schema"]) == 0
    assert "BridgeSettings" in json.loads(capsys.readouterr().out)["title"]


def test_console_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bridge.cli.main", "config", "check", str(CONFIG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
