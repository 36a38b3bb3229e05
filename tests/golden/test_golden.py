"""Every example translates to exactly its golden file. Regenerate with ``pytest --update-golden``."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from bridge.cli.output import to_yaml
from bridge.cli.translate import to_objects
from bridge.config.settings import load_settings
from tests.golden.cases import CONFIG, EXAMPLES, example_paths, golden_path, request_for


@pytest.mark.parametrize("example", example_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_matches_golden(example: Path, update_golden: bool) -> None:
    objects, _ = to_objects(request_for(example), load_settings(CONFIG))
    text = to_yaml(objects)
    golden = golden_path(example)
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}; run pytest --update-golden"
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(golden), "actual"))
    assert text == expected, f"translation of {example.relative_to(EXAMPLES)} changed:\n{diff}"


def test_every_golden_file_has_an_example() -> None:
    expected = {golden_path(p) for p in example_paths()}
    actual = {p for d in ("slurm", "htcondor") for p in (Path(__file__).parent / d).glob("*.yaml")}
    assert actual == expected
