"""Every golden manifest is accepted by the real apiserver (server-side dry run with strict field
validation: schema, validation, defaulting and admission run, nothing is stored), so an invalid or
unknown field fails CI. BATCH_BRIDGE_GOLDEN_DIR overrides the directory (default tests/golden)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.dynamic import DynamicClient

from tests.fixtures.kube_lab import KubeLab

pytestmark = pytest.mark.integration

GOLDEN_ROOT = Path(os.environ.get("BATCH_BRIDGE_GOLDEN_DIR", Path(__file__).resolve().parents[1] / "golden"))
GOLDEN = sorted(GOLDEN_ROOT.glob("**/*.yaml"))


@pytest.fixture(scope="module")
def dynamic(kube_lab: KubeLab) -> Any:
    dynamic_client: Any = DynamicClient  # untyped in the client library
    return dynamic_client(kube_lab.admin)


def load_objects(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_golden_manifests_exist() -> None:
    assert GOLDEN, f"no golden manifests found under {GOLDEN_ROOT}/**/*.yaml"


@pytest.mark.parametrize("path", GOLDEN, ids=[str(p.relative_to(GOLDEN_ROOT)) for p in GOLDEN])
def test_golden_manifest_server_side_dry_run(path: Path, kube_lab: KubeLab, dynamic: Any) -> None:
    objects = load_objects(path)
    assert objects, f"{path} holds no objects"
    for obj in objects:
        api = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        ns = obj.get("metadata", {}).get("namespace")
        if api.namespaced:
            assert ns, f"{path}: {obj['kind']} {obj['metadata'].get('name')} has no namespace"
            kube_lab.ensure_namespace(ns)
        # The lab may hold a real object of this name (the bridge's own claims and volumes): dry-run a
        # fresh name; the schema is what is checked here.
        fresh = f"{obj['metadata']['name'][:50]}-dry{uuid.uuid4().hex[:6]}"
        obj = {**obj, "metadata": {**obj["metadata"], "name": fresh}}
        # Strict: an unknown or duplicated field is an error, not a dropped field with a warning.
        # A rejected object raises ApiException with the apiserver's field errors.
        created = dynamic.request("post", api.path(namespace=ns) + "?dryRun=All&fieldValidation=Strict", body=obj)
        assert created.metadata.name == obj["metadata"]["name"]
