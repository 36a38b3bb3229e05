"""The variables a batch script expects to find, per front door, as tables over the IR.

Values known at build time are computed here. Values known only where the job runs (array task id,
node name) are set by the pod's entrypoint; RUNTIME_VARIABLES names them per source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from bridge.domain.ir import BatchJob, GpuScope, Source
from bridge.domain.wellknown import SCRATCH_MOUNT

Getter = Callable[[BatchJob], str | None]
# What the apiserver accepts as an environment variable name: printable ASCII, no "=".
_ENV_NAME = re.compile(r"[!-<>-~]+")


def valid_env_name(name: str) -> bool:
    return _ENV_NAME.fullmatch(name) is not None


def total_cpus(job: BatchJob) -> int:
    return job.resources.cpus_per_task * job.resources.tasks


def total_gpus(job: BatchJob) -> int:
    gpus = job.resources.gpus
    if gpus is None:
        return 0
    return gpus.count * (job.resources.tasks if gpus.per is GpuScope.TASK else 1)


def _array(job: BatchJob, pick: Callable[[tuple[int, ...]], int]) -> str | None:
    return str(pick(job.array.indexes)) if job.array else None


def _array_step(job: BatchJob) -> str | None:
    if job.array is None:
        return None
    progression = job.array.progression
    return str(progression[1]) if progression else "1"


def _mem(job: BatchJob) -> tuple[str, str] | None:
    r = job.resources
    for name, value in (
        ("SLURM_MEM_PER_NODE", r.memory_per_node_mib),
        ("SLURM_MEM_PER_CPU", r.memory_per_cpu_mib),
        ("SLURM_MEM_PER_GPU", r.memory_per_gpu_mib),
    ):
        if value is not None:
            return name, str(value)
    return None


SLURM_VARIABLES: Final[Mapping[str, Getter]] = MappingProxyType(
    {
        "SLURM_JOB_ID": lambda j: j.source_id,
        "SLURM_JOBID": lambda j: j.source_id,
        "SLURM_JOB_NAME": lambda j: j.name,
        "SLURM_JOB_USER": lambda j: j.identity.user,
        "SLURM_JOB_UID": lambda j: str(j.identity.uid),
        "SLURM_JOB_GID": lambda j: str(j.identity.gid),
        "SLURM_JOB_ACCOUNT": lambda j: j.account,
        "SLURM_JOB_PARTITION": lambda j: j.queue,
        "SLURM_JOB_QOS": lambda j: j.qos,
        "SLURM_CLUSTER_NAME": lambda j: j.cluster,
        "SLURM_SUBMIT_DIR": lambda j: j.submit_dir,
        "SLURM_JOB_NUM_NODES": lambda j: "1",
        "SLURM_NNODES": lambda j: "1",
        "SLURM_NTASKS": lambda j: str(j.resources.tasks),
        "SLURM_NPROCS": lambda j: str(j.resources.tasks),
        "SLURM_CPUS_PER_TASK": lambda j: str(j.resources.cpus_per_task),
        "SLURM_CPUS_ON_NODE": lambda j: str(total_cpus(j)),
        "SLURM_JOB_CPUS_PER_NODE": lambda j: str(total_cpus(j)),
        "SLURM_TASKS_PER_NODE": lambda j: str(j.resources.tasks),
        "SLURM_NODEID": lambda j: "0",
        "SLURM_PROCID": lambda j: "0",
        "SLURM_LOCALID": lambda j: "0",
        "SLURM_GPUS": lambda j: str(total_gpus(j)) if j.resources.gpus else None,
        "SLURM_ARRAY_JOB_ID": lambda j: (j.array_job_id or j.source_id) if j.array else None,
        "SLURM_ARRAY_TASK_COUNT": lambda j: str(len(j.array.indexes)) if j.array else None,
        "SLURM_ARRAY_TASK_MIN": lambda j: _array(j, min),
        "SLURM_ARRAY_TASK_MAX": lambda j: _array(j, max),
        "SLURM_ARRAY_TASK_STEP": _array_step,
        "SLURM_JOB_DEPENDENCY": lambda j: None,
        "SLURM_JOB_COMMENT": lambda j: j.comment,
        "ENVIRONMENT": lambda j: "BATCH",
    }
)

HTCONDOR_VARIABLES: Final[Mapping[str, Getter]] = MappingProxyType(
    {
        "_CONDOR_JOB_IWD": lambda j: j.working_dir,
        "_CONDOR_SCRATCH_DIR": lambda j: SCRATCH_MOUNT,
        "_CONDOR_SLOT": lambda j: "slot1",
        "_CONDOR_CLUSTER_ID": lambda j: j.source_id.split(".")[0],
        "_CONDOR_PROC_ID": lambda j: j.source_id.split(".")[-1],
        "OMP_NUM_THREADS": lambda j: str(total_cpus(j)),
        "BATCH_SYSTEM": lambda j: "HTCondor",
    }
)

SOURCE_VARIABLES: Final[Mapping[Source, Mapping[str, Getter]]] = MappingProxyType(
    {Source.SLURM: SLURM_VARIABLES, Source.HTCONDOR: HTCONDOR_VARIABLES, Source.SDK: MappingProxyType({})}
)

# Set by the entrypoint where the job runs: task id from the completion index, node from the pod.
RUNTIME_VARIABLES: Final[Mapping[Source, tuple[str, ...]]] = MappingProxyType(
    {
        Source.SLURM: ("SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURMD_NODENAME"),
        Source.HTCONDOR: (),
        Source.SDK: ("BATCH_BRIDGE_ARRAY_INDEX",),
    }
)


def job_variables(job: BatchJob) -> list[tuple[str, str]]:
    """The batch system's variables for ``job``, in table order, unset ones left out."""
    out = [(k, v) for k, get in SOURCE_VARIABLES[job.source].items() if (v := get(job)) is not None]
    if job.source is Source.SLURM and (mem := _mem(job)) is not None:
        out.append(mem)
    return out
