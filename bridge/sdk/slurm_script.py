"""A JobSpec -> the batch script and job description slurmrestd takes (pure).

The script is the spec's own; the SDK adds, after the shebang, a ``#BRIDGE --image=`` line (how any
sbatch user names an image) and ``export`` lines for the spec's environment (quoted, so values are
data: nothing is expanded on submit, and in the job they mean exactly what was given).
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from typing import Any, Final

from bridge.domain.policy import SitePolicy
from bridge.sdk.backend import Dependency
from bridge.sdk.errors import InvalidSpec, PolicyRefused
from bridge.sdk.spec import DEFAULT_SHELL, JobSpec, interpreter

SHELLS: Final = frozenset({"sh", "bash", "dash", "ksh", "zsh"})
KEY_MARK: Final = "batch-bridge-sdk key="
_INDEX = re.compile(r"\{index(?::0(\d+)d?)?\}")


def is_shell(body: str) -> bool:
    return interpreter(body)[-1].rsplit("/", 1)[-1] in SHELLS


def script(spec: JobSpec, policy: SitePolicy, backend: str = "slurm", image_line: bool = True) -> str:
    """The spec's script with the SDK's lines after the shebang (the HTCondor backend names the
    image in the description instead, ``image_line=False``)."""
    body = spec.body if spec.body.startswith("#!") else f"#!{DEFAULT_SHELL}\n{spec.body}"
    shebang, _, rest = body.partition("\n")
    extra = [f"#BRIDGE --image={spec.image}"] if spec.image and image_line else []
    if spec.env:
        if not is_shell(body):
            raise InvalidSpec({"env": f"on the {backend} backend, environment needs a shell script (sh, bash...)"})
        denied = sorted(set(dict(spec.env)) & set(policy.env_denylist))
        if denied:
            raise PolicyRefused(f"environment: setting {', '.join(denied)} is not allowed on this site")
        extra += [f"export {name}={shlex.quote(value)}" for name, value in spec.env]
    return "\n".join([shebang, *extra, rest])


def slurm_pattern(path: str) -> str:
    """``{index}`` -> ``%a`` (``{index:03d}`` -> ``%3a``), a literal % doubled."""
    escaped = path.replace("%", "%%")
    return _INDEX.sub(lambda m: f"%{m.group(1) or ''}a", escaped)


def _array(spec: JobSpec) -> str | None:
    if spec.array is None:
        return None
    return ",".join(map(str, spec.array)) + (f"%{spec.throttle}" if spec.throttle else "")


def dependency(after: Sequence[Dependency]) -> str | None:
    """Slurm's ``--dependency``: every edge must hold (``,``)."""
    return ",".join(f"{d.kind.value}:{':'.join(d.job_ids)}" for d in after if d.job_ids) or None


def default_output(spec: JobSpec) -> str:
    return "slurm-%A_%a.out" if spec.array else "slurm-%j.out"


def description(
    spec: JobSpec, *, cwd: str, partition: str, key: str | None, after: Sequence[Dependency]
) -> dict[str, Any]:
    working_dir = spec.working_dir or cwd
    job: dict[str, Any] = {
        "name": spec.name,
        "partition": spec.queue or partition,
        "current_working_directory": working_dir,
        "environment": ["BATCH_BRIDGE_SDK=1"],  # required by slurmrestd; the spec's own go in the script
        "standard_output": slurm_pattern(spec.stdout) if spec.stdout else default_output(spec),
        "cpus_per_task": spec.cpus,
    }
    optional: dict[str, Any] = {
        "standard_error": slurm_pattern(spec.stderr) if spec.stderr else None,
        "standard_input": slurm_pattern(spec.stdin) if spec.stdin else None,
        "comment": f"{KEY_MARK}{key}" if key else None,
        "time_limit": {"set": True, "number": math.ceil(spec.time_limit_s / 60)} if spec.time_limit_s else None,
        "memory_per_node": {"set": True, "number": spec.memory_mib} if spec.memory_mib else None,
        "tres_per_job": f"gres/gpu{':' + spec.gpu_type if spec.gpu_type else ''}:{spec.gpus}" if spec.gpus else None,
        "array": _array(spec),
        "dependency": dependency(after),
        "account": spec.account,
    }
    job.update({k: v for k, v in optional.items() if v is not None})
    return job


_FIELDS: Final = {"j": "job", "A": "array", "a": "index", "x": "name", "u": "user", "%": "%"}
_PATTERN = re.compile(r"%(\d*)([jAaxu%])")


def expand(pattern: str, cwd: str, values: dict[str, str]) -> str:
    """The file Slurm writes for ``pattern`` (the subset of its %-fields the SDK produces)."""

    def one(match: re.Match[str]) -> str:
        value = values.get(_FIELDS[match.group(2)], "%")
        return value.zfill(int(match.group(1))) if match.group(1) else value

    path = _PATTERN.sub(one, pattern)
    return path if path.startswith("/") else f"{cwd.rstrip('/')}/{path}"
