"""The bridge's state in a Slurm job's AdminComment (only administrators can write it; the owner reads it).

Format: ``batch-bridge[v1 KEY=VALUE... FLAG...] text``. job_submit.lua writes the first one
(``b`` = the user's own --begin as epoch seconds, 0 for none); the daemon rewrites it whole,
keeping that field. Flags: ``rel`` (released to Slurm), then the
outcome ``done=STATE exit=N sig=N`` in exactly that order (the gateway shim's sed reads it), or
``noout`` (ended without the bridge's outcome). The text after ``]`` is for people: the pending
reason, the node, the outcome's reason and accounting detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from bridge.domain.lifecycle import Outcome
from bridge.domain.states import STATE_TO_SLURM, JobState

PREFIX: Final = "batch-bridge[v1"
MAX_TEXT: Final = 900  # AdminComment is free text, but squeue columns and people prefer it short
# A payload too big for Extra (1024 bytes) follows the marker in AdminComment until the job is taken in.
PAYLOAD_HEAD = "batch-bridge-script v1 "
_MARKER = re.compile(r"^batch-bridge\[v1((?: [a-z]+(?:=[^ \]]*)?)*)\] ?(.*)$", re.S)
_TO_STATE: Final = {name: state for state, name in STATE_TO_SLURM.items() if state is not JobState.HELD}


@dataclass(frozen=True)
class Marker:
    begin: int = 0
    array: str = ""  # the whole array's indexes ("0-9"), kept for its tasks once they are split out
    released: bool = False
    done: str | None = None  # Slurm state name of the outcome
    exit_code: int = 0
    signal: int = 0
    err: str = ""  # for a job refused before it ran: the stderr file the shim appends the reason to
    unaccounted: bool = False
    text: str = ""

    @property
    def outcome_known(self) -> bool:
        return self.done is not None or self.unaccounted

    def render(self) -> str:
        parts = [PREFIX, f" b={self.begin}"]
        if self.array:
            parts.append(f" arr={self.array}")
        if self.released:
            parts.append(" rel")
        if self.done is not None:
            parts.append(f" done={self.done} exit={self.exit_code} sig={self.signal}")
            if self.err:
                parts.append(f" err={self.err}")
        if self.unaccounted:
            parts.append(" noout")
        text = " ".join(self.text.split())
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1] + "…"
        return "".join(parts) + "] " + text

    def with_text(self, text: str) -> Marker:
        return replace(self, text=text)

    def with_outcome(self, outcome: Outcome) -> Marker:
        detail = " ".join(f"{k}={v}" for k, v in outcome.detail)
        text = outcome.reason + (f" [{detail}]" if detail else "")
        return replace(
            self,
            released=True,
            done=STATE_TO_SLURM[outcome.state],
            exit_code=outcome.exit_code,
            signal=outcome.signal,
            text=text,
        )

    @property
    def state(self) -> JobState | None:
        return _TO_STATE.get(self.done) if self.done else None


def parse(admin_comment: str | None) -> Marker | None:
    """The marker in an AdminComment, or None when the job was never bridged (or it was overwritten)."""
    if not admin_comment:
        return None
    m = _MARKER.match(admin_comment)
    if m is None:
        return None
    fields: dict[str, str] = {}
    flags: set[str] = set()
    for item in m.group(1).split():
        key, eq, value = item.partition("=")
        if eq:
            fields[key] = value
        else:
            flags.add(key)
    try:
        return Marker(
            begin=int(fields.get("b", "0")),
            array=fields.get("arr", ""),
            released="rel" in flags,
            done=fields.get("done"),
            exit_code=int(fields.get("exit", "0")),
            signal=int(fields.get("sig", "0")),
            err=fields.get("err", ""),
            unaccounted="noout" in flags,
            text=m.group(2).split("\n" + PAYLOAD_HEAD, 1)[0],
        )
    except ValueError:
        return None
