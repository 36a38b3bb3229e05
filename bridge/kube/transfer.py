"""HTCondor's file transfer, done by the pod's entrypoint (pure text, no I/O): what the starter does
around a job with ``should_transfer_files = YES``.

In: the inputs (the executable first) are copied into the scratch directory, which becomes the job's
working directory; their copies are dated back to 1970, so that afterwards "made or changed by the
job" is simply "newer than 1970" (no clock races, whole-second ``test -nt`` suffices).
Out, when the job exits by itself (not on TERM: HTCondor transfers nothing for an evicted or
removed job): each listed output, else each top-level file made or changed, goes to the working
directory or to its remap target. The copies run as the job's own user, in the pod: the bridge
itself never reads or writes the user's files. Needs ``cp`` and ``touch`` in the image.
"""

from __future__ import annotations

import posixpath
import shlex

from bridge.domain import wellknown as wk
from bridge.domain.ir import BatchJob, Command, FileTransfer

BOX = wk.SCRATCH_MOUNT
OLD = "197001020000"  # touch -t: a time before any job, in any time zone
STAMP = '"${TMPDIR:-/tmp}/.batch-bridge-transfer"'


def executable(job: BatchJob) -> str | None:
    """Where the transferred executable runs from (None: the job runs it in place)."""
    payload = job.payload
    if job.transfer is None or not isinstance(payload, Command) or payload.in_image:
        return None
    return posixpath.join(BOX, posixpath.basename(payload.executable))


def _copy_in(path: str) -> str:
    source = path.rstrip("/") + "/." if path.endswith("/") else path  # "dir/": its contents
    failed = shlex.quote(f"transfer_input_files: cannot copy {path}")
    return f"cp -RH -- {shlex.quote(source)} {BOX}/ || bb_fail {failed}"


def lines_in(transfer: FileTransfer) -> list[str]:
    entered = shlex.quote(f"cannot enter the scratch directory {BOX}")
    return [
        f"cd {BOX} || bb_fail {entered}",
        *(_copy_in(p) for p in transfer.inputs),
        f"touch -c -t {OLD} ./* ./.[!.]* ./..?* 2>/dev/null",
        f": > {STAMP} && touch -t {OLD} {STAMP} || bb_fail 'cannot write the transfer stamp in $TMPDIR'",
    ]


def _warn(text: str) -> str:
    return f"echo {shlex.quote('batch-bridge: ' + text)} >&2"


def _listed_out(name: str, dest: str) -> list[str]:
    src = shlex.quote("./" + name)
    return [
        f"if [ -e {src} ]; then",
        f"  cp -R -- {src} {shlex.quote(dest)} || {_warn(f'cannot transfer {name} back to {dest}')}",
        f"else {_warn(f'transfer_output_files: {name} was not made (HTCondor would hold the job)')}; fi",
    ]


def lines_out(transfer: FileTransfer, working_dir: str) -> list[str]:
    """Run after the job (``$bb_term`` set: it was stopped, so nothing comes back)."""
    remap = dict(transfer.remaps)
    home = working_dir.rstrip("/") + "/"
    body: list[str] = []
    if transfer.outputs is not None:
        for name in transfer.outputs:
            body += _listed_out(name, remap.get(name, home))
    else:
        cases = [f"    {shlex.quote(n)}) bb_to={shlex.quote(d)} ;;" for n, d in transfer.remaps]
        body += [
            "for bb_f in * .[!.]* ..?*; do",
            f'  [ -f "$bb_f" ] && [ "$bb_f" -nt {STAMP} ] || continue',
            '  case "$bb_f" in',
            *cases,
            f'    *) bb_to={shlex.quote(home)}"$bb_f" ;;',
            "  esac",
            '  cp -- "$bb_f" "$bb_to" || echo "batch-bridge: cannot transfer $bb_f back to $bb_to" >&2',
            "done",
        ]
    return ['if [ -z "$bb_term" ]; then', *("  " + line for line in body), "fi"]
