"""The ``batch-bridge`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bridge.cli import sdk
from bridge.cli.output import FORMATS
from bridge.cli.translate import Request, detect_kind, identity, split_args, to_objects
from bridge.config.reference import markdown
from bridge.config.settings import ConfigError, load_settings, schema
from bridge.domain.errors import BridgeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batch-bridge", description="Run Slurm and HTCondor jobs as Kubernetes Jobs.")
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("translate", help="print the Kubernetes objects for a batch script or submit file")
    tr.add_argument("file", type=Path, help="sbatch script or HTCondor submit description")
    kind = tr.add_mutually_exclusive_group()
    kind.add_argument(
        "--slurm", dest="kind", action="store_const", const="slurm", help="treat FILE as an sbatch script"
    )
    kind.add_argument(
        "--htcondor", dest="kind", action="store_const", const="htcondor", help="treat FILE as a submit description"
    )
    tr.add_argument("--user", help="submitting user (default: you); uid/gid/groups are looked up if not given")
    tr.add_argument("--uid", type=int)
    tr.add_argument("--gid", type=int)
    tr.add_argument("--groups", help="supplementary gids, comma separated")
    tr.add_argument("--config", type=Path, help="bridge configuration YAML")
    tr.add_argument("--job-id", default="1", help="batch job id (Slurm job id / HTCondor cluster id), default 1")
    tr.add_argument("--submit-dir", help="directory sbatch/condor_submit ran in (default: the current one)")
    tr.add_argument("--sbatch-args", help='sbatch command-line options, e.g. --sbatch-args="--time=10 -p k8s"')
    tr.add_argument("--with-env", action="store_true", help="pass your environment as the submit environment")
    tr.add_argument("-o", "--output", choices=sorted(FORMATS), default="yaml")
    tr.add_argument("args", nargs="*", help="arguments for the batch script")

    run = sub.add_parser("run", help="run an adapter daemon (as the unprivileged bridge user)")
    run.add_argument("adapter", choices=["slurm", "htcondor"], help="which front door")
    run.add_argument("--config", type=Path, help="bridge configuration YAML")
    run.add_argument("--kubeconfig", help="kubeconfig of the bridge's ServiceAccount (default: in-cluster)")
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    rb = sub.add_parser("rbac", help="print the Role and RoleBinding the daemons need in a namespace")
    rb.add_argument("--namespace", required=True, help="namespace the jobs run in")
    rb.add_argument("--service-account", default="batch-bridge/batch-bridge", help="NAMESPACE/NAME of the bridge SA")
    rb.add_argument("--storage", action="store_true", help="also the ClusterRole for site storage volumes (PVs)")
    rb.add_argument("--lease-namespace", help="also the Role for leader election's Lease in this namespace")
    rb.add_argument("-o", "--output", choices=sorted(FORMATS), default="yaml")

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    cfg_sub.add_parser("schema", help="print the configuration's JSON schema")
    cfg_sub.add_parser("reference", help="print the configuration reference as Markdown")
    check = cfg_sub.add_parser("check", help="validate a configuration file")
    check.add_argument("file", type=Path)
    sdk.register(sub)
    return parser


def _translate(ns: argparse.Namespace) -> int:
    settings = load_settings(ns.config)
    text = ns.file.read_text(errors="surrogateescape")
    req = Request(
        path=ns.file,
        kind=ns.kind or detect_kind(ns.file, text),
        identity=identity(ns.user, ns.uid, ns.gid, ns.groups),
        job_id=ns.job_id,
        submit_dir=os.path.abspath(ns.submit_dir or os.getcwd()),
        sbatch_args=split_args(ns.sbatch_args),
        script_args=ns.args,
        environment=dict(os.environ) if ns.with_env else None,
        now=datetime.now().astimezone(),
    )
    objects, warnings = to_objects(req, settings)
    for warning in warnings:
        print(f"batch-bridge: warning: {warning}", file=sys.stderr)
    sys.stdout.write(FORMATS[ns.output](objects))
    return 0


def _run(ns: argparse.Namespace) -> int:
    from bridge.cli.run import run_htcondor, run_slurm, setup_logging

    setup_logging(ns.log_format, ns.log_level)
    daemon = run_htcondor if ns.adapter == "htcondor" else run_slurm
    return daemon(load_settings(ns.config), ns.kubeconfig)


def _rbac(ns: argparse.Namespace) -> int:
    from bridge.cli.chart import rbac_rules
    from bridge.kube.rbac import cluster_grant, namespace_grant

    sa_ns, _, sa_name = ns.service_account.partition("/")
    if not sa_name:
        raise BridgeError("--service-account must be NAMESPACE/NAME")
    rules = rbac_rules()
    objects = namespace_grant(ns.namespace, sa_ns, sa_name, rules["namespaced"])
    if ns.storage:
        objects += cluster_grant(sa_ns, sa_name, rules["cluster"])
    if ns.lease_namespace:
        objects += namespace_grant(ns.lease_namespace, sa_ns, sa_name, rules["leader"], name="batch-bridge-leader")
    sys.stdout.write(FORMATS[ns.output](objects))
    return 0


def _config(ns: argparse.Namespace) -> int:
    if ns.config_command == "schema":
        print(json.dumps(schema(), indent=2))
        return 0
    if ns.config_command == "reference":
        sys.stdout.write(markdown())
        return 0
    load_settings(ns.file)
    print(f"{ns.file}: ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    handlers = {"translate": _translate, "config": _config, "run": _run, "rbac": _rbac, **sdk.HANDLERS}
    try:
        return handlers[ns.command](ns)
    except ConfigError as exc:
        print(f"batch-bridge: configuration error: {exc}", file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"batch-bridge: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"batch-bridge: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
