"""Parsers for sbatch option values: times, sizes, counts, arrays, dependencies, signals, GPU specs.

Each follows Slurm 24.11's own rules (src/common/parse_time.c, slurm_opt.c) and raises
TranslationError naming the option and the bad value.
"""

from __future__ import annotations

import re
import signal as _signal
from datetime import datetime, timedelta

from bridge.domain.errors import TranslationError
from bridge.domain.ir import (
    ArraySpec,
    Dependencies,
    Dependency,
    DependencyKind,
    GpuRequest,
    GpuScope,
    Signal,
)

_TIME_FORMS = [
    # (regex, seconds per group in order: days, hours, minutes, seconds)
    (re.compile(r"^(\d+)$"), ("m",)),
    (re.compile(r"^(\d+):(\d+)$"), ("m", "s")),
    (re.compile(r"^(\d+):(\d+):(\d+)$"), ("h", "m", "s")),
    (re.compile(r"^(\d+)-(\d+)$"), ("d", "h")),
    (re.compile(r"^(\d+)-(\d+):(\d+)$"), ("d", "h", "m")),
    (re.compile(r"^(\d+)-(\d+):(\d+):(\d+)$"), ("d", "h", "m", "s")),
]
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_UNLIMITED = {"INFINITE", "UNLIMITED", "-1"}


MAX_COUNT = 2**31 - 1  # Slurm stores counts and minutes in 32 bits


def _is_uint(text: str) -> bool:
    return text.isascii() and text.isdigit()


_HUGE = 10**15  # stands for any longer digit string: beyond every bound, and int() of it stays cheap


def num(digits: str) -> int:
    """``int`` of a digit string, saturating at _HUGE (Python refuses > 4300 digits with ValueError)."""
    return int(digits) if len(digits.lstrip("0")) <= 15 else _HUGE


def bad(option: str, value: str, why: str) -> TranslationError:
    return TranslationError(f"invalid {option} {value!r}: {why}")


def time_limit(value: str, option: str = "--time") -> int | None:
    """Seconds (whole minutes), or None for no limit: "m", "m:s", "h:m:s", "d-h", "d-h:m", "d-h:m:s"."""
    text = value.strip()
    if text.upper() in _UNLIMITED:
        return None
    for pattern, units in _TIME_FORMS:
        match = pattern.match(text)
        if match:
            seconds = sum(num(g) * _UNIT_SECONDS[u] for g, u in zip(match.groups(), units, strict=True))
            if seconds > MAX_COUNT:
                raise bad(option, value, "too long")
            # Slurm keeps whole minutes, rounding seconds up (time_str2mins); zero means no limit.
            return -(-seconds // 60) * 60 or None
    raise bad(option, value, "use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")


_SIZE = re.compile(r"^(\d+)([KMGT]?)B?$", re.IGNORECASE)
_SIZE_MIB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024, "": 1}


def size_mib(value: str, option: str, allow_zero: bool = False) -> int:
    """Megabytes (MiB) from "<n>[K|M|G|T]"; the default unit is M, as in Slurm. 0 only if allowed
    (``--mem=0``: the whole node's memory; the caller decides what that is)."""
    match = _SIZE.match(value.strip())
    if not match:
        raise bad(option, value, "expected a size such as 500, 4G or 100M")
    number = int(match.group(1)) if len(match.group(1)) <= 15 else MAX_COUNT**2
    mib = number * _SIZE_MIB[match.group(2).upper()]
    if mib > MAX_COUNT * 1024:
        raise bad(option, value, "too large")
    if mib == 0 and allow_zero:
        return 0
    if mib <= 0:
        raise bad(option, value, "must be larger than 0")
    return max(int(-(-mib // 1)), 1)


def positive(value: str, option: str) -> int:
    text = value.strip()
    if not _is_uint(text) or not 1 <= num(text) <= MAX_COUNT:
        raise bad(option, value, f"expected a whole number from 1 to {MAX_COUNT}")
    return num(text)


def node_range(value: str, option: str = "--nodes") -> tuple[int, int | None]:
    match = re.match(r"^(\d+)(?:[-,](\d+))?$", value.strip())
    if not match:
        raise bad(option, value, "expected N or MIN-MAX")
    low, high = num(match.group(1)), match.group(2)
    if low < 1 or low > MAX_COUNT or (high is not None and not low <= num(high) <= MAX_COUNT):
        raise bad(option, value, f"counts must be from 1 to {MAX_COUNT} and MIN <= MAX")
    return low, num(high) if high is not None else None


_ARRAY_ITEM = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")


def array_spec(value: str, max_size: int, option: str = "--array") -> ArraySpec:
    """ "0-15", "1,3,5", "0-15:4", "1-3,7%2": indexes and an optional throttle after %."""
    text, _, throttle_text = value.strip().partition("%")
    throttle = positive(throttle_text, option + " throttle") if throttle_text else None
    items = text.split(",")
    if len(items) > max_size:  # counted before anything is expanded
        raise bad(option, value, f"more than {max_size} items")
    ranges: list[range] = []
    for item in items:
        match = _ARRAY_ITEM.match(item)
        if not match:
            raise bad(option, value, f"{item!r} is not N, A-B or A-B:STEP")
        start = num(match.group(1))
        end = num(match.group(2)) if match.group(2) else start
        step = num(match.group(3)) if match.group(3) else 1
        if end < start or step < 1:
            raise bad(option, value, f"{item!r} is an empty range")
        if end >= max_size:
            raise bad(option, value, f"index {end} exceeds MaxArraySize ({max_size})")
        ranges.append(range(start, end + 1, step))
    if sum(len(r) for r in ranges) > 4 * max_size:  # overlapping ranges: bound the work, not just the result
        raise bad(option, value, f"more than {max_size} tasks")
    indexes: set[int] = set()
    for r in ranges:
        indexes.update(r)
    if len(indexes) > max_size:
        raise bad(option, value, f"more than {max_size} tasks")
    return ArraySpec(indexes=tuple(sorted(indexes)), throttle=throttle)


_DEP_ID = re.compile(r"^\d+(_\d+)?(\+\d+)?$")
_DEP_KINDS = {k.value: k for k in DependencyKind}


def dependencies(value: str, option: str = "--dependency") -> Dependencies:
    text = value.strip()
    if "," in text and "?" in text:
        raise bad(option, value, "mixing ',' (all) and '?' (any) is not allowed")
    all_of = "?" not in text
    items: list[Dependency] = []
    for part in re.split(r"[,?]", text):
        kind_text, *ids = part.split(":")
        kind = _DEP_KINDS.get(kind_text)
        if kind is None:
            raise bad(option, value, f"unsupported dependency type {kind_text!r}")
        if kind is DependencyKind.SINGLETON:
            if ids:
                raise bad(option, value, "singleton takes no job id")
        elif not ids or not all(_DEP_ID.match(i) for i in ids):
            raise bad(option, value, f"{kind_text} needs one or more job ids")
        items.append(Dependency(kind=kind, job_ids=tuple(ids)))
    return Dependencies(items=tuple(items), all_of=all_of)


_SIGNALS = {s.name.removeprefix("SIG"): s.name.removeprefix("SIG") for s in _signal.Signals}
_SIGNAL_NUMBERS = {str(int(s)): s.name.removeprefix("SIG") for s in _signal.Signals}


def signal_spec(value: str, option: str = "--signal") -> Signal:
    """ "[{R|B}:]<sig>[@seconds]"; sig by name (with or without SIG) or number."""
    text = value.strip()
    batch_only = False
    while len(text) > 2 and text[1] == ":" and text[0] in "RB":
        batch_only |= text[0] == "B"
        text = text[2:]
    name, _, when = text.partition("@")
    upper = name.upper().removeprefix("SIG")
    sig = _SIGNALS.get(upper) or _SIGNAL_NUMBERS.get(name.lstrip("0") or "0")
    if sig is None:
        raise bad(option, value, f"unknown signal {name!r}")
    seconds = int(when[:9]) if _is_uint(when) else 60
    if when and not _is_uint(when):
        raise bad(option, value, "time after @ must be seconds")
    return Signal(name=sig, seconds_before=seconds, batch_only=batch_only)


def gpu_spec(value: str, option: str, per: GpuScope) -> GpuRequest:
    """ "[type:]N" (as in --gpus, --gpus-per-node, --gpus-per-task)."""
    kind, _, count = value.strip().rpartition(":")
    return GpuRequest(count=positive(count, option), type=kind or None, per=per)


def gres_spec(value: str, option: str = "--gres") -> GpuRequest | None:
    """ "gpu", "gpu:N", "gpu:type:N" (optionally "gres/gpu..."); other GRES are refused."""
    if value.strip().lower() in ("", "none"):
        return None
    parts = [p for p in value.split(",") if p]
    if len(parts) != 1:
        raise bad(option, value, "only one GRES (gpu) is supported")
    fields = parts[0].removeprefix("gres/").split(":")
    if fields[0] != "gpu":
        raise bad(option, value, f"GRES {fields[0]!r} is not available on Kubernetes (only gpu)")
    if len(fields) == 1:
        return GpuRequest(count=1, per=GpuScope.NODE)
    if len(fields) == 2 and _is_uint(fields[1]):
        return GpuRequest(count=positive(fields[1], option), per=GpuScope.NODE)
    if len(fields) == 3:
        return GpuRequest(count=positive(fields[2], option), type=fields[1], per=GpuScope.NODE)
    if len(fields) == 2:
        return GpuRequest(count=1, type=fields[1], per=GpuScope.NODE)
    raise bad(option, value, "expected gpu[:type][:count]")


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM)?$", re.IGNORECASE)
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?$")
_REL = re.compile(r"^now(?:\+(\d+)(seconds|minutes|hours|days|weeks)?)?$", re.IGNORECASE)
_REL_UNIT = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800, None: 1}
_NAMED_HOUR = {"midnight": 0, "noon": 12, "elevenses": 11, "fika": 15, "teatime": 16}


def _named_time(text: str, now: datetime) -> datetime | None:
    if text in ("today", "tomorrow"):
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(days=1 if text == "tomorrow" else 0)
    hour = _NAMED_HOUR.get(text)
    if hour is None:
        return None
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def begin_time(value: str, now: datetime, option: str = "--begin") -> datetime:
    """The forms of sbatch --begin: ISO date[Thh:mm[:ss]], hh:mm[:ss] [AM|PM], now+N[unit], names."""
    text = value.strip()
    if m := _REL.match(text):
        seconds = num(m.group(1) or "0") * _REL_UNIT[(m.group(2) or "").lower() or None]
        if seconds > 100 * 366 * 86400:
            raise bad(option, value, "more than 100 years ahead")
        return now + timedelta(seconds=seconds)
    if (named := _named_time(text.lower(), now)) is not None:
        return named
    try:
        if m := _ISO.match(text):
            y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
            return now.replace(year=y, month=mo, day=d, hour=h, minute=mi, second=s, microsecond=0)
        if m := _CLOCK.match(text):
            h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
            if m.group(4):
                h = h % 12 + (12 if m.group(4).upper() == "PM" else 0)
            at = now.replace(hour=h, minute=mi, second=s, microsecond=0)
            return at if at > now else at + timedelta(days=1)
    except ValueError as exc:
        raise bad(option, value, str(exc)) from None
    raise bad(option, value, "use YYYY-MM-DD[THH:MM[:SS]], HH:MM[:SS], now+N[seconds|minutes|hours|days|weeks]")
