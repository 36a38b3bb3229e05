"""Backend ``htcondor``: the schedd through the htcondor2 bindings, with the user's own IDTOKEN.

The job is the user's own HTCondor cluster, submitted into the bridged selection
(``+WantKubernetes = true``): the site's transforms pre-claim it, ``batch-bridge run htcondor`` runs
each proc as a Kubernetes Job, and condor_q/condor_history tell the truth as for any condor_submit.
Credentials are HTCondor's own: the client configuration (``$CONDOR_CONFIG``, else HTCondor's
defaults) and a token in ``~/.condor/tokens.d`` (``condor_token_fetch -token sdk`` on a login node);
``collector=``, ``schedd=``, ``token_dir=`` and ``auth_methods=`` override them for this process.
The schedd authenticates the caller: the SDK never names an owner.

htcondor2 rather than the v1 bindings: it is the supported API of the 24.x wheels (v1 is deprecated
there), it talks to the lab's 23.9 schedd, and the SDK needs nothing v1 alone has (the adapter needs
``Submit.jobs()`` and transactions; the SDK submits, queries, acts).

Status: one query per interval for every tracked cluster (``ClusterId == a || ...``), then one
history query for the clusters that left the queue. A pipeline runs from the SDK (dependencies
False): each step is submitted when its edges hold, and re-running adopts steps by their key
(``BatchBridgeSdkKey`` in the ad, the user's own attribute: adoption of one's own work).
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from bridge.config.settings import BridgeSettings
from bridge.sdk import condor_submit as cs
from bridge.sdk.backend import Dependency, Filter, LogSource
from bridge.sdk.condor_status import PROJECTION, cluster_status
from bridge.sdk.errors import BackendError, JobNotFound, SdkError, SubmitError
from bridge.sdk.identity import caller_identity
from bridge.sdk.polling import Polling
from bridge.sdk.spec import JobSpec
from bridge.sdk.status import JobStatus

BACKEND: Final = cs.BACKEND
Ad = Mapping[str, Any]


def _bindings() -> Any:
    try:
        with warnings.catch_warnings():  # "CONDOR_CONFIG is unset": normal on a host configured by options
            warnings.simplefilter("ignore")
            import htcondor2
    except ImportError:
        raise SdkError("htcondor: the bindings are not installed (pip install 'batch-bridge[htcondor]')") from None
    return htcondor2


def cluster_id(job_id: str) -> int:
    """The SDK's id of an HTCondor job is its cluster id; anything else is no job (and never reaches a
    constraint: ids are numbers only)."""
    if not job_id.isdigit():
        raise JobNotFound(f"{job_id!r} is not an HTCondor cluster id")
    return int(job_id)


def clusters_constraint(ids: Iterable[int]) -> str:
    return " || ".join(f"ClusterId == {i}" for i in sorted(set(ids))) or "false"


def by_cluster(ads: Iterable[Ad]) -> dict[str, dict[int, Ad]]:
    out: defaultdict[str, dict[int, Ad]] = defaultdict(dict)
    for ad in ads:
        out[str(ad["ClusterId"])][int(ad["ProcId"])] = ad
    return out


class CondorBackend(Polling):
    name = BACKEND
    dependencies = False

    def __init__(
        self,
        settings: BridgeSettings,
        collector: str | None = None,
        schedd: str | None = None,
        token_dir: str | None = None,
        auth_methods: str | None = None,
        poll_interval_s: float | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.identity = caller_identity()
        self.htcondor = _bindings()
        overrides = {
            "COLLECTOR_HOST": collector,
            "SEC_TOKEN_DIRECTORY": token_dir,
            "SEC_CLIENT_AUTHENTICATION_METHODS": auth_methods,
        }
        for knob, value in overrides.items():
            if value is not None:
                self.htcondor.param[knob] = value
        self.schedd = self._locate(schedd or settings.htcondor.daemon.schedd)
        self.interval = poll_interval_s or max(settings.engine.poll_interval_s, 1.0)
        self.queries = 0
        self._procs: dict[str, int] = {}  # tracked cluster -> how many procs it has

    def _locate(self, name: str | None) -> Any:
        h = self.htcondor
        try:
            collector = h.Collector()
            ad = collector.locate(h.DaemonType.Schedd, name) if name else collector.locate(h.DaemonType.Schedd)
            return h.Schedd(ad)
        except Exception as exc:  # the bindings raise HTCondorException and plain ValueError/IOError
            raise BackendError(BACKEND, "locate the schedd", str(exc)) from None

    def _call(self, what: str, fn: Any, *args: Any, error: type[BackendError] = BackendError, **kw: Any) -> Any:
        self.queries += 1
        try:
            return fn(*args, **kw)
        except Exception as exc:
            raise error(BACKEND, what, str(exc).strip() or type(exc).__name__) from None

    def _mine(self, constraint: str) -> str:
        return f"(Owner =?= {cs.quote(self.identity.user)}) && ({constraint})"

    def _ads(self, constraint: str, history: bool) -> list[Ad]:
        projection = list(PROJECTION)
        if history:
            found = self._call("history", self.schedd.history, self._mine(constraint), projection, match=-1)
        else:
            found = self._call("query", self.schedd.query, self._mine(constraint), projection)
        return [dict(ad) for ad in found]

    # --- submit ------------------------------------------------------------------------------------
    def submit(self, spec: JobSpec, key: str | None = None, after: Sequence[Dependency] = ()) -> tuple[str, bool]:
        if any(d.job_ids for d in after):
            raise SdkError("the htcondor backend holds no job on others; a Pipeline submits each step when ready")
        sub = cs.submission(spec, self.settings.site, cwd=os.getcwd(), key=key)
        if key is not None:
            found = self.find({key: spec}).get(key)
            if found is not None and not (found.final and not found.ok):
                return found.job_id, True
            if found is not None and dict(found.detail).get("hold_code"):
                self.cancel(found.job_id)  # held by the bridge: removed before it runs again
        self._write_script(sub)
        h = self.htcondor
        submit = h.Submit(sub.description)
        if sub.items is None:
            result = self._call("submit", self.schedd.submit, submit, count=sub.count, error=SubmitError)
        else:
            items = iter(sub.items)
            result = self._call("submit", self.schedd.submit, submit, itemdata=items, error=SubmitError)
        job_id = str(result.cluster())
        with self._lock:
            self._procs[job_id] = result.num_procs()
        self.track(job_id)
        return job_id, False

    def _write_script(self, sub: cs.Submission) -> None:
        path = Path(sub.script_path)
        try:
            if path.exists() and path.read_text() == sub.script:
                return
            path.parent.mkdir(mode=0o755, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(sub.script)
            tmp.chmod(0o755)
            tmp.replace(path)
        except OSError as exc:
            raise SubmitError(BACKEND, f"write the job's script {path}", str(exc)) from None

    def check(self, spec: JobSpec) -> None:
        cs.submission(spec, self.settings.site, cwd=os.getcwd(), key=None)

    def find(self, specs: Mapping[str, JobSpec]) -> dict[str, JobStatus]:
        if not specs:
            return {}
        # =?=: ClassAd's == on strings ignores case, and keys are case-sensitive
        keys = " || ".join(f"{cs.KEY_ATTR} =?= {cs.quote(k)}" for k in sorted(specs) if cs.valid_key(k))
        ads = self._ads(keys or "false", history=False) + self._ads(keys or "false", history=True)
        newest: dict[str, str] = {}
        for ad in ads:
            key, cid = str(ad.get(cs.KEY_ATTR)), str(ad["ClusterId"])
            if key in specs and (key not in newest or int(cid) > int(newest[key])):
                newest[key] = cid
        grouped = by_cluster(ads)
        out = {}
        for key, cid in newest.items():
            with self._lock:
                self._procs.setdefault(cid, len(grouped[cid]))
            status = cluster_status(cid, list(grouped[cid].values()), self._procs[cid])
            self.hub.publish(status)
            self.track(cid)
            out[key] = status
        return out

    # --- status: one batched query per interval ----------------------------------------------------
    def _add(self, job_id: str) -> bool:
        cluster_id(job_id)
        new = job_id not in self._procs
        self._procs.setdefault(job_id, 0)
        return new

    def poll(self) -> None:
        """One queue query for every tracked cluster not final yet; history for those that left it."""
        self.polls += 1
        with self._lock:
            procs = dict(self._procs)
        live = [c for c in procs if not ((s := self.hub.latest(c)) is not None and s.final)]
        if not live:
            return
        grouped = by_cluster(self._ads(clusters_constraint(map(int, live)), history=False))
        # a cluster of unknown size (found by id) is looked for in history too
        gone = [c for c in live if not procs[c] or len(grouped.get(c, {})) < procs[c]]
        if gone:
            for cid, ads in by_cluster(self._ads(clusters_constraint(map(int, gone)), history=True)).items():
                grouped.setdefault(cid, {}).update({p: ad for p, ad in ads.items() if p not in grouped[cid]})
        for cid in live:
            if grouped.get(cid):
                with self._lock:
                    self._procs[cid] = size = max(self._procs.get(cid, 0), len(grouped[cid]))
                self.hub.publish(cluster_status(cid, list(grouped[cid].values()), size))

    def list(self, selection: Filter) -> list[JobStatus]:
        grouped = by_cluster(self._ads("WantKubernetes =?= true", history=False))
        out = [cluster_status(c, list(ads.values())) for c, ads in sorted(grouped.items(), key=lambda i: int(i[0]))]
        return [s for s in out if selection.keep(s)]

    def cancel(self, job_id: str) -> None:
        """condor_rm of the cluster; JobNotFound when no cluster of that id is the caller's."""
        constraint = f"ClusterId == {cluster_id(job_id)}"
        if not self._ads(constraint, history=False):
            if not self._ads(constraint, history=True):
                raise JobNotFound(f"no htcondor job {job_id} of yours")  # another's job is not yours to know of
            return  # it has ended
        remove = self.htcondor.JobAction.Remove
        result = self._call("remove", self.schedd.act, remove, self._mine(constraint))
        denied = int(result.get("TotalPermissionDenied", 0) or 0)
        if denied:
            raise BackendError(BACKEND, f"remove {job_id}", f"permission denied for {denied} job(s)")
        self._wake.set()

    # --- output ------------------------------------------------------------------------------------
    def logs(self, job_id: str, follow: bool) -> LogSource:
        return LogSource(path=dict(self.get(job_id).detail).get("output"))
