"""``batch-bridge submit | status | logs | cancel | pipeline run``: the SDK from the command line.

Registered by main.py with ``register(sub)``; each handler opens one Client on the chosen backend
(``--backend`` or ``$BATCH_BRIDGE_BACKEND``, default kubernetes). ``submit -- CMD...`` runs the
command unexpanded (JobSpec.command). Progress of ``pipeline run`` is a table redrawn in place on a
terminal, one plain line per change otherwise.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from bridge.sdk import Client, JobSpec, Pipeline
from bridge.sdk.client import BACKENDS
from bridge.sdk.errors import InvalidSpec
from bridge.sdk.pipeline_run import Snapshot

BACKEND_ENV = "BATCH_BRIDGE_BACKEND"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=os.environ.get(BACKEND_ENV, "kubernetes"), choices=sorted(BACKENDS))
    p.add_argument("--config", type=Path, help="bridge configuration YAML (default $BATCH_BRIDGE_CONFIG)")
    p.add_argument("--kubeconfig", help="kubernetes: your kubeconfig (default $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--slurm-url", help="slurm: slurmrestd URL (default: the site's)")
    p.add_argument("--token-file", help="slurm: file holding your JWT (default $SLURM_JWT)")
    p.add_argument("--collector", help="htcondor: the pool's collector (default: your HTCondor configuration)")
    p.add_argument("--schedd", help="htcondor: the schedd's name (default: the site's, else the collector's)")
    p.add_argument("--token-dir", help="htcondor: your IDTOKENS directory (default ~/.condor/tokens.d)")


def register(sub: Any) -> None:
    s = sub.add_parser("submit", help="submit a script, or a command after --")
    _common(s)
    s.add_argument("--name")
    s.add_argument("--image")
    s.add_argument("--cpus", type=int)
    s.add_argument("--mem", help="e.g. 512M, 2G")
    s.add_argument("--time", help="time limit: seconds or [D-][HH:]MM:SS")
    s.add_argument("--array", help="indexes, e.g. 0-9 or 1,3,5")
    s.add_argument("--output", help="output file ({index}: the array index)")
    s.add_argument("--workdir", help="working directory (default: this one)")
    s.add_argument("--key", help="idempotency key: a second submit with it adopts the first job")
    s.add_argument("--wait", action="store_true", help="wait for the end; exit with the job's exit code")
    s.add_argument("argv", nargs=argparse.REMAINDER, metavar="FILE | -- CMD", help="a script, or -- and a command")

    st = sub.add_parser("status", help="your jobs, or the named ones")
    _common(st)
    st.add_argument("ids", nargs="*")

    lg = sub.add_parser("logs", help="a job's output")
    _common(lg)
    lg.add_argument("id")
    lg.add_argument("-f", "--follow", action="store_true", help="until the job ends")

    cn = sub.add_parser("cancel", help="cancel jobs")
    _common(cn)
    cn.add_argument("ids", nargs="+")

    pl = sub.add_parser("pipeline", help="pipelines")
    pl_sub = pl.add_subparsers(dest="pipeline_command", required=True)
    run = pl_sub.add_parser("run", help="run (or resume) a pipeline from FILE.py or FILE.yaml")
    _common(run)
    run.add_argument("file", type=Path)
    run.add_argument("--no-wait", action="store_true", help="submit and return")


def _client(ns: argparse.Namespace) -> Client:
    options = {
        "kubernetes": {"kubeconfig": ns.kubeconfig},
        "slurm": {"url": ns.slurm_url, "token_file": ns.token_file},
        "htcondor": {"collector": ns.collector, "schedd": ns.schedd, "token_dir": ns.token_dir},
    }[ns.backend]
    return Client(ns.backend, config=ns.config, **options)


def _indexes(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out += range(int(first), int(last or first) + 1)
    return sorted(set(out))


def _spec(ns: argparse.Namespace) -> JobSpec:
    command = ns.argv[1:] if ns.argv[:1] == ["--"] else []
    if not command and len(ns.argv) != 1:
        raise InvalidSpec({"submit": "give one script FILE, or -- CMD [ARGS...]"})
    try:
        array = _indexes(ns.array) if ns.array else None
    except ValueError:
        raise InvalidSpec({"array": f"{ns.array!r}: use e.g. 0-9 or 1,3,5"}) from None
    given = {"name": ns.name, "image": ns.image, "cpus": ns.cpus, "memory": ns.mem, "time_limit": ns.time}
    given |= {"array": array, "stdout": ns.output, "working_dir": os.path.abspath(ns.workdir) if ns.workdir else None}
    options = {k: v for k, v in given.items() if v is not None}
    if command:
        return JobSpec.command(command, **options)
    script = Path(ns.argv[0])
    options.setdefault("name", script.stem)
    return JobSpec.script(script.read_text(), **options)


def _submit(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        job = client.submit(_spec(ns), key=ns.key)
        print(f"{job.id}" + (" (adopted)" if job.adopted else ""), flush=True)
        if not ns.wait:
            return 0
        status = job.wait()
        print(status, file=sys.stderr)
        return status.exit_code if status.exit_code is not None else (0 if status.ok else 1)


def _status(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        statuses = [client.get(i).status() for i in ns.ids] if ns.ids else client.list()
        for s in statuses:
            code = "" if s.exit_code is None else str(s.exit_code)
            print(f"{s.job_id}\t{s.name}\t{s.state.value}\t{code}\t{s.reason}")
    return 0


def _logs(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        for line in client.get(ns.id).logs(follow=ns.follow):
            print(line, flush=ns.follow)
    return 0


def _cancel(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        for job_id in ns.ids:
            client.cancel(job_id)
            print(f"{job_id} cancelled")
    return 0


def load_pipeline(path: Path) -> Pipeline:
    """FILE.yaml (Pipeline.from_mapping) or FILE.py defining ``pipeline`` (a Pipeline or a function
    returning one). The .py file is the caller's own code, run in the caller's own process."""
    if path.suffix in (".yaml", ".yml"):
        return Pipeline.from_mapping(yaml.safe_load(path.read_text()) or {})
    found = runpy.run_path(str(path)).get("pipeline")
    made = found() if callable(found) and not isinstance(found, Pipeline) else found
    if not isinstance(made, Pipeline):
        raise InvalidSpec({"pipeline": f"{path} defines no `pipeline` (a Pipeline, or a function returning one)"})
    return made


def _row(snapshot: Snapshot) -> list[str]:
    return [
        f"{step:<20} {(s.state.value if s else 'waiting'):<12} {(s.job_id if s else '')}"
        for step, s in snapshot.items()
    ]


def show_progress(snapshots: Any, out: TextIO) -> None:
    """A table redrawn in place on a terminal; a plain line per change otherwise."""
    drawn = 0
    for snapshot in snapshots:
        if out.isatty():
            rows = _row(snapshot)
            out.write((f"\x1b[{drawn}F" if drawn else "") + "".join(f"\x1b[2K{r}\n" for r in rows))
            drawn = len(rows)
        else:
            out.write(" ".join(f"{k}={s.state.value if s else 'waiting'}" for k, s in snapshot.items()) + "\n")
        out.flush()


def _pipeline(ns: argparse.Namespace) -> int:
    pipeline = load_pipeline(ns.file)
    with _client(ns) as client:
        run = pipeline.run(client)
        print(f"pipeline {pipeline.name}: adopted {sorted(run.adopted) or 'nothing'}", flush=True)
        if ns.no_wait:
            return 0
        show_progress(run.watch(), sys.stdout)
        return 0 if run.ok else 1


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "submit": _submit,
    "status": _status,
    "logs": _logs,
    "cancel": _cancel,
    "pipeline": _pipeline,
}
