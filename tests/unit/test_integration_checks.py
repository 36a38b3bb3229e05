"""The integration tier's comparisons can fail: run them here on records made to disagree.

(The integration tests need the lab; these show, without it, that a translator dropping a field
or a refusal for the wrong reason would be caught.)"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.domain.ir import BatchJob, OpenMode, Resources
from tests.integration.test_batch_lab import _refused
from tests.integration.test_equivalence import _compare
from tests.unit.helpers import sbatch

BODY = "#!/bin/sh\n#SBATCH -p k8s --mem=1500 -A physics -q high --open-mode=append -o o.txt\necho\n"


def _n(value: int | None) -> dict[str, Any]:
    return {"set": value is not None, "infinite": False, "number": value or 0}


def _record(job: BatchJob) -> dict[str, Any]:
    """What slurmctld would report for ``job`` (the fields _compare reads)."""
    r = job.resources
    out = f"{job.working_dir}/o.txt"
    return {
        "name": job.name, "current_working_directory": job.working_dir, "partition": job.queue,
        "time_limit": _n(None), "cpus_per_task": _n(r.cpus_per_task), "tasks": _n(r.tasks),
        "memory_per_node": _n(r.memory_per_node_mib), "memory_per_cpu": _n(None), "memory_per_tres": "",
        "minimum_tmp_disk_per_node": _n(0), "tres_per_node": "", "array_task_string": "",
        "standard_output": out, "standard_error": out, "standard_input": "/dev/null", "requeue": False,
        "comment": "", "account": "physics", "qos": "high", "dependency": "",
    }  # fmt: skip


def test_the_equivalence_comparison_passes_on_agreement() -> None:
    job = sbatch(BODY)
    _compare(_record(job), job, BODY)


@pytest.mark.parametrize(
    "dropped",
    [
        {"resources": Resources(cpus_per_task=1)},  # memory lost
        {"account": None},
        {"qos": None},
        {"comment": "invented"},
    ],
)
def test_the_equivalence_comparison_catches_a_dropped_field(dropped: dict[str, Any]) -> None:
    job = sbatch(BODY)
    with pytest.raises(AssertionError):
        _compare(_record(job), job.model_copy(update=dropped), BODY)


def test_the_equivalence_comparison_catches_a_lost_open_mode() -> None:
    job = sbatch(BODY)
    lost = job.model_copy(update={"io": job.io.model_copy(update={"open_mode": OpenMode.TRUNCATE})})
    with pytest.raises(AssertionError):
        _compare(_record(job), lost, BODY)


def test_a_rest_refusal_must_give_its_reason() -> None:
    _refused(403, {"errors": [{"description": "Access/permission denied"}]}, "denied")
    with pytest.raises(AssertionError):
        _refused(500, {"errors": [{"description": "Unexpected internal error"}]}, "denied", "permission")
    with pytest.raises(AssertionError):
        _refused(200, {"errors": []}, "denied")
