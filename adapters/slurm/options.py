"""The sbatch option table and a getopt_long-compatible tokenizer.

Every sbatch 24.11 long option is listed, so that abbreviations resolve as sbatch resolves them and
an option sbatch knows but the bridge cannot honour gets a precise message. ``dest`` names the IR
converter in ``adapters.slurm.translate``; options with a ``dest`` of None are refused (or warned
about, by configuration); CLIENT_ONLY options change only the client's behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from bridge.domain.errors import TranslationError


class Arg(Enum):
    NONE = "none"
    REQUIRED = "required"
    OPTIONAL = "optional"


@dataclass(frozen=True)
class Opt:
    long: str
    arg: Arg
    dest: str | None = None  # converter name; None: not supported
    short: str | None = None
    env: str | None = None  # SBATCH_* input variable
    why: str | None = None  # shown when refused


R, N, OPT = Arg.REQUIRED, Arg.NONE, Arg.OPTIONAL
CLIENT_ONLY = "client-only"
WARN = "warn"
KEEP = "keep"  # accounting only: kept in the record (and the IR's extensions), nothing to run differently

SUPPORTED: tuple[Opt, ...] = (
    Opt("account", R, "account", "A", "SBATCH_ACCOUNT"),
    Opt("array", R, "array", "a", "SBATCH_ARRAY_INX"),
    Opt("begin", R, "begin", "b"),
    Opt("chdir", R, "chdir", "D"),
    Opt("comment", R, "comment"),
    Opt("constraint", R, "constraint", "C", "SBATCH_CONSTRAINT"),
    Opt("cpus-per-task", R, "cpus_per_task", "c"),
    Opt("dependency", R, "dependency", "d"),
    Opt("error", R, "error", "e", "SBATCH_ERROR"),
    Opt("exclusive", OPT, "exclusive", None, "SBATCH_EXCLUSIVE"),
    Opt("export", R, "export", None, "SBATCH_EXPORT"),
    Opt("gpus", R, "gpus", "G", "SBATCH_GPUS"),
    Opt("gpus-per-node", R, "gpus_per_node", None, "SBATCH_GPUS_PER_NODE"),
    Opt("gpus-per-task", R, "gpus_per_task", None, "SBATCH_GPUS_PER_TASK"),
    Opt("gres", R, "gres", None, "SBATCH_GRES"),
    Opt("input", R, "input", "i", "SBATCH_INPUT"),
    Opt("job-name", R, "job_name", "J", "SBATCH_JOB_NAME"),
    Opt("mail-type", R, WARN),
    Opt("mail-user", R, WARN),
    Opt("mem", R, "mem", None, "SBATCH_MEM_PER_NODE"),
    Opt("mem-per-cpu", R, "mem_per_cpu", None, "SBATCH_MEM_PER_CPU"),
    Opt("mem-per-gpu", R, "mem_per_gpu", None, "SBATCH_MEM_PER_GPU"),
    Opt("nodes", R, "nodes", "N"),
    Opt("no-requeue", N, "no_requeue", None, "SBATCH_NO_REQUEUE"),
    Opt("ntasks", R, "ntasks", "n"),
    Opt("ntasks-per-node", R, "ntasks_per_node"),
    Opt("open-mode", R, "open_mode", None, "SBATCH_OPEN_MODE"),
    Opt("output", R, "output", "o", "SBATCH_OUTPUT"),
    Opt("parsable", OPT, CLIENT_ONLY),
    Opt("partition", R, "partition", "p", "SBATCH_PARTITION"),
    Opt("qos", R, "qos", "q", "SBATCH_QOS"),
    Opt("quiet", N, CLIENT_ONLY, "Q"),
    Opt("requeue", N, "requeue", None, "SBATCH_REQUEUE"),
    Opt("signal", R, "signal", None, "SBATCH_SIGNAL"),
    Opt("time", R, "time", "t", "SBATCH_TIMELIMIT"),
    Opt("tmp", R, "tmp"),
    Opt("verbose", N, CLIENT_ONLY, "v"),
    Opt("wckey", R, KEEP),
    Opt("wrap", R, CLIENT_ONLY),  # sbatch writes the script from it (adapters.slurm.translate.wrap_script)
)

_FORBIDDEN = "identity comes from Slurm's authenticated record"
_MULTI = "jobs run in one pod on one Kubernetes node"
REFUSED: tuple[Opt, ...] = (
    Opt("uid", R, why=_FORBIDDEN),
    Opt("gid", R, why=_FORBIDDEN),
    Opt("hold", N, short="H"),
    Opt("nodelist", R, short="w", why="Kubernetes chooses the node"),
    Opt("exclude", R, short="x", why="Kubernetes chooses the node"),
    Opt("nodefile", R, short="F", why="Kubernetes chooses the node"),
    Opt("clusters", R, short="M", env="SBATCH_CLUSTERS"),
    Opt("distribution", R, short="m", env="SBATCH_DISTRIBUTION", why=_MULTI),
    Opt("licenses", R, short="L"),
    Opt("no-kill", OPT, short="k", env="SBATCH_NO_KILL"),
    Opt("overcommit", N, short="O", env="SBATCH_OVERCOMMIT"),
    Opt("oversubscribe", N, short="s"),
    Opt("wait", N, short="W", env="SBATCH_WAIT"),
    Opt("reservation", R, env="SBATCH_RESERVATION"),
    Opt("container", R, env="SBATCH_CONTAINER", why="name the image with #BRIDGE --image="),
    Opt("container-id", R),
    *(
        Opt(name, arg)
        for name, arg in (
            ("acctg-freq", R), ("batch", R), ("bb", R), ("bbf", R), ("cluster-constraint", R),
            ("contiguous", N), ("core-spec", R), ("cores-per-socket", R), ("cpu-freq", R),
            ("cpus-per-gpu", R), ("deadline", R), ("delay-boot", R), ("export-file", R), ("extra", R),
            ("extra-node-info", R), ("get-user-env", OPT), ("gpu-bind", R), ("gpu-freq", R),
            ("gpus-per-socket", R), ("gres-flags", R), ("help", N), ("hint", R), ("ignore-pbs", N),
            ("kill-on-invalid-dep", R), ("mcs-label", R), ("mem-bind", R), ("mincpus", R),
            ("network", R), ("nice", OPT), ("ntasks-per-core", R), ("ntasks-per-gpu", R),
            ("ntasks-per-socket", R), ("power", R), ("prefer", R), ("priority", R), ("profile", R),
            ("propagate", OPT), ("reboot", N), ("segment", R), ("sockets-per-node", R),
            ("spread-job", N), ("stepmgr", N), ("switches", R), ("test-only", N), ("thread-spec", R),
            ("threads-per-core", R), ("time-min", R), ("tres-bind", R), ("tres-per-task", R),
            ("usage", N), ("use-min-nodes", N), ("version", N), ("wait-all-nodes", R),
        )
    ),
)  # fmt: skip

ALL: tuple[Opt, ...] = SUPPORTED + REFUSED
BY_LONG = {o.long: o for o in ALL}
BY_SHORT = {o.short: o for o in ALL if o.short}
BY_ENV = {o.env: o for o in ALL if o.env}


@dataclass(frozen=True)
class Parsed:
    opt: Opt
    value: str | None
    spelled: str  # as the user wrote it, for messages


def lookup_long(name: str) -> Opt:
    """Exact name, else the unique option it abbreviates (getopt_long semantics)."""
    if name in BY_LONG:
        return BY_LONG[name]
    matches = [o for long, o in BY_LONG.items() if long.startswith(name)]
    if len(matches) == 1 and name:
        return matches[0]
    if matches:
        names = ", ".join("--" + o.long for o in matches)
        raise TranslationError(f"option --{name} is ambiguous ({names})")
    raise TranslationError(f"unrecognized option --{name}")


def _long(token: str, rest: Iterator[str]) -> Parsed:
    name, eq, value = token[2:].partition("=")
    opt = lookup_long(name)
    if opt.arg is Arg.NONE and eq:
        raise TranslationError(f"option --{opt.long} takes no value")
    if opt.arg is Arg.REQUIRED and not eq:
        value = next(rest, None)  # type: ignore[assignment]
        if value is None:
            raise TranslationError(f"option --{opt.long} requires a value")
    return Parsed(opt, value if (eq or opt.arg is Arg.REQUIRED) else None, token)


def _short(token: str, rest: Iterator[str]) -> Iterator[Parsed]:
    i = 1
    while i < len(token):
        letter = token[i]
        opt = BY_SHORT.get(letter)
        if opt is None:
            raise TranslationError(f"invalid option -{letter}")
        if opt.arg is Arg.NONE or (opt.arg is Arg.OPTIONAL and i + 1 == len(token)):
            yield Parsed(opt, None, "-" + letter)
            i += 1
            continue
        value = token[i + 1 :] or next(rest, None)
        if value is None:
            raise TranslationError(f"option -{letter} requires a value")
        yield Parsed(opt, value, "-" + letter)
        return


def tokenize(args: Sequence[str]) -> Iterator[Parsed]:
    """Parse option words. Stops with an error at the first non-option word."""
    rest = iter(args)
    for token in rest:
        if token.startswith("--") and len(token) > 2:
            yield _long(token, rest)
        elif token.startswith("-") and len(token) > 1:
            yield from _short(token, rest)
        else:
            raise TranslationError(f"unexpected argument {token!r}")
