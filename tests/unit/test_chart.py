"""The Helm chart's generated files and values, without helm (tests/integration/test_chart.py runs helm)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bridge.cli.chart import drift, main, rbac_rules, values_schema
from bridge.cli.main import main as cli
from bridge.config.settings import BridgeSettings

CHART = Path(__file__).resolve().parents[2] / "charts" / "batch-bridge"
VALUE_SETS = [CHART / "values.yaml", *sorted((CHART / "ci").glob("*.yaml"))]


def test_generated_files_match_the_code() -> None:
    assert drift(CHART) == [], "run: python -m bridge.cli.chart --write charts/batch-bridge"


def test_check_fails_on_a_stale_schema(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "values.schema.json").write_text("{}\n")
    assert main(["--check", str(tmp_path)]) == 1
    assert main(["--write", str(tmp_path)]) == 0 and main(["--check", str(tmp_path)]) == 0


def test_config_schema_is_the_settings_schema() -> None:
    schema = values_schema()
    settings = BridgeSettings.model_json_schema()
    assert schema["properties"]["config"]["properties"] == settings["properties"]
    assert schema["$defs"] == settings["$defs"]  # every $ref of the settings resolves at the root


@pytest.mark.parametrize("path", VALUE_SETS, ids=lambda p: p.name)
def test_every_value_set_carries_a_valid_bridge_config(path: Path) -> None:
    values = yaml.safe_load(path.read_text())
    BridgeSettings.model_validate(values.get("config", {}))
    assert set(values) <= set(values_schema()["properties"]), "a key the schema does not know"


def test_rbac_cli_prints_the_chart_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["rbac", "--namespace", "j", "--storage", "--lease-namespace", "l", "-o", "json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    roles = {(o["kind"], o["metadata"].get("namespace")): o["rules"] for o in items if o["kind"].endswith("Role")}
    rules = rbac_rules()
    assert roles == {
        ("Role", "j"): rules["namespaced"],
        ("ClusterRole", None): rules["cluster"],
        ("Role", "l"): rules["leader"],
    }


def test_readme_values_table_names_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    table = (CHART / "README.md").read_text().split("## Values", 1)[1]
    own = values_schema()["properties"]
    missing = [key for key in values if f"`{key}" not in table]
    for key, value in values.items():
        if key != "config" and "properties" in own[key]:  # the chart's own keys, not Kubernetes objects
            missing += [f"{key}.{sub}" for sub in value if sub not in table]
    assert missing == []
