"""Configuration: YAML file, environment overrides, clear errors, schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config.settings import ConfigError, load_settings, schema
from tests.golden.cases import EXAMPLES


def test_example_configs_validate() -> None:
    for path in (EXAMPLES / "config").glob("*.yaml"):
        load_settings(path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("cluster: fromfile\nkube:\n  gpu_resource: from.file/gpu\n  cpu_limit: true\n")
    monkeypatch.setenv("BATCH_BRIDGE_KUBE__GPU_RESOURCE", "amd.com/gpu")
    settings = load_settings(path)
    assert (settings.cluster, settings.kube.gpu_resource, settings.kube.cpu_limit) == ("fromfile", "amd.com/gpu", True)


def test_errors_name_the_file_and_every_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cluster: ''\nkube:\n  gpu_resourse: x\nsite:\n  min_uid: 0\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert str(path) in text
    assert "cluster" in text
    assert "gpu_resourse" in text
    assert "min_uid" in text


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(tmp_path / "list.yaml")


def test_schema_documents_every_field() -> None:
    defs = schema()["$defs"]
    undocumented = [
        f"{model}.{name}"
        for model, body in defs.items()
        for name, prop in body.get("properties", {}).items()
        if "description" not in prop and name != "kind"
    ]
    assert len(defs) >= 5
    assert not undocumented, undocumented
