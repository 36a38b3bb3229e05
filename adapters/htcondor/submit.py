"""A submit description -> job ads, made by HTCondor's own submit code (the v1 bindings' Submit).

The bindings expand macros and one ``queue`` statement; condor_submit makes one proc per statement,
so a description with several ``queue`` lines is cut into one description per statement (each
keeping every line above it) and the procs are numbered on, as condor_submit does. Relative paths
resolve against the submit directory and an ``initialdir`` must exist, as with condor_submit.

A description is untrusted input parsed on the bridge host, so before HTCondor's code sees it:

- every form that runs a command where the description is parsed is refused, with its name
  (``include : CMD |``, ``include command : CMD``, ``queue ... from CMD |``); so are file includes,
  which read the bridge host's files, ``$ENV()``, which reads the bridge's environment, and item
  sources built from macros (a macro can end in ``|``). ``getenv`` is neutralised with a warning:
  the environment here is the bridge's, not the submitter's;
- attributes that belong to the schedd or the bridge (``+Managed``, ``+JobStatus``, ...) are refused;
- procs are counted before anything is expanded (``queue N``, item lists, item files, ``matching``
  globs) and more than ``max_procs`` is refused;
- HTCondor's code then runs in a child of the expander server (``adapters.htcondor.expander``) with
  an address-space and a wall-clock limit and a clean environment, so a macro bomb, a crash in the
  bindings or a pathological description costs one bounded child, never the daemon.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import operator
import os
import re
import select
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.htcondor.ad import AdView, view_of
from adapters.htcondor.settings import CondorSettings
from bridge.domain.errors import TranslationError

_QUEUE = re.compile(r"^\s*queue(\s|$)", re.IGNORECASE)
_INCLUDE = re.compile(r"^\s*include\b(?!\s*=)", re.IGNORECASE)
_ASSIGN = re.compile(r"^\s*(?P<custom>\+|my\.)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)\s*=(?P<value>.*)$", re.IGNORECASE)
_CUSTOM = re.compile(r"^\s*(\+|my\.)", re.IGNORECASE)
_ENV_MACRO = re.compile(r"\$\(?\s*ENV\s*\(", re.IGNORECASE)
_MODE = re.compile(r"(?:^|\s)(in|from|matching)(?=\s|\(|$)", re.IGNORECASE)
_SLICE = re.compile(r"^\[[-0-9:\s]*\]\s*")
_FALSE = ("false", "no", "0", "")
# condor_submit -dry-run style cost bound: each statement re-reads every line above it.
_MAX_STATEMENT_BYTES = 64 * 1024 * 1024

# Attributes a description may not set with +Name / MY.Name: they belong to the schedd, the
# bridge's external-manager protocol or the authenticated identity (DESIGN: "+Iwd" really replaces
# the working directory, "+JobStatus = 4" overrides hold; the schedd transform is the second line).
_SCHEDD = "it is the schedd's record of the job"
RESERVED_ATTRIBUTES: dict[str, str] = {
    "managed": "the bridge claims jobs with it",
    "managedmanager": "the bridge claims jobs with it",
    **dict.fromkeys(
        (
            "jobstatus", "lastjobstatus", "enteredcurrentstatus", "jobcurrentstartdate", "jobstartdate",
            "shadowbday", "completiondate", "exitcode", "exitstatus", "exitbysignal", "exitsignal",
            "remotewallclocktime", "numjobstarts", "holdreason", "holdreasoncode", "holdreasonsubcode",
            "removereason", "qdate", "globaljobid", "clusterid", "procid", "jobruncount",
        ),
        _SCHEDD,
    ),
    "owner": "identity comes from the schedd's authenticated record",
    "user": "identity comes from the schedd's authenticated record",
    "iwd": "use initialdir = DIR",
    "cmd": "use executable = PROGRAM",
    "jobuniverse": "use universe = vanilla|container",
}  # fmt: skip
_BRIDGE_ATTRIBUTE_PREFIX = "batchbridge"


@dataclass(frozen=True)
class Statement:
    text: str  # the description up to and including one queue statement
    line: int  # 1-based line of that queue statement
    queue: str = ""  # the queue line itself


@dataclass(frozen=True)
class QueueSpec:
    """One queue statement, as written: ``queue [count] [vars] [in|from|matching [slice] source]``."""

    count: str | None
    mode: str | None
    source: str

    @property
    def inline(self) -> bool:
        return self.source.startswith("(")


@dataclass(frozen=True)
class Screened:
    statements: tuple[Statement, ...]
    warnings: tuple[str, ...] = ()


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


def queue_spec(line: str) -> QueueSpec:
    args = _QUEUE.sub("", line, count=1).strip()
    match = _MODE.search(args)
    head = args[: match.start()] if match else args
    source = _SLICE.sub("", args[match.end() :].strip()) if match else ""
    first = head.split()[0] if head.split() else None
    count = first if first is not None and (first.isdigit() or "$" in first) else None
    return QueueSpec(count=count, mode=match.group(1).lower() if match else None, source=source)


def _refuse(message: str, line: int) -> TranslationError:
    return TranslationError(message, line=line)


def _check_queue(spec: QueueSpec, number: int) -> None:
    if spec.mode in ("from", "matching") and not spec.inline:
        if spec.source.rstrip().endswith("|"):
            raise _refuse(
                "queue ... from COMMAND | would run COMMAND on the bridge host: list the items in the "
                "description (queue ... from ( ... )) or in a file on site storage",
                number,
            )
        if "$" in spec.source:
            raise _refuse(f"queue ... {spec.mode}: write the item source out; macros there are not expanded", number)


def _check_assignment(match: re.Match[str], number: int) -> None:
    key = match.group("key").lower()
    if match.group("custom"):
        why = RESERVED_ATTRIBUTES.get(key)
        if why is None and key.startswith(_BRIDGE_ATTRIBUTE_PREFIX):
            why = "it belongs to batch-bridge"
        if why is not None:
            raise _refuse(f"attribute {match.group('key')} may not be set in a submit description: {why}", number)


def _include_refusal(line: str) -> str:
    body = line.strip()
    if body.endswith("|") or re.match(r"include\s+command\b", body, re.IGNORECASE):
        return (
            "include with a command (include : COMMAND | / include command : COMMAND) would run it on the bridge host"
        )
    return "include : FILE would read a file on the bridge host: put its lines into the description"


def screen(text: str, settings: CondorSettings | None = None) -> Screened:
    """Refuse what may not reach HTCondor's parser, neutralise getenv, cut at each queue statement."""
    settings = settings or CondorSettings()
    if "\0" in text:
        raise TranslationError("submit description contains a NUL byte")
    if len(text.encode("utf-8", "surrogateescape")) > settings.max_description_bytes:
        raise TranslationError(f"submit description is larger than {settings.max_description_bytes} bytes")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad_line = text.count("\n", 0, exc.start) + 1
        raise TranslationError(
            "submit description is not valid UTF-8; convert it (iconv -t UTF-8)", line=bad_line
        ) from None
    warnings: list[str] = []
    lines: list[tuple[int, str]] = []
    for number, line in _logical_lines(text.replace("\r\n", "\n")):
        if line.lstrip().startswith("#"):
            continue
        if _ENV_MACRO.search(line):
            raise _refuse("$ENV() would read the bridge's environment, not yours: write the value out", number)
        if _INCLUDE.match(line):
            raise _refuse(_include_refusal(line), number)
        if _QUEUE.match(line):
            _check_queue(queue_spec(line), number)
        elif _CUSTOM.match(line) and _ASSIGN.match(line) is None:
            raise _refuse("write attribute names out (+Name = value): a macro could name a reserved one", number)
        elif (match := _ASSIGN.match(line)) is not None:
            _check_assignment(match, number)
            if not match.group("custom") and match.group("key").lower() == "getenv":
                if match.group("value").strip().lower() not in _FALSE:
                    warnings.append(
                        "getenv: the environment condor_submit ran in is not known to the bridge; no variables "
                        "are inherited (set them with environment = ...)"
                    )
                line = "getenv = false"
        lines.append((number, line))
    found = statements_of(lines)
    if len(found) * len(text) > _MAX_STATEMENT_BYTES:
        raise TranslationError(f"{len(found)} queue statements in a description this long: use one queue statement")
    return Screened(tuple(found), tuple(warnings))


def statements_of(lines: list[tuple[int, str]]) -> list[Statement]:
    """Cut logical lines at each queue statement (inline ``from (`` item blocks included)."""
    body: list[str] = []
    out: list[Statement] = []
    items = iter(lines)
    for number, line in items:
        if not _QUEUE.match(line):
            body.append(line)
            continue
        block = [line]
        if "(" in line and ")" not in line:
            for _, more in items:
                block.append(more)
                if ")" in more:
                    break
        out.append(Statement("\n".join([*body, *block]) + "\n", number, line))
    if not out:
        raise TranslationError("submit description has no queue statement")
    return out


def statements(text: str) -> list[Statement]:
    return statements_of(_logical_lines(text))


# --- counting, in the child, before anything is expanded -----------------------------------------


def _count(submit: Any, spec: QueueSpec, line: int) -> int:
    if spec.count is None:
        return 1
    text = spec.count
    if "$" in text:
        # Expanded by HTCondor's own macro code; a plain macro (no +) never becomes an attribute.
        # (Deleting a key from a v1 Submit segfaults, 24.x bindings: the key stays.)
        submit["BatchBridgeQueueCount"] = text
        text = str(submit.expand("BatchBridgeQueueCount")).strip()
    if not text.isascii() or not text.isdigit():
        raise _refuse(f"queue count {spec.count!r} is not a whole number", line)
    return int(text) if len(text.lstrip("0")) <= 12 else 10**12  # beyond any max_procs, cheaply


def _file_lines(path: str, limit_bytes: int, line: int) -> int:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _refuse(f"queue ... from {path}: {exc.strerror}", line) from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(f"queue ... from {path}: not a regular file", line)
    if info.st_size > limit_bytes:
        raise _refuse(f"queue ... from {path}: larger than {limit_bytes} bytes", line)
    with open(path, "rb") as items:
        return sum(1 for row in items if row.strip())


def _glob_count(source: str, limit: int) -> int:
    words = [w for w in re.split(r"[\s,]+", source) if w and w.lower() not in ("files", "dirs")]
    found = itertools.chain.from_iterable(glob.iglob(w) for w in words)
    return sum(1 for _ in itertools.islice(found, limit + 1))


def _item_count(spec: QueueSpec, settings: CondorSettings, line: int) -> int | None:
    """How many items the statement iterates over, without letting the bindings read them first."""
    if spec.mode is None:
        return None
    if spec.mode == "matching":
        return _glob_count(spec.source, settings.max_procs)
    if spec.mode == "from" and not spec.inline:
        return _file_lines(spec.source.strip(), settings.max_description_bytes, line)
    return None  # an inline list: bounded by the description's size, counted after itemdata()


def _items(submit: Any, spec: QueueSpec) -> list[dict[str, str]] | None:
    """Item dicts for one statement (keyed by the queue's variables), or None without items."""
    if spec.mode is None:
        return None
    qargs = str(submit.getQArgs())
    match = _MODE.search(qargs)
    names = [n for n in re.split(r"[\s,]+", qargs[: match.start()] if match else "") if n]
    if names and (names[0].isdigit() or "$" in names[0]):
        names = names[1:]
    names = names or ["Item"]
    raw = submit.itemdata()
    return [i if isinstance(i, dict) else {names[0]: str(i)} for i in (raw or [])]


@dataclass
class _Run:
    settings: CondorSettings
    cluster_id: int
    qdate: int
    ads: list[AdView] = field(default_factory=list)

    def room(self, n: int, line: int) -> None:
        if len(self.ads) + n > self.settings.max_procs:
            raise _refuse(f"more than {self.settings.max_procs} jobs in one submission", line)


def _statement_ads(run: _Run, stmt: Statement) -> list[AdView]:
    from adapters.htcondor.bindings import htcondor

    submit = htcondor.Submit(stmt.text)
    spec = queue_spec(stmt.queue)
    count = _count(submit, spec, stmt.line)
    known = _item_count(spec, run.settings, stmt.line)
    run.room(count * (1 if known is None else known), stmt.line)
    items = _items(submit, spec)
    if items is not None:
        run.room(count * len(items), stmt.line)
        if not items:
            return []
    jobs = submit.jobs(
        count=count if items else 0,  # 0: the statement's own count (already checked)
        itemdata=iter(items) if items else None,
        clusterid=run.cluster_id,
        procid=len(run.ads),
        qdate=run.qdate,
    )
    views = [view_of(ad) for ad in itertools.islice(jobs, run.settings.max_procs + 1)]
    reads = _reads(spec)
    return [replace(v, reads=reads) for v in views] if reads else views


def _reads(spec: QueueSpec) -> tuple[str, ...]:
    """Files and directories the statement made the bridge read: the policy checks them like any path."""
    if spec.mode == "from" and not spec.inline:
        return (os.path.abspath(spec.source.strip()),)
    if spec.mode == "matching":
        words = [w for w in re.split(r"[\s,]+", spec.source) if w and w.lower() not in ("files", "dirs")]
        return tuple(sorted({os.path.dirname(os.path.abspath(w)) for w in words}))
    return ()


def _expand_here(
    screened: Screened, submit_dir: str, cluster_id: int, qdate: int, settings: CondorSettings
) -> list[AdView]:
    run = _Run(settings=settings, cluster_id=cluster_id, qdate=qdate)
    with _submit_dir(submit_dir) as (cwd, swap):
        for stmt in screened.statements:
            try:
                made = _statement_ads(run, stmt)
            except TranslationError:
                raise
            except MemoryError:
                raise  # the expander's child reports it
            except Exception as exc:
                message = " ".join(str(exc).split()) or type(exc).__name__
                raise TranslationError(f"HTCondor refused the description: {message}", line=stmt.line) from None
            run.room(len(made), stmt.line)
            run.ads.extend(made)
        return [swap(ad) for ad in run.ads] if cwd != submit_dir else run.ads


_ABSENT = "\0absent"  # a column an ad lacks (no evaluated value can contain a NUL)
_NO_LITERAL: frozenset[str] = frozenset()


def memory_message(limit_mib: int) -> str:
    return f"expanding the description needs more than {limit_mib} MiB: refused"


def expand_request(request: dict[str, Any]) -> dict[str, Any]:
    """Run in the expander's child: the reply is plain JSON (values, literal names, reads per ad)."""
    settings = CondorSettings.model_validate(request["settings"])
    screened = Screened(
        statements=tuple(Statement(text, line, queue) for text, line, queue in request["statements"]),
        warnings=tuple(request["warnings"]),
    )
    try:
        ads = _expand_here(screened, request["submit_dir"], request["cluster_id"], request["qdate"], settings)
    except TranslationError as exc:
        return {"error": exc.message, "line": exc.line}
    # Columns, not one object per ad: half the encoding and decoding of 10,000 ads. The rare
    # per-ad extras (literal zero sizes, files read) go in sparse maps keyed by the ad's index.
    keys = sorted({k for ad in ads for k in ad.values})
    uniform = len(keys) > 1 and all(len(ad.values) == len(keys) for ad in ads)
    if uniform:  # one flat array: no list per ad to allocate (and keep alive) on the other side
        get = operator.itemgetter(*keys)
        rows: list[Any] = [value for ad in ads for value in get(ad.values)]
    else:
        rows = [[ad.values.get(k, _ABSENT) for k in keys] for ad in ads]
    return {
        "keys": keys,
        "rows": rows,
        "uniform": uniform,
        "literal": {str(i): sorted(ad.literal) for i, ad in enumerate(ads) if ad.literal},
        "reads": {str(i): list(ad.reads) for i, ad in enumerate(ads) if ad.reads},
    }


class _Expander:
    """The client side of ``adapters.htcondor.expander``: one server per process, started on first
    use with a clean environment, restarted if it dies or stops answering; one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        env = {"PATH": "/usr/bin:/bin", "CONDOR_CONFIG": "/dev/null", "PYTHONPATH": path, "LANG": "C.UTF-8"}
        return subprocess.Popen(
            [sys.executable, "-m", "adapters.htcondor.expander"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            close_fds=True,
        )

    def _stop(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        from adapters.htcondor.expander import read_frame, write_frame

        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None
            assert proc.stdout is not None
            try:
                write_frame(proc.stdin, json.dumps(request).encode())
                ready = select.select([proc.stdout], [], [], timeout + 10)[0]
                raw = read_frame(proc.stdout) if ready else None
            except OSError:
                raw = None
            if raw is None:
                self._stop()
                raise TranslationError("the HTCondor expander did not answer: refused")
        reply: dict[str, Any] = json.loads(raw)
        return reply

    def forget(self) -> None:
        """In a forked child: the server's pipes belong to the parent; start a new one if needed."""
        self._lock = threading.Lock()
        self._proc = None


_EXPANDER = _Expander()
os.register_at_fork(after_in_child=_EXPANDER.forget)


def job_ads(
    text: str, submit_dir: str, cluster_id: int = 1, qdate: int = 1, settings: CondorSettings | None = None
) -> list[AdView]:
    """Every proc of a submit description, as condor_submit would queue them (evaluated views)."""
    settings = settings or CondorSettings()
    if not submit_dir.startswith("/"):
        raise TranslationError(f"submit directory {submit_dir!r} must be absolute")
    screened = screen(text, settings)
    request = {
        "statements": [[s.text, s.line, s.queue] for s in screened.statements],
        "warnings": list(screened.warnings),
        "submit_dir": submit_dir,
        "cluster_id": cluster_id,
        "qdate": qdate,
        "settings": settings.model_dump(),
    }
    reply = _EXPANDER.call(request, settings.expand_timeout_s)
    if "error" in reply:
        raise TranslationError(str(reply["error"]), line=reply.get("line"))
    keys, warnings, literal, reads = reply["keys"], screened.warnings, reply["literal"], reply["reads"]
    if reply["uniform"]:  # every ad has every column: the common case, and the cheap one
        flat, width = iter(reply["rows"]), len(keys)
        count = len(reply["rows"]) // width if width else 0
        views = [
            AdView(dict(zip(keys, itertools.islice(flat, width), strict=True)), _NO_LITERAL, (), warnings)
            for _ in range(count)
        ]
    else:
        views = [
            AdView({k: v for k, v in zip(keys, row, strict=True) if v != _ABSENT}, _NO_LITERAL, (), warnings)
            for row in reply["rows"]
        ]
    for index in {*literal, *reads}:
        i = int(index)
        views[i] = replace(views[i], literal=frozenset(literal.get(index, ())), reads=tuple(reads.get(index, ())))
    return views


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

        def fix(value: object) -> object:
            if isinstance(value, str) and (value == real or value.startswith(real + "/")):
                return submit_dir + value[len(real) :]
            return value

        def swap(ad: AdView) -> AdView:
            return replace(
                ad, values={k: fix(v) for k, v in ad.values.items()}, reads=tuple(map(str, map(fix, ad.reads)))
            )

        yield real, swap
