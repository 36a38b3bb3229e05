"""Option value parsers against Slurm's documented forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.slurm import values
from bridge.domain.errors import TranslationError
from bridge.domain.ir import DependencyKind, GpuScope

NOW = datetime(2026, 11, 27, 10, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10", 600),
        ("10:30", 660),  # seconds round up to a minute, as slurmctld stores it
        ("1:02:03", 3780),
        ("2-3", 2 * 86400 + 3 * 3600),
        ("2-3:04", 2 * 86400 + 3 * 3600 + 240),
        ("2-03:04:05", 2 * 86400 + 3 * 3600 + 300),
        ("0:30", 60),
        ("0", None),
        ("INFINITE", None),
        ("unlimited", None),
    ],
)
def test_every_slurm_time_format(text: str, seconds: int | None) -> None:
    assert values.time_limit(text) == seconds


@pytest.mark.parametrize("text", ["", "1:2:3:4", "abc", "1-", "-1-2", "1.5", "99999999999999"])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(TranslationError, match="--time"):
        values.time_limit(text)


@pytest.mark.parametrize(
    ("text", "mib"), [("500", 500), ("4G", 4096), ("100M", 100), ("1T", 1048576), ("1024K", 1), ("1K", 1), ("2g", 2048)]
)
def test_sizes_default_to_megabytes(text: str, mib: int) -> None:
    assert values.size_mib(text, "--mem") == mib


@pytest.mark.parametrize("text", ["0", "-5", "4X", "", "G"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(TranslationError, match="--mem"):
        values.size_mib(text, "--mem")


@pytest.mark.parametrize(
    ("text", "indexes", "throttle"),
    [
        ("0-3", (0, 1, 2, 3), None),
        ("1,3,5", (1, 3, 5), None),
        ("0-15:4", (0, 4, 8, 12), None),
        ("1-3,7%2", (1, 2, 3, 7), 2),
        ("5,1,5", (1, 5), None),
    ],
)
def test_array_specs(text: str, indexes: tuple[int, ...], throttle: int | None) -> None:
    spec = values.array_spec(text, 1001)
    assert spec.indexes == indexes
    assert spec.throttle == throttle


@pytest.mark.parametrize("text", ["3-1", "1-5:0", "a", "1-1001", "1%0", "1,,2"])
def test_bad_arrays_are_refused(text: str) -> None:
    with pytest.raises(TranslationError, match="--array"):
        values.array_spec(text, 1001)


def test_dependencies() -> None:
    deps = values.dependencies("afterok:12:13_2,afterany:14,singleton")
    assert deps.all_of
    assert [d.kind for d in deps.items] == [DependencyKind.AFTER_OK, DependencyKind.AFTER_ANY, DependencyKind.SINGLETON]
    assert deps.items[0].job_ids == ("12", "13_2")
    assert not values.dependencies("afternotok:1?afterok:2").all_of
    for bad in ("afterok", "afterok:x", "sometime:1", "singleton:3", "afterok:1,afterany:2?afterok:3"):
        with pytest.raises(TranslationError, match="--dependency"):
            values.dependencies(bad)


def test_signals() -> None:
    sig = values.signal_spec("B:USR1@30")
    assert (sig.name, sig.seconds_before, sig.batch_only) == ("USR1", 30, True)
    assert values.signal_spec("SIGTERM").seconds_before == 60
    assert values.signal_spec("10").name == "USR1"
    with pytest.raises(TranslationError):
        values.signal_spec("NOPE@3")


def test_gres_and_gpu_specs() -> None:
    assert values.gres_spec("gpu:a100:2") is not None
    g = values.gres_spec("gpu:a100:2")
    assert g is not None
    assert (g.count, g.type, g.per) == (2, "a100", GpuScope.NODE)
    g = values.gres_spec("gres/gpu:3")
    assert g is not None
    assert (g.count, g.type) == (3, None)
    g = values.gres_spec("gpu")
    assert g is not None
    assert g.count == 1
    assert values.gres_spec("none") is None
    g2 = values.gpu_spec("v100:4", "--gpus", GpuScope.JOB)
    assert (g2.count, g2.type, g2.per) == (4, "v100", GpuScope.JOB)
    for bad in ("shard:2", "gpu:1,shard:1", "gpu:a:b:c"):
        with pytest.raises(TranslationError, match="--gres"):
            values.gres_spec(bad)


def test_node_ranges() -> None:
    assert values.node_range("1") == (1, None)
    assert values.node_range("1-4") == (1, 4)
    with pytest.raises(TranslationError):
        values.node_range("4-1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now+60", NOW + timedelta(seconds=60)),
        ("now+2hours", NOW + timedelta(hours=2)),
        ("2026-12-24T18:00", datetime(2026, 12, 24, 18, 0, tzinfo=UTC)),
        ("2026-12-24", datetime(2026, 12, 24, tzinfo=UTC)),
        ("16:00", datetime(2026, 11, 27, 16, 0, tzinfo=UTC)),
        ("4:00 AM", datetime(2026, 11, 28, 4, 0, tzinfo=UTC)),
        ("midnight", datetime(2026, 11, 28, tzinfo=UTC)),
        ("teatime", datetime(2026, 11, 27, 16, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 11, 28, tzinfo=UTC)),
    ],
)
def test_begin_times(text: str, expected: datetime) -> None:
    assert values.begin_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["soon", "2026-13-01", "25:00"])
def test_bad_begin_times(text: str) -> None:
    with pytest.raises(TranslationError, match="--begin"):
        values.begin_time(text, NOW)
