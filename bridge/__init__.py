"""batch-bridge: Slurm and HTCondor jobs as Kubernetes Jobs, and a Python SDK for pipelines.

``from bridge import Client, JobSpec`` loads the SDK on first use, so ``import bridge`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.sdk import AsyncClient, Client, Job, JobSpec, JobState, Pipeline

__all__ = ["AsyncClient", "Client", "Job", "JobSpec", "JobState", "Pipeline"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("bridge.sdk"), name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
