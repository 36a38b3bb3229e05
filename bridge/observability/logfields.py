"""The structured fields of a log line about one job: the JSON log carries them as keys, so a log
search finds every line of one batch job (``job_id``) or one Kubernetes Job (``namespace``/``name``)."""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Final

# JSON key -> LogRecord attribute. The attributes are prefixed: ``extra=`` may not overwrite one of
# LogRecord's own (``name`` is the logger's), and logging raises KeyError at the call if it does.
FIELDS: Final = MappingProxyType(
    {"source": "bb_source", "job_id": "bb_job_id", "namespace": "bb_namespace", "name": "bb_name"}
)


def job_fields(source: str, job_id: str, namespace: str | None = None, name: str | None = None) -> dict[str, str]:
    """For ``log.info(..., extra=job_fields(...))``; unset fields are left out."""
    values = dict(zip(FIELDS.values(), (source, job_id, namespace, name), strict=True))
    return {k: v for k, v in values.items() if v}


def fields_of(record: logging.LogRecord) -> dict[str, str]:
    """The job fields a record carries, by their JSON keys."""
    return {key: getattr(record, attr) for key, attr in FIELDS.items() if hasattr(record, attr)}
