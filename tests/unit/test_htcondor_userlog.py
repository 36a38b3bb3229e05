"""The user-log helper (adapters/htcondor/site/batch-bridge-userlog), run as a program: it appends
only well-formed events, never twice, never through a symlink or into a non-regular file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.htcondor import events as ev

HELPER = Path(__file__).resolve().parents[2] / "adapters" / "htcondor" / "site" / "batch-bridge-userlog"


def _run(path: str, nth: int | str, text: str | bytes) -> subprocess.CompletedProcess[bytes]:
    data = text.encode() if isinstance(text, str) else text
    return subprocess.run(
        [sys.executable, "-I", str(HELPER), path, str(nth)], input=data, capture_output=True, timeout=30, check=False
    )


def test_appends_once_per_nth(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("000 (001.000.000) 2027-01-15 08:00:00 Job submitted from host: <x>\n...\n")
    first = ev.execute(1, 0, 1_800_000_000, "j@n", 1)
    assert _run(str(log), 1, first.text).returncode == 0
    assert _run(str(log), 1, first.text).returncode == 0  # a repeated request: already there
    second = ev.execute(1, 0, 1_800_000_100, "j-r1@n", 2)  # the second run's start
    assert _run(str(log), 2, second.text).returncode == 0
    heads = [line for line in log.read_text().splitlines() if line.startswith("001")]
    assert len(heads) == 2


def test_creates_a_missing_log(tmp_path: Path) -> None:
    log = tmp_path / "new.log"
    assert _run(str(log), 1, ev.terminate(1, 0, 1_800_000_000, 0, 0).text).returncode == 0
    assert log.read_text().startswith("005 (001.000.000)")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello\n",
        "000 (001.000.000) 2027-01-15 08:00:00 Job submitted from host: <x>\n...\n",  # not a code the bridge writes
        ev.execute(1, 0, 1_800_000_000, "x", 1).text * 2,  # two events
        ev.execute(1, 0, 1_800_000_000, "x", 1).text.replace("...\n", "\0...\n"),
        ev.execute(1, 0, 1_800_000_000, "x", 1).text + "trailing",
        b"\xff\xfe" * 10,
        "001 (001.000.000) 2027-01-15 08:00:00 " + "x" * 9000 + "\n...\n",
    ],
)
def test_refuses_what_is_not_one_event(tmp_path: Path, text: str | bytes) -> None:
    log = tmp_path / "job.log"
    log.write_text("")
    assert _run(str(log), 1, text).returncode == 2
    assert log.read_text() == ""


@pytest.mark.parametrize(("path", "nth"), [("relative.log", 1), ("/tmp/../etc/x", 1), ("/tmp/x", "one")])
def test_refuses_bad_arguments(path: str, nth: str | int) -> None:
    assert _run(path, nth, ev.terminate(1, 0, 1_800_000_000, 0, 0).text).returncode == 2


def test_never_follows_a_symlink_nor_writes_a_fifo(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("precious\n")
    link = tmp_path / "job.log"
    link.symlink_to(target)
    assert _run(str(link), 1, ev.terminate(1, 0, 1_800_000_000, 0, 0).text).returncode == 3
    assert target.read_text() == "precious\n"
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    assert _run(str(fifo), 1, ev.terminate(1, 0, 1_800_000_000, 0, 0).text).returncode == 3
