"""Every example translates to exactly its golden file. Regenerate with ``pytest --update-golden``."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from bridge.cli.output import to_yaml
from bridge.cli.translate import to_objects
from tests.golden.cases import EXAMPLES, example_paths, file_settings, golden_path, request_for

# What a developer's or CI's shell may carry; none of it may change a golden comparison.
AMBIENT = {
    "BATCH_BRIDGE_CLUSTER": "elsewhere",
    "BATCH_BRIDGE_KUBE__GPU_RESOURCE": "amd.com/gpu",
    "BATCH_BRIDGE_KUBE__TTL_SECONDS_AFTER_FINISHED": "5",
    "BATCH_BRIDGE_SITE__MIN_UID": "5000",
}


@pytest.fixture(params=[False, True], ids=["clean-env", "ambient-env"])
def ambient(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in AMBIENT if request.param else ():
        monkeypatch.setenv(key, AMBIENT[key])


@pytest.mark.parametrize("example", example_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.usefixtures("ambient")
def test_example_matches_golden(example: Path, update_golden: bool) -> None:
    objects, _ = to_objects(request_for(example), file_settings())
    text = to_yaml(objects)
    golden = golden_path(example)
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}; run pytest --update-golden"
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(golden), "actual"))
    assert text == expected, f"translation of {example.relative_to(EXAMPLES)} changed:\n{diff}"


def test_the_ambient_variables_would_change_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard above can fail: the same variables do change what load_settings gives."""
    from bridge.config.settings import load_settings
    from tests.golden.cases import CONFIG

    for key, value in AMBIENT.items():
        monkeypatch.setenv(key, value)
    assert load_settings(CONFIG).kube.gpu_resource == "amd.com/gpu"
    assert file_settings().kube.gpu_resource == "nvidia.com/gpu"


def test_every_golden_file_has_an_example() -> None:
    expected = {golden_path(p) for p in example_paths()}
    actual = {p for d in ("slurm", "htcondor") for p in (Path(__file__).parent / d).glob("*.yaml")}
    assert actual == expected
