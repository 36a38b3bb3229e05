"""The pod's entrypoint: a POSIX sh script generated per job (pure text, no I/O).

It does, where the job runs, what slurmstepd/the starter would: enter the working directory, work out
the array task id from the Job's completion index, open the standard streams at the expanded paths
(honouring the open mode), then exec the user's script or executable (or run it and wait, for a
``--signal`` timer or HTCondor's file transfer: ``bridge.kube.transfer``). Only /bin/sh is assumed in
the image; ``sleep`` and ``kill`` only when a ``--signal`` timer is requested, ``cp`` and ``touch``
only with file transfer.
"""

from __future__ import annotations

import shlex

from bridge.domain import wellknown as wk
from bridge.domain.ir import BatchJob, Command, OpenMode, PathField, PathTemplate, Placeholder, Source
from bridge.domain.jobenv import RUNTIME_VARIABLES
from bridge.domain.policy import normalise
from bridge.kube import transfer

NODE_ENV = "BATCH_BRIDGE_NODE_NAME"
_SHELL_VAR = {Placeholder.ARRAY_TASK_ID: "bb_task", Placeholder.NODE_NAME: "bb_node"}
_RUNTIME_VALUE = {
    "SLURM_ARRAY_TASK_ID": "$bb_task",
    "BATCH_BRIDGE_ARRAY_INDEX": "$bb_task",
    "SLURM_JOB_NODELIST": "$bb_node",
    "SLURM_NODELIST": "$bb_node",
    "SLURMD_NODENAME": "$bb_node",
}


def _printf_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "%%")


def path_expr(template: PathTemplate, cwd: str) -> str:
    """A shell word that expands to the path: printf over literal parts and run-time fields."""
    if template.is_literal:
        return shlex.quote(normalise(template.render({}), cwd))
    first = template.parts[0]
    relative = not (isinstance(first, str) and first.startswith("/"))
    fmt: list[str] = [_printf_literal(normalise(".", cwd).rstrip("/") + "/")] if relative else []
    args: list[str] = []
    for part in template.parts:
        if isinstance(part, PathField):
            fmt.append(f"%0{part.width}d" if part.field is Placeholder.ARRAY_TASK_ID and part.width else "%s")
            args.append(f'"${_SHELL_VAR[part.field]}"')
        else:
            fmt.append(_printf_literal(part))
    return f'"$(printf {shlex.quote("".join(fmt))} {" ".join(args)})"'


def _task_lines(job: BatchJob) -> list[str]:
    if job.array is None:
        return ["bb_task=0"]
    if job.array_task is not None:  # one task of the array, in a Job of its own
        return [f"bb_task={job.array_task}"]
    progression = job.array.progression
    if progression is not None:
        start, step = progression
        return [f"bb_task=$(({start} + ${{JOB_COMPLETION_INDEX:-0}} * {step}))"]
    path = f"{wk.CONFIG_MOUNT}/{wk.KEY_ARRAY_INDEXES}"
    return [
        "bb_task= ; bb_i=0",
        "while IFS= read -r bb_t; do",
        '  if [ "$bb_i" -eq "${JOB_COMPLETION_INDEX:-0}" ]; then bb_task=$bb_t; break; fi',
        "  bb_i=$((bb_i + 1))",
        f"done < {path}",
        '[ -n "$bb_task" ] || bb_fail "no array task for completion index ${JOB_COMPLETION_INDEX:-?}"',
    ]


def _stream_lines(job: BatchJob) -> list[str]:
    io, cwd = job.io, job.working_dir
    out_op = ">>" if io.open_mode is OpenMode.APPEND else ">"
    lines: list[str] = []
    if io.stdin is not None:
        lines.append(f"bb_in={path_expr(io.stdin, cwd)}")
        lines.append('command exec <"$bb_in" || bb_fail "cannot open input file $bb_in"')
    else:
        lines.append("exec </dev/null")
    if io.stdout is not None:
        lines.append(f"bb_out={path_expr(io.stdout, cwd)}")
        lines.append(f'command exec {out_op}"$bb_out" || bb_fail "cannot open output file $bb_out"')
    if io.stderr is not None:
        lines.append(f"bb_err={path_expr(io.stderr, cwd)}")
        lines.append(f'command exec 2{out_op}"$bb_err" || bb_fail "cannot open error file $bb_err"')
    elif io.stdout is not None:
        lines.append("exec 2>&1")
    return lines


def _argv(job: BatchJob) -> list[str]:
    payload = job.payload
    if isinstance(payload, Command):
        return [transfer.executable(job) or normalise(payload.executable, job.working_dir), *payload.args]
    return [*payload.interpreter, f"{wk.CONFIG_MOUNT}/{wk.KEY_SCRIPT}", *payload.args]


# The srun of Slurm jobs registers each running step here (bridge/kube/srun.sh).
STEPS = "${TMPDIR:-/tmp}/.batch-bridge-steps"


def _signal_target(job: BatchJob, name: str) -> str:
    """Who gets --signal: the batch script with B:, else every running step (srun forwards it to its
    tasks), as in Slurm; never both."""
    sig = shlex.quote(name)
    if job.signal is not None and job.signal.batch_only:
        return f'kill -s {sig} "$bb_child" 2>/dev/null'
    return f'for bb_s in {STEPS}/step.*/srun; do [ -f "$bb_s" ] && kill -s {sig} "$(cat "$bb_s")" 2>/dev/null; done'


def _run_lines(job: BatchJob) -> list[str]:
    argv = " ".join(shlex.quote(a) for a in _argv(job))
    sig, limit = job.signal, job.time_limit_s
    timer = sig is not None and limit is not None
    if not timer and job.transfer is None:
        return [f"exec {argv}"]
    # The shell waits for the job: a timer sends the requested signal ahead of the deadline, or file
    # transfer copies outputs back after it. TERM from the kubelet is forwarded (and stops transfer).
    lines = [
        "exec 9<&0",  # an asynchronous command's stdin would be /dev/null
        f"{argv} <&9 9<&- &",
        "bb_child=$! bb_term=",
        "exec 9<&-",
        "trap 'bb_term=1; kill -TERM \"$bb_child\" 2>/dev/null' TERM",
    ]
    if sig is not None and limit is not None:
        delay = max(limit - sig.seconds_before, 0)
        lines += [f"( sleep {delay} && {_signal_target(job, sig.name)} ) &", "bb_timer=$!"]
    lines += [
        'wait "$bb_child"; bb_rc=$?',
        'while kill -0 "$bb_child" 2>/dev/null; do wait "$bb_child"; bb_rc=$?; done',
    ]
    if timer:
        lines.append('kill "$bb_timer" 2>/dev/null')
    if job.transfer is not None:
        lines += transfer.lines_out(job.transfer, job.working_dir)
    return [*lines, 'exit "$bb_rc"']


def render(job: BatchJob) -> str:
    """The whole entrypoint script for ``job``."""
    runtime = [f'export {name}="{_RUNTIME_VALUE[name]}"' for name in RUNTIME_VARIABLES[job.source]]
    if job.source is Source.SLURM and job.array is None:
        runtime = [line for line in runtime if "ARRAY" not in line]
    cd_failed = shlex.quote("cannot enter working directory " + job.working_dir)
    lines = [
        "#!/bin/sh",
        "# Generated by batch-bridge for this job; runs the user's work as the batch system would.",
        'bb_fail() { echo "batch-bridge: $*" >&2; exit 1; }',
        f"cd {shlex.quote(job.working_dir)} || bb_fail {cd_failed}",
        *(transfer.lines_in(job.transfer) if job.transfer is not None else []),
        *_task_lines(job),
        f'bb_node="${{{NODE_ENV}:-$(hostname)}}"',
        *runtime,
        *([f'export PATH="{wk.BIN_DIR}:$PATH"'] if job.source is Source.SLURM else []),
        *_stream_lines(job),
        *_run_lines(job),
    ]
    return "\n".join(lines) + "\n"
