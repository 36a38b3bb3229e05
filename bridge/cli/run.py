"""``batch-bridge run slurm`` and ``batch-bridge run htcondor``: the adapter daemons, until SIGTERM/SIGINT.

It refuses to run as root: the daemons run as the unprivileged bridge user, with the batch system's
administrator token and the ServiceAccount's kubeconfig (or in-cluster credentials).
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
import sys
from typing import Any

from adapters.slurm.port import SlurmPort
from adapters.slurm.transport import CliTransport, RestTransport, SlurmTransport
from bridge.cli.daemon import run_daemon
from bridge.config.settings import BridgeSettings
from bridge.domain.errors import BridgeError
from bridge.engine.identity import Directory, Remembered, from_nss
from bridge.engine.reconciler import Reconciler, summary
from bridge.kube.client import Kube, api_client
from bridge.observability.logfields import fields_of

log = logging.getLogger("batch-bridge")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(fields_of(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


class _Enqueue(logging.handlers.QueueHandler):
    """Hands the record over as it is: the listener formats it (args are names and numbers, not
    objects changed after the call)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def setup_logging(fmt: str, level: str) -> None:
    """Records go through a queue to one writer thread: 16 workers logging at once in a burst waited
    on the handler's lock (7% of their time). The queue is flushed at exit."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)
    logging.basicConfig(level=level.upper(), handlers=[_Enqueue(records)], force=True)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def slurm_transport(settings: BridgeSettings) -> SlurmTransport:
    t = settings.slurm.daemon.transport
    if t.kind == "rest":
        return RestTransport(t.rest_url, t.rest_user, t.token_file, t.timeout_s)
    return CliTransport(t.cli_prefix, t.timeout_s)


def _status(reconciler: Reconciler, port: SlurmPort) -> str:
    calls = dict(port.counted.calls)
    return json.dumps(
        {**summary(reconciler), "slurm_rpcs": calls, "records_read": port.view.fetched_total, "rss_kib": _rss_kib()}
    )


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _directory(settings: BridgeSettings) -> Directory | None:
    """The configured identity files (a daemon in a pod), or None: NSS on the host."""
    ident = settings.engine.identity
    return Directory(ident.passwd_file, ident.group_file) if ident.passwd_file else None


def run_slurm(settings: BridgeSettings, kubeconfig: str | None, allow_root: bool = False) -> int:
    if os.geteuid() == 0 and not allow_root:
        raise BridgeError("refusing to run as root: start the daemon as the unprivileged bridge user (e.g. bbridge)")
    files = _directory(settings)
    identity = files.for_record() if files else Remembered(from_nss)
    port = SlurmPort(slurm_transport(settings), settings.slurm, settings.cluster, identity=identity)
    api = api_client(kubeconfig, settings.engine.api_connections)
    reconciler = Reconciler(port, Kube(api), settings.site, settings.kube, settings.engine)
    t = settings.slurm.daemon.transport
    describe = f"cluster {settings.cluster}, partitions {','.join(settings.slurm.partitions)}, transport {t.kind}"
    return run_daemon("slurm", reconciler, settings.engine, api, lambda: _status(reconciler, port), describe)


def run_htcondor(settings: BridgeSettings, kubeconfig: str | None, allow_root: bool = False) -> int:
    from adapters.htcondor.port import CondorPort, owner_identity
    from adapters.htcondor.transport import BindingsSchedd
    from adapters.htcondor.userlog import NoUserLog, SudoUserLog, UserLog

    if os.geteuid() == 0 and not allow_root:
        raise BridgeError("refusing to run as root: start the daemon as the unprivileged bridge user (e.g. bbridge)")
    daemon = settings.htcondor.daemon
    if daemon.condor_config:
        os.environ["CONDOR_CONFIG"] = daemon.condor_config  # read when the bindings load
    ul = daemon.user_log
    userlog: UserLog = SudoUserLog(ul.sudo, ul.helper, ul.timeout_s) if ul.mode == "sudo" else NoUserLog()
    files = _directory(settings)
    identity = files.for_owner() if files else Remembered(owner_identity)
    port = CondorPort(BindingsSchedd(daemon.schedd), settings.htcondor, settings.cluster, userlog, identity=identity)
    api = api_client(kubeconfig, settings.engine.api_connections)
    reconciler = Reconciler(port, Kube(api), settings.site, settings.kube, settings.engine)

    def status() -> str:
        return json.dumps({**summary(reconciler), "schedd_rpcs": dict(port.counted.calls), "rss_kib": _rss_kib()})

    describe = f"cluster {settings.cluster}, schedd {daemon.schedd or '(local)'}, manager {daemon.manager}"
    return run_daemon("htcondor", reconciler, settings.engine, api, status, describe)
