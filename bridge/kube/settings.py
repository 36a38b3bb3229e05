"""How jobs become Kubernetes objects on this site (typed, every field documented)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bridge.domain.ir import Model


class KubeSettings(Model):
    gpu_resource: str = Field(default="nvidia.com/gpu", description="Extended resource name for GPUs.")
    gpu_type_label: str = Field(
        default="nvidia.com/gpu.product", description="Node label a GPU type (e.g. --gres=gpu:a100:1) selects on."
    )
    feature_label_prefix: str = Field(
        default="feature.batch-bridge.io/",
        description="Node label prefix for Slurm --constraint features: feature X needs label <prefix>X=true.",
    )
    default_memory_per_cpu_mib: int = Field(
        default=1024, ge=1, description="Memory per CPU when a job asks for none (Slurm's DefMemPerCPU)."
    )
    cpu_limit: bool = Field(
        default=False, description="Also set a CPU limit equal to the request (throttles; off lets jobs burst)."
    )
    ttl_seconds_after_finished: int | None = Field(
        default=86400, ge=0, description="Delete finished Jobs after this many seconds (None keeps them)."
    )
    deadline_grace_seconds: int = Field(
        default=120,
        ge=0,
        description="activeDeadlineSeconds is the time limit plus this: a backstop only, so that the batch "
        "system's own limit (Slurm's TIMEOUT) ends the job first; pending time counts against it too.",
    )
    termination_grace_seconds: int = Field(
        default=30, ge=0, description="SIGTERM-to-SIGKILL grace, like Slurm's KillWait."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="imagePullPolicy of the job container."
    )
    supplemental_groups_policy: Literal["Strict", "Merge"] | None = Field(
        default="Strict", description="Pod supplementalGroupsPolicy; Strict keeps the image's /etc/group out."
    )
    kueue_queue: str | None = Field(default=None, description="Kueue LocalQueue for every job (label).")
    kueue_queue_per_queue: dict[str, str] = Field(
        default_factory=dict, description="Kueue LocalQueue per partition/queue; wins over kueue_queue."
    )
    priority_class: str | None = Field(default=None, description="PriorityClass for every job.")
    priority_class_per_qos: dict[str, str] = Field(
        default_factory=dict, description="PriorityClass per Slurm QOS; wins over priority_class."
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="Added to every job's pods.")
    tolerations: list[dict[str, Any]] = Field(default_factory=list, description="Added to every job's pods.")
    max_script_bytes: int = Field(
        default=900_000, ge=1, description="Largest script a job may carry (a ConfigMap holds at most 1 MiB)."
    )
    max_annotation_bytes: int = Field(
        default=200_000,
        ge=0,
        le=250_000,
        description="Files (script, entrypoint) travel as pod annotations up to this size (the apiserver allows "
        "256 KiB of annotations per object); bigger ones go to a ConfigMap owned by the Job (a second write).",
    )
    user_files: bool = Field(
        default=True,
        description="Mount /etc/passwd and /etc/group made from the submitter's NSS record, so whoami, id -un "
        "and ~ work in the pod as on the login node.",
    )
