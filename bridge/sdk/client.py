"""``Client`` and ``AsyncClient``: pick a backend by name, then submit, get, list and cancel.

The site's bridge configuration (the same YAML the adapters read: storage table, images, limits)
comes from ``config=`` or ``$BATCH_BRIDGE_CONFIG``; credentials are the caller's own (kubeconfig,
Slurm JWT, HTCondor IDTOKEN). Backends are imported when first used, so ``import bridge`` stays light.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from bridge.config.settings import BridgeSettings, load_settings
from bridge.sdk.backend import Backend, Filter
from bridge.sdk.errors import SdkError
from bridge.sdk.job import Job
from bridge.sdk.spec import JobSpec
from bridge.sdk.status import JobStatus

# backend name -> (module, class)
BACKENDS: Final = {
    "kubernetes": ("bridge.sdk.kube_backend", "KubernetesBackend"),
    "slurm": ("bridge.sdk.slurm_backend", "SlurmBackend"),
    "htcondor": ("bridge.sdk.condor_backend", "CondorBackend"),
}
CONFIG_ENV: Final = "BATCH_BRIDGE_CONFIG"
Config = str | Path | BridgeSettings | None


def settings_from(config: Config) -> BridgeSettings:
    if isinstance(config, BridgeSettings):
        return config
    return load_settings(config or os.environ.get(CONFIG_ENV) or None)


def open_backend(name: str, settings: BridgeSettings, options: dict[str, Any]) -> Backend:
    if name not in BACKENDS:
        raise SdkError(f"unknown backend {name!r} (known: {', '.join(sorted(BACKENDS))})")
    module, cls = BACKENDS[name]
    backend: Backend = getattr(importlib.import_module(module), cls)(settings, **options)
    return backend


class Client:
    """Submit and follow jobs on one backend: ``Client("kubernetes")``, ``"slurm"`` or ``"htcondor"``.

    Options: ``kubeconfig=`` (kubernetes; default $KUBECONFIG, ~/.kube/config, in-cluster),
    ``url=`` and ``token_file=`` (slurm; default the site's slurmrestd and $SLURM_JWT),
    ``collector=``, ``schedd=``, ``token_dir=``, ``auth_methods=`` (htcondor; default HTCondor's own
    client configuration and ~/.condor/tokens.d).
    """

    def __init__(
        self, backend: str = "kubernetes", *, config: str | Path | BridgeSettings | None = None, **options: Any
    ):
        self.settings = settings_from(config)
        self.backend = open_backend(backend, self.settings, options)

    def submit(self, spec: JobSpec, *, key: str | None = None) -> Job:
        """Submit ``spec``; with ``key`` a second submit of the same key adopts the first job."""
        job_id, adopted = self.backend.submit(spec, key)
        return Job(self.backend, job_id, adopted)

    def get(self, job_id: str) -> Job:
        self.backend.get(job_id)  # JobNotFound when there is none
        return Job(self.backend, job_id)

    def list(self, states: Sequence[str] = (), name_prefix: str = "") -> list[JobStatus]:
        return self.backend.list(Filter(tuple(states), name_prefix))

    def cancel(self, job_id: str) -> None:
        self.backend.cancel(job_id)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class AsyncClient:
    """The same as Client for asyncio: every call is awaitable; Jobs offer ``async for`` streams."""

    def __init__(
        self, backend: str = "kubernetes", *, config: str | Path | BridgeSettings | None = None, **options: Any
    ):
        self._sync = Client(backend, config=config, **options)

    @property
    def backend(self) -> Backend:
        return self._sync.backend

    async def submit(self, spec: JobSpec, *, key: str | None = None) -> Job:
        return await asyncio.to_thread(self._sync.submit, spec, key=key)

    async def get(self, job_id: str) -> Job:
        return await asyncio.to_thread(self._sync.get, job_id)

    async def list(self, states: Sequence[str] = (), name_prefix: str = "") -> list[JobStatus]:
        return await asyncio.to_thread(self._sync.list, states, name_prefix)

    async def cancel(self, job_id: str) -> None:
        await asyncio.to_thread(self._sync.cancel, job_id)

    async def close(self) -> None:
        await asyncio.to_thread(self._sync.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()
