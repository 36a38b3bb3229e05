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


def test_the_apiserver_client_pools_a_connection_for_every_thread_that_uses_it(tmp_path: Path) -> None:
    """Threads beyond the pool open a TLS connection per request (a handshake per create)."""
    from bridge.engine.settings import EngineSettings
    from bridge.kube.client import api_client

    engine = EngineSettings(workers=40, watch_namespaces=("a", "b"))
    assert engine.api_connections == 40 + 2 + 3 * 2 + 2  # workers, event writers, watches, poll+lease
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    api = api_client(str(kubeconfig), engine.api_connections)
    assert api.configuration.connection_pool_maxsize == 50
    assert api.rest_client.pool_manager.connection_pool_kw["maxsize"] == 50
    assert api.configuration.host == "https://127.0.0.1:1"
