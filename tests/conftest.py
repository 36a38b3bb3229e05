"""Shared test configuration: the lab fixtures are plugins so every tier can use them."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.batch_lab", "tests.fixtures.kube_lab"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
