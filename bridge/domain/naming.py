"""Deterministic Kubernetes names from a batch identity.

The same (cluster, scheduler, job id[, array index]) always gives the same name, so a restarted daemon
adopts what exists instead of creating a duplicate. A hash suffix keeps names unique after the
lossy DNS-1123 clean-up and truncation.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

# Room for "-<index>" pod suffixes and the Job controller's random pod suffix under 63.
MAX_NAME: Final = 52
MAX_LABEL_VALUE: Final = 63
_HASH_LEN: Final = 8
_NOT_DNS = re.compile(r"[^a-z0-9]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")
DNS1123_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:_HASH_LEN]


def dns_label(text: str, max_len: int = 63) -> str:
    """Lower-case DNS-1123 label made from ``text`` (may be empty if nothing survives)."""
    cleaned = _NOT_DNS.sub("-", text.lower()).strip("-")
    return cleaned[:max_len].rstrip("-")


def job_name(cluster: str, scheduler: str, job_id: str, array_index: int | None = None) -> str:
    """``<scheduler>-<cluster>-<id>[-<index>]-<hash>``, at most MAX_NAME characters."""
    key = [cluster, scheduler, job_id] + ([] if array_index is None else [str(array_index)])
    suffix = _digest(*key)
    readable = dns_label("-".join(key[1:2] + key[:1] + key[2:]), MAX_NAME - _HASH_LEN - 1)
    return f"{readable}-{suffix}" if readable else suffix


def namespace_name(prefix: str, value: str) -> str:
    """A namespace for ``value`` (account, queue, user); hashed when cleaning changed it."""
    base = dns_label(prefix + value)
    if base == prefix + value and len(base) <= 63:
        return base
    suffix = _digest(prefix, value)
    return f"{dns_label(prefix + value, 63 - _HASH_LEN - 1)}-{suffix}".lstrip("-")


def label_value(text: str) -> str:
    """A valid label value carrying ``text``; hashed when cleaning or truncation changed it."""
    if LABEL_VALUE.match(text) and len(text) <= MAX_LABEL_VALUE:
        return text
    cleaned = _NOT_LABEL.sub("_", text).strip("-_.")[: MAX_LABEL_VALUE - _HASH_LEN - 1].strip("-_.")
    return f"{cleaned}-{_digest(text)}" if cleaned else _digest(text)
