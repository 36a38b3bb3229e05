"""Unit tests build their settings from files and arguments only: a BATCH_BRIDGE_* variable in the
shell that runs them (the CLI tests call load_settings) must not change a result."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("BATCH_BRIDGE_")]:
        monkeypatch.delenv(key)
