"""The golden cases: every example, translated as one fixed user in one fixed place."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bridge.cli.translate import Request
from bridge.config.settings import BridgeSettings
from bridge.domain.ir import Identity

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent
CONFIG = EXAMPLES / "config" / "lab.yaml"
ALICE = Identity(user="alice", uid=2001, gid=2001, groups=(3000,))
SUBMIT_DIR = "/lab/gpfs/home/alice"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # fixed, so relative --begin gives the same file each run
SUBMIT_ENV = {"HOME": "/lab/gpfs/home/alice", "LANG": "C.UTF-8", "LD_PRELOAD": "/lab/gpfs/evil.so"}


class FileOnlySettings(BridgeSettings):
    """The bridge's settings from a file alone: ``BATCH_BRIDGE_*`` variables of whoever runs the
    tests never reach a golden comparison."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def file_settings(path: Path = CONFIG) -> BridgeSettings:
    return FileOnlySettings(**yaml.safe_load(path.read_text()))


def example_paths() -> list[Path]:
    return sorted(p for d in ("slurm", "htcondor") for p in (EXAMPLES / d).iterdir() if p.is_file())


def request_for(path: Path) -> Request:
    kind = path.parent.name
    return Request(
        path=path,
        kind=kind,
        identity=ALICE,
        job_id="1234",
        submit_dir=SUBMIT_DIR,
        now=NOW,
        environment=SUBMIT_ENV,
    )


def golden_path(path: Path) -> Path:
    return GOLDEN / path.parent.name / (path.name + ".yaml")
