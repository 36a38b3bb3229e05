"""Submit description -> BatchJobs: HTCondor's own submit code makes the ads, ``to_ir`` the IR."""

from __future__ import annotations

from adapters.htcondor.ad import AdContext, to_ir
from adapters.htcondor.settings import CondorSettings
from adapters.htcondor.submit import job_ads
from bridge.domain.errors import TranslationError
from bridge.domain.ir import BatchJob


def translate(
    text: str,
    ctx: AdContext,
    submit_dir: str,
    cluster_id: int = 1,
    settings: CondorSettings | None = None,
    source: str = "submit",
) -> list[BatchJob]:
    """One BatchJob per proc; raises TranslationError located at ``source`` (and line, when known)."""
    settings = settings or CondorSettings()
    try:
        views = job_ads(text, submit_dir, cluster_id=cluster_id, settings=settings)
        return [to_ir(v, ctx, settings) for v in views]
    except TranslationError as exc:
        raise exc.at(source) from None
