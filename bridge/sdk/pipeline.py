"""``Pipeline``: a DAG of steps (each a JobSpec, arrays included) with after_ok / after_any /
after_not_ok edges, fan-out and fan-in. Pure: the definition, its checks, and when a step may run.

Readiness follows Slurm's own rules, so a pipeline means the same on every backend: an edge of kind
afterok holds once every listed step ended ok and can never hold once one ended otherwise;
afternotok the reverse; afterany once all ended. A step whose edge can never hold is not run
(Slurm's reason, DependencyNeverSatisfied), and neither is anything waiting on it to succeed.
Running it (``Pipeline.run``) lives in pipeline_run.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from bridge.sdk.backend import After
from bridge.sdk.errors import InvalidSpec
from bridge.sdk.spec import JobSpec
from bridge.sdk.status import JobStatus

if TYPE_CHECKING:
    from bridge.sdk.client import Client
    from bridge.sdk.pipeline_run import PipelineRun

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
NEVER_REASON: Final = "DependencyNeverSatisfied"


class Readiness(StrEnum):
    WAIT = "wait"
    READY = "ready"
    NEVER = "never"


def _ok(s: JobStatus) -> bool:
    return s.ok


def _bad(s: JobStatus) -> bool:
    return s.final and not s.ok


def _ended(s: JobStatus) -> bool:
    return s.final


def _never(s: JobStatus) -> bool:
    return False


# edge kind -> (an upstream status that satisfies it, one that makes it impossible)
_EDGE: Final[Mapping[After, tuple[Callable[[JobStatus], bool], Callable[[JobStatus], bool]]]] = {
    After.OK: (_ok, _bad),
    After.NOT_OK: (_bad, _ok),
    After.ANY: (_ended, _never),
}


@dataclass(frozen=True)
class Step:
    name: str
    spec: JobSpec
    after: tuple[tuple[After, tuple[str, ...]], ...] = ()

    @property
    def upstream(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for _, names in self.after for n in names))


@dataclass
class Pipeline:
    """Steps by name, in the order they were added (a topological order: edges point backwards)."""

    name: str
    steps: dict[str, Step] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidSpec({"pipeline": f"name {self.name!r}: use letters, digits, '-' or '_' (at most 63)"})

    def step(
        self,
        name: str,
        spec: JobSpec,
        *,
        after_ok: Iterable[str | Step] = (),
        after_any: Iterable[str | Step] = (),
        after_not_ok: Iterable[str | Step] = (),
    ) -> Step:
        """Add a step; edges name earlier steps (or pass the Step objects ``step()`` returned)."""
        if not _NAME.match(name):
            raise InvalidSpec({f"step {name!r}": "use letters, digits, '-' or '_' (at most 63)"})
        if name in self.steps:
            raise InvalidSpec({f"step {name!r}": "defined twice"})
        after: list[tuple[After, tuple[str, ...]]] = []
        for kind, items in ((After.OK, after_ok), (After.ANY, after_any), (After.NOT_OK, after_not_ok)):
            names = tuple(i.name if isinstance(i, Step) else i for i in items)
            unknown = [n for n in names if n not in self.steps]
            if unknown:  # only earlier steps: the DAG cannot have a cycle
                raise InvalidSpec({f"step {name!r}": f"{kind.value} names unknown or later steps {unknown}"})
            if names:
                after.append((kind, names))
        step = Step(name, spec, tuple(after))
        self.steps[name] = step
        return step

    def key(self, step: str) -> str:
        """The idempotency key of a step: re-running the pipeline adopts what this key made."""
        return f"{self.name}.{step}"

    def downstream(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {name: [] for name in self.steps}
        for step in self.steps.values():
            for up in step.upstream:
                out[up].append(step.name)
        return out

    def run(self, client: Client, *, wait: bool = False, timeout: float | None = None) -> PipelineRun:
        """Submit (adopting steps a previous run made), and with ``wait`` block until every step ended."""
        from bridge.sdk.pipeline_run import PipelineRun

        run = PipelineRun(self, client.backend)
        run.start()
        if wait:
            run.wait(timeout)
        return run

    # --- files -------------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Pipeline:
        """``{"name": ..., "steps": [{"name", "script" | "command", "after_ok": [...], ...}]}``."""
        pipeline = cls(str(data.get("name", "")))
        for raw in data.get("steps") or []:
            options = dict(raw)
            name = str(options.pop("name", ""))
            edges = {k: options.pop(k, ()) for k in ("after_ok", "after_any", "after_not_ok")}
            script, command = options.pop("script", None), options.pop("command", None)
            if (script is None) == (command is None):
                raise InvalidSpec({f"step {name!r}": "give exactly one of script or command"})
            spec = JobSpec.script(script, **options) if script is not None else JobSpec.command(command, **options)
            pipeline.step(name, spec, **edges)
        if not pipeline.steps:
            raise InvalidSpec({"steps": "a pipeline needs at least one step"})
        return pipeline


def readiness(step: Step, statuses: Mapping[str, JobStatus | None]) -> Readiness:
    """May ``step`` run, given its upstream steps' latest statuses (None: not submitted yet)?"""
    waiting = False
    for kind, names in step.after:
        satisfies, impossible = _EDGE[kind]
        seen = [statuses.get(n) for n in names]
        if any(s is not None and impossible(s) for s in seen):
            return Readiness.NEVER
        waiting |= not all(s is not None and satisfies(s) for s in seen)
    return Readiness.WAIT if waiting else Readiness.READY
