"""The SDK's CLI pieces that need no lab: spec from arguments, pipeline files, progress output."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from bridge.cli import sdk
from bridge.domain.states import JobState
from bridge.sdk import InvalidSpec
from bridge.sdk.status import JobStatus


def _ns(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "argv": [],
        "name": None,
        "image": None,
        "cpus": None,
        "mem": None,
        "time": None,
        "array": None,
        "output": None,
        "workdir": None,
    }
    return argparse.Namespace(**(base | kw))


def test_spec_from_arguments() -> None:
    spec = sdk._spec(_ns(argv=["--", "echo", "$HOME"], mem="1G", array="0-2,5"))
    assert (spec.name, spec.memory_mib, spec.array) == ("echo", 1024, (0, 1, 2, 5))
    with pytest.raises(InvalidSpec, match="one script FILE"):
        sdk._spec(_ns())
    with pytest.raises(InvalidSpec, match="array"):
        sdk._spec(_ns(argv=["--", "true"], array="x"))


def test_pipeline_files(tmp_path: Path) -> None:
    py = tmp_path / "p.py"
    py.write_text(
        "from bridge import JobSpec, Pipeline\ndef pipeline():\n    p = Pipeline('x')\n    p.step('a', JobSpec.command(['true']))\n    return p\n"
    )
    assert list(sdk.load_pipeline(py).steps) == ["a"]
    (tmp_path / "bad.py").write_text("x = 1\n")
    with pytest.raises(InvalidSpec, match="defines no"):
        sdk.load_pipeline(tmp_path / "bad.py")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_plain_and_on_a_terminal() -> None:
    snaps = [{"a": None}, {"a": JobStatus("ns/a", JobState.SUCCEEDED, exit_code=0)}]
    plain = io.StringIO()
    sdk.show_progress(snaps, plain)
    assert plain.getvalue() == "a=waiting\na=succeeded\n"
    tty = _Tty()
    sdk.show_progress(snaps, tty)
    assert "\x1b[1F" in tty.getvalue() and "succeeded" in tty.getvalue()
