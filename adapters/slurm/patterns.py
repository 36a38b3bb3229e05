"""sbatch filename patterns (-o/-e/-i) -> PathTemplate.

Known at translation: %j %J %A %u %x %n %t %s %%. Known only where the job runs: %a (array task
id) and %N (node name), kept as placeholders. A number between % and the letter zero-pads (%3a).
A backslash anywhere disables every pattern, as in Slurm. Unknown letters are kept as written.
Deviation: for array tasks %j is the array's job id (the per-task id does not exist yet).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bridge.domain.ir import PathField, PathPart, PathTemplate, Placeholder

_PATTERN = re.compile(r"%(\d{0,2})([A-Za-z%])")


@dataclass(frozen=True)
class PatternContext:
    job_id: str
    user: str
    job_name: str
    is_array: bool
    array_id: str | None = None  # %A of one array task (its own job id is %j)


_KNOWN: dict[str, Callable[[PatternContext], str]] = {
    "j": lambda c: c.job_id,
    "J": lambda c: f"{c.job_id}.batch",
    "A": lambda c: c.array_id or c.job_id,
    "u": lambda c: c.user,
    "x": lambda c: c.job_name,
    "n": lambda c: "0",
    "t": lambda c: "0",
    "s": lambda c: "batch",
}
_RUNTIME = {"a": Placeholder.ARRAY_TASK_ID, "N": Placeholder.NODE_NAME}


def expand(pattern: str, ctx: PatternContext) -> PathTemplate:
    if "\\" in pattern:
        return PathTemplate.literal(pattern.replace("\\", ""))
    parts: list[PathPart] = []
    pos = 0
    for match in _PATTERN.finditer(pattern):
        parts.append(pattern[pos : match.start()])
        pos = match.end()
        width_text, letter = match.groups()
        width = int(width_text) if width_text else 0
        if letter == "%":
            parts.append("%")
        elif letter in _RUNTIME:
            field = _RUNTIME[letter]
            if field is Placeholder.ARRAY_TASK_ID and not ctx.is_array:
                parts.append("4294967294".zfill(width))  # Slurm's NO_VAL for non-array jobs
            else:
                parts.append(PathField(field=field, width=width))
        elif letter in _KNOWN:
            value = _KNOWN[letter](ctx)
            parts.append(value.zfill(width) if value.isdigit() else value)
        else:
            parts.append(match.group(0))
    parts.append(pattern[pos:])
    merged: list[PathPart] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return PathTemplate(parts=tuple(merged) or ("",))
