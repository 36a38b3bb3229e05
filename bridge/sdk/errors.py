"""The SDK's exceptions: one base, a few kinds, each carrying the backend's own words.

Catch ``SdkError`` for everything; ``BackendError.backend_message`` keeps what the apiserver or
slurmctld said, unedited, so a user can search for it.
"""

from __future__ import annotations

from bridge.domain.errors import BridgeError


class SdkError(BridgeError):
    """Base of every error the SDK raises on purpose."""


class InvalidSpec(SdkError, ValueError):
    """A JobSpec (or pipeline) that cannot be built; ``problems`` maps each field to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("invalid job spec: " + "; ".join(f"{k}: {v}" for k, v in self.problems.items()))


class PolicyRefused(SdkError):
    """The site's policy refuses the job (storage, identity, image, limits); the message says why."""


class BackendError(SdkError):
    """The backend refused or failed a request; ``backend_message`` is its own message."""

    def __init__(self, backend: str, what: str, backend_message: str, status: int = 0) -> None:
        self.backend, self.what, self.backend_message, self.status = backend, what, backend_message, status
        super().__init__(f"{backend}: {what}: {backend_message}")


class SubmitError(BackendError):
    """A submission the backend refused."""


class JobNotFound(SdkError, LookupError):
    """No job with this id is known to the backend (any more)."""


class WaitTimeout(SdkError, TimeoutError):
    """``wait(timeout=...)`` reached its deadline; ``last`` is the last status seen."""

    def __init__(self, job_id: str, timeout: float, last: object) -> None:
        self.job_id, self.timeout, self.last = job_id, timeout, last
        super().__init__(f"job {job_id}: not finished after {timeout:g} s (last seen: {last})")


class PipelineError(SdkError):
    """A pipeline could not be (fully) submitted; ``existing`` names the steps' jobs that do exist."""

    def __init__(self, message: str, existing: dict[str, str] | None = None) -> None:
        self.existing = dict(existing or {})
        extra = f" (jobs that exist: {self.existing})" if self.existing else " (no job was left behind)"
        super().__init__(message + extra)
