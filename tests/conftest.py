"""Shared test configuration: the lab fixtures are plugins so every tier can use them."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.batch_lab",
    "tests.fixtures.kube_lab",
    "tests.fixtures.bridge_lab",
    "tests.fixtures.condor_bridge",
    "tests.fixtures.sdk_lab",
    "tests.fixtures.chart_lab",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# --- the integration tier is never skipped ---------------------------------------------------------
_skipped_integration: list[str] = []
_ran_integration: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "integration" not in report.keywords:
        return
    if report.skipped:
        _skipped_integration.append(report.nodeid)
    elif report.when == "call":
        _ran_integration.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped integration test fails the run; in CI, so does a run with no integration test."""
    problem = None
    if _skipped_integration:
        problem = f"{len(_skipped_integration)} integration test(s) were skipped: {_skipped_integration[:5]}"
    elif os.environ.get("CI") == "true" and not _ran_integration and session.testscollected:
        problem = "CI=true but no integration test ran"
    if problem:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(f"ERROR: {problem}", red=True)  # type: ignore[union-attr]
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
