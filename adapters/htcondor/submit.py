"""A submit description -> job ads, made by HTCondor's own submit code (the v1 bindings' Submit).

The bindings expand macros and one ``queue`` statement; condor_submit makes one proc per statement,
so a description with several ``queue`` lines is cut into one description per statement (each
keeping every line above it) and the procs are numbered on, as condor_submit does. Relative paths
resolve against the submit directory and an ``initialdir`` must exist, as with condor_submit.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from adapters.htcondor.ad import AdView, view_of
from bridge.domain.errors import TranslationError

_QUEUE = re.compile(r"^\s*queue(\s|$)", re.IGNORECASE)
_ITEMS = re.compile(r"^\s*(\d+)?\s*(.*?)\s+(in|from|matching)\b", re.IGNORECASE | re.DOTALL)
_CWD_LOCK = threading.Lock()  # Submit resolves relative paths against the process's cwd


@dataclass(frozen=True)
class Statement:
    text: str  # the description up to and including one queue statement
    line: int  # 1-based line of that queue statement


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its first line number."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 1
    for number, line in enumerate(text.split("\n"), start=1):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        out.append((start, "".join([*pending, line])))
        pending = []
    if pending:
        out.append((start, "".join(pending)))
    return out


def statements(text: str) -> list[Statement]:
    """Cut a description at each queue statement (inline ``from (`` item blocks included)."""
    body: list[str] = []
    out: list[Statement] = []
    lines = iter(_logical_lines(text))
    for number, line in lines:
        if not _QUEUE.match(line):
            body.append(line)
            continue
        block = [line]
        if "(" in line and ")" not in line:
            for _, more in lines:
                block.append(more)
                if ")" in more:
                    break
        out.append(Statement("\n".join([*body, *block]) + "\n", number))
    if not out:
        raise TranslationError("submit description has no queue statement")
    return out


def _items(submit: Any) -> tuple[int, list[dict[str, str]] | None]:
    """The queue count and item dicts for one statement (dicts keyed by the queue's variables)."""
    qargs = str(submit.getQArgs())
    match = _ITEMS.match(qargs)
    if match is None:
        return 0, None
    count = int(match.group(1)) if match.group(1) else 1
    names = [n for n in re.split(r"[\s,]+", match.group(2)) if n] or ["Item"]
    raw = submit.itemdata()
    items = [i if isinstance(i, dict) else {names[0]: str(i)} for i in (raw or [])]
    return count, items


def _jobs(stmt: Statement, cluster_id: int, first_proc: int, qdate: int) -> list[AdView]:
    import htcondor  # the v1 bindings: Submit.jobs() is a stub in htcondor2

    submit = htcondor.Submit(stmt.text)
    count, items = _items(submit)
    if items is not None and not items:
        return []
    jobs = submit.jobs(
        count=count, itemdata=iter(items) if items else None, clusterid=cluster_id, procid=first_proc, qdate=qdate
    )
    return [view_of(ad) for ad in jobs]


def job_ads(text: str, submit_dir: str, cluster_id: int = 1, qdate: int = 1, max_procs: int = 10000) -> list[AdView]:
    """Every proc of a submit description, as condor_submit would queue them (evaluated views)."""
    if "\0" in text:
        raise TranslationError("submit description contains a NUL byte")
    if not submit_dir.startswith("/"):
        raise TranslationError(f"submit directory {submit_dir!r} must be absolute")
    ads: list[AdView] = []
    with _CWD_LOCK, _submit_dir(submit_dir) as (cwd, swap):
        for stmt in statements(text):
            try:
                ads.extend(_jobs(stmt, cluster_id, len(ads), qdate))
            except TranslationError:
                raise
            except Exception as exc:
                message = " ".join(str(exc).split()) or type(exc).__name__
                raise TranslationError(f"HTCondor refused the description: {message}", line=stmt.line) from None
            if len(ads) > max_procs:
                raise TranslationError(f"more than {max_procs} jobs in one submission", line=stmt.line)
        return [swap(ad) for ad in ads] if cwd != submit_dir else ads


@contextlib.contextmanager
def _submit_dir(submit_dir: str) -> Iterator[tuple[str, Callable[[AdView], AdView]]]:
    """Run in ``submit_dir``; where it does not exist here (translating away from the storage), an
    empty private stand-in plays its part and its path is swapped back in the ads' paths."""
    if os.path.isdir(submit_dir):
        with contextlib.chdir(submit_dir):
            yield submit_dir, lambda ad: ad
        return
    with tempfile.TemporaryDirectory(prefix="bb-submit-") as stand_in, contextlib.chdir(stand_in):
        real = os.getcwd()

        def swap(ad: AdView) -> AdView:
            def fix(value: object) -> object:
                if isinstance(value, str) and (value == real or value.startswith(real + "/")):
                    return submit_dir + value[len(real) :]
                return value

            return AdView({k: fix(v) for k, v in ad.values.items()})

        yield real, swap
