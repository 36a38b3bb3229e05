from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.naming import DNS1123_LABEL, LABEL_VALUE, MAX_NAME, job_name, label_value, namespace_name


def test_job_names_are_deterministic_and_distinct() -> None:
    a = job_name("lab", "slurm", "1234")
    assert a == job_name("lab", "slurm", "1234")
    assert a.startswith("slurm-lab-1234-")
    assert a != job_name("lab", "slurm", "1234", 0)
    assert a != job_name("lab", "htcondor", "1234")
    assert job_name("Lab", "slurm", "1") != job_name("lab", "slurm", "1")  # hash keeps case apart


@given(st.text(), st.text(), st.text(), st.none() | st.integers(min_value=0, max_value=10**6))
def test_job_names_are_always_valid(cluster: str, scheduler: str, job_id: str, index: int | None) -> None:
    name = job_name(cluster, scheduler, job_id, index)
    assert DNS1123_LABEL.match(name)
    assert len(name) <= MAX_NAME


@given(st.text())
def test_label_values_and_namespaces_are_always_valid(text: str) -> None:
    value = label_value(text)
    assert LABEL_VALUE.match(value)
    assert len(value) <= 63
    ns = namespace_name("batch-", text)
    assert DNS1123_LABEL.match(ns)
    assert len(ns) <= 63


def test_clean_label_values_are_kept() -> None:
    assert label_value("alice") == "alice"
    assert label_value("a b") != label_value("a_b")
