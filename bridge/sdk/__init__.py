"""batch-bridge's Python SDK: one JobSpec, submitted straight to Kubernetes or through Slurm or HTCondor.

    from bridge import Client, JobSpec
    with Client("kubernetes") as client:
        job = client.submit(JobSpec.command(["echo", "hello"], memory="256M"))
        print(job.wait(timeout=300))

See docs/sdk.md for the tutorial and reference.
"""

from bridge.domain.states import JobState
from bridge.sdk.client import AsyncClient, Client
from bridge.sdk.errors import (
    BackendError,
    InvalidSpec,
    JobNotFound,
    PipelineError,
    PolicyRefused,
    SdkError,
    SubmitError,
    WaitTimeout,
)
from bridge.sdk.job import Job
from bridge.sdk.pipeline import Pipeline
from bridge.sdk.pipeline_run import PipelineRun
from bridge.sdk.spec import JobSpec
from bridge.sdk.status import JobResult, JobStatus

__all__ = [
    "AsyncClient",
    "BackendError",
    "Client",
    "InvalidSpec",
    "Job",
    "JobNotFound",
    "JobResult",
    "JobSpec",
    "JobState",
    "JobStatus",
    "Pipeline",
    "PipelineError",
    "PipelineRun",
    "PolicyRefused",
    "SdkError",
    "SubmitError",
    "WaitTimeout",
]
