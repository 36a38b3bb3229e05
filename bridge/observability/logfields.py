"""The structured fields of a log line about one job: the JSON log carries them as keys, so a log
search finds every line of one batch job (``job_id``) or one Kubernetes Job (``namespace``/``name``)."""

from __future__ import annotations

from typing import Final

FIELDS: Final = ("source", "job_id", "namespace", "name")


def job_fields(source: str, job_id: str, namespace: str | None = None, name: str | None = None) -> dict[str, str]:
    """For ``log.info(..., extra=job_fields(...))``; unset fields are left out."""
    values = dict(zip(FIELDS, (source, job_id, namespace, name), strict=True))
    return {k: v for k, v in values.items() if v}
