"""HTCondor's v1 Python bindings, imported once and quietly (they warn when no condor_config exists,
which is the normal case for a translator). Preloaded by the expansion server (``submit``)."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import htcondor  # the v1 bindings: Submit.jobs() is a stub in htcondor2

__all__ = ["htcondor"]
