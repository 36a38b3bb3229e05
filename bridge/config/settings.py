"""The bridge's configuration: one YAML file, overridden by ``BATCH_BRIDGE_*`` environment variables.

Precedence: explicit arguments > environment (``BATCH_BRIDGE_KUBE__GPU_RESOURCE=...``, nested with
``__``) > the YAML file > defaults. Every field carries its documentation; ``batch-bridge config
schema`` prints it all as JSON schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from adapters.htcondor.settings import CondorSettings
from adapters.slurm.settings import SlurmSettings
from bridge.domain.errors import BridgeError
from bridge.domain.policy import SitePolicy
from bridge.engine.settings import EngineSettings
from bridge.kube.settings import KubeSettings


class ConfigError(BridgeError):
    """A configuration file or variable that does not validate; the message lists every problem."""


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATCH_BRIDGE_", env_nested_delimiter="__", extra="forbid")

    cluster: str = Field(
        default="cluster", min_length=1, description="Name of the batch cluster or pool; part of every object name."
    )
    site: SitePolicy = Field(
        default_factory=SitePolicy, description="Storage table, identity rules, images, namespaces."
    )
    kube: KubeSettings = Field(default_factory=KubeSettings, description="How jobs become Kubernetes objects.")
    slurm: SlurmSettings = Field(default_factory=SlurmSettings, description="The Slurm front door.")
    htcondor: CondorSettings = Field(default_factory=CondorSettings, description="The HTCondor front door.")
    engine: EngineSettings = Field(default_factory=EngineSettings, description="How the adapter daemons reconcile.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_settings(path: str | Path | None = None, **overrides: Any) -> BridgeSettings:
    """Settings from ``path`` (optional), the environment on top, then ``overrides``."""
    file_data = _read_yaml(Path(path)) if path else {}
    try:
        env_only = BridgeSettings.model_validate({})  # environment applied onto defaults
        env_data = env_only.model_dump(exclude_unset=True)
        data = _merge(_merge(file_data, env_data), overrides)
        return BridgeSettings(**data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}{problems}") from None


def schema() -> dict[str, Any]:
    return BridgeSettings.model_json_schema()
