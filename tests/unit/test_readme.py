"""The README's configuration reference is the one the code generates."""

from __future__ import annotations

from bridge.config.reference import markdown
from tests.golden.cases import ROOT

START, END = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"


def test_readme_configuration_reference_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    current = text.split(START, 1)[1].split(END, 1)[0]
    assert current == markdown(), "run: python -m bridge.config.reference --write README.md"
