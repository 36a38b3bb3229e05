"""A JobSpec -> the HTCondor submit description the schedd takes, and the script file it runs (pure).

The job goes into the bridged selection with ``+WantKubernetes = true`` (the site's BridgeByUser
transform pre-claims it for the bridge daemon). The script is the spec's own, written by the backend
to a content-named file under the working directory (site storage: the pod runs it at that path);
the SDK adds ``export`` lines for the spec's environment (as on Slurm: values stay data) and, for a
shell, ``exec 2>&1`` so that an unnamed stderr joins stdout as on the other backends (HTCondor's
default is /dev/null). An array is one cluster: ``queue N`` for indexes 0..N-1, else one proc per
index (item data ``SdkIndex``); the job reads its index from ``$BATCH_BRIDGE_ARRAY_INDEX``.
Nothing of the spec is parsed as submit language: each value is checked to be one plain line.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from typing import Final

from bridge.domain.policy import SitePolicy
from bridge.sdk import slurm_script as sc
from bridge.sdk.errors import InvalidSpec
from bridge.sdk.spec import JobSpec

BACKEND: Final = "htcondor"
KEY_ATTR: Final = "BatchBridgeSdkKey"  # not Bridge*: the site's BridgeStrip transform deletes those
SCRIPT_DIR: Final = ".batch-bridge"
_INDEX = re.compile(r"\{index(?::0\d+d?)?\}")
_KEY = re.compile(r"^[A-Za-z0-9._:/+-]{1,200}$")
# spec fields the htcondor backend has no honest mapping for -> why
UNSUPPORTED: Final = {
    "queue": "HTCondor has no partitions (the schedd is the queue)",
    "gpu_type": "no GPU type request on the htcondor backend (use gpus only)",
    "throttle": "no array throttle on the htcondor backend",
}


@dataclass(frozen=True)
class Submission:
    description: dict[str, str]
    script_path: str
    script: str
    items: tuple[dict[str, str], ...] | None  # one per proc when the indexes are not 0..N-1
    count: int


def _plain(field: str, value: str) -> str:
    if "\n" in value or "\r" in value or '"' in value:
        raise InvalidSpec({field: "must be one line without double quotes on the htcondor backend"})
    return value


def _pattern(field: str, path: str, index: str) -> str:
    """``{index}`` -> the proc's index macro; a literal ``$`` would be a submit macro: refused."""
    if "$" in path:
        raise InvalidSpec({field: "'$' would be expanded by condor_submit; not allowed on the htcondor backend"})
    return _INDEX.sub(index, _plain(field, path))


def script_text(spec: JobSpec, policy: SitePolicy) -> str:
    text = sc.script(spec, policy, backend=BACKEND, image_line=False)
    if spec.stderr is None and sc.is_shell(text):
        shebang, _, rest = text.partition("\n")
        text = f"{shebang}\nexec 2>&1\n{rest}"
    return text


def script_path(working_dir: str, name: str, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return posixpath.join(working_dir, SCRIPT_DIR, f"{name}-{digest}.sh")


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def quote(value: str) -> str:
    """A ClassAd string literal of a checked value (no quotes, backslashes or newlines inside)."""
    return f'"{value}"'


def submission(spec: JobSpec, policy: SitePolicy, *, cwd: str, key: str | None) -> Submission:
    problems = {f: why for f, why in UNSUPPORTED.items() if getattr(spec, f) is not None}
    if key is not None and not valid_key(key):
        problems["key"] = "letters, digits and ._:/+- only (at most 200)"
    if problems:
        raise InvalidSpec(problems)
    working_dir = posixpath.normpath(spec.working_dir or cwd)
    text = script_text(spec, policy)
    path = script_path(working_dir, spec.name, text)
    indexes = spec.array
    contiguous = indexes is None or indexes == tuple(range(len(indexes)))
    index = "$(Process)" if contiguous else "$(SdkIndex)"
    stdout = spec.stdout or (f"{spec.name}-$(Cluster)_{index}.out" if indexes else f"{spec.name}-$(Cluster).out")
    d: dict[str, str] = {
        "executable": path,
        "initialdir": _plain("working_dir", working_dir),
        "output": stdout if not spec.stdout else _pattern("stdout", spec.stdout, index),
        "batch_name": spec.name,
        "request_cpus": str(spec.cpus),
        "should_transfer_files": "NO",
        "+WantKubernetes": "true",
    }
    optional = {
        "error": _pattern("stderr", spec.stderr, index) if spec.stderr else None,
        "input": _pattern("stdin", spec.stdin, index) if spec.stdin else None,
        "request_memory": str(spec.memory_mib) if spec.memory_mib else None,
        "request_gpus": str(spec.gpus) if spec.gpus else None,
        "allowed_execute_duration": str(spec.time_limit_s) if spec.time_limit_s else None,
        "accounting_group": _plain("account", spec.account) if spec.account else None,
        "container_image": _plain("image", spec.image) if spec.image else None,
        "environment": f"BATCH_BRIDGE_ARRAY_INDEX={index}" if indexes else None,
        f"+{KEY_ATTR}": quote(key) if key else None,
    }
    d.update({k: v for k, v in optional.items() if v is not None})
    items = None if contiguous or indexes is None else tuple({"SdkIndex": str(i)} for i in indexes)
    return Submission(d, path, text, items, len(indexes) if indexes else 1)
