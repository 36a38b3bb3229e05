"""Pure builders: one BatchJob (IR) + settings -> the Kubernetes objects that run it, as plain dicts.

No I/O, no clock, no randomness: the same input gives byte-identical objects, which golden files pin.
The site policy is checked first, so no object is ever built for a job the site refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bridge.domain import wellknown as wk
from bridge.domain.errors import TranslationError
from bridge.domain.ir import ArraySpec, BatchJob, GpuScope, Script
from bridge.domain.jobenv import job_variables, total_cpus, total_gpus
from bridge.domain.naming import job_name, label_value
from bridge.domain.policy import (
    CsiVolume,
    HostPathVolume,
    PvcVolume,
    SitePolicy,
    StorageMount,
    check_job,
    resolve_image,
    resolve_namespace,
)
from bridge.kube import entrypoint
from bridge.kube.settings import KubeSettings

Obj = dict[str, Any]
CONFIG_VOLUME = "batch-bridge"
SCRATCH_VOLUME = "scratch"
CONTAINER = "job"


@dataclass(frozen=True)
class JobObjects:
    """What one batch job becomes: a ConfigMap (entrypoint, script) and a batch/v1 Job."""

    config_map: Obj
    job: Obj

    def as_list(self) -> list[Obj]:
        return [self.config_map, self.job]


def object_name(job: BatchJob) -> str:
    return job_name(job.cluster, job.source.value, job.source_id)


def batch_labels(job: BatchJob) -> dict[str, str]:
    out = {k: label_value(v) for k, v in job.labels}
    out |= {  # the bridge's own keys win over the IR's (check_job also refuses them)
        wk.LABEL_MANAGED_BY: wk.MANAGED_BY_VALUE,
        wk.LABEL_SOURCE: job.source.value,
        wk.LABEL_CLUSTER: label_value(job.cluster),
        wk.LABEL_JOB_ID: label_value(job.source_id),
        wk.LABEL_USER: label_value(job.identity.user),
    }
    for key, value in ((wk.LABEL_ACCOUNT, job.account), (wk.LABEL_QUEUE, job.queue)):
        if value:
            out[key] = label_value(value)
    return out


def _array_text(array: ArraySpec) -> str:
    progression = array.progression
    if progression is None:
        return ",".join(map(str, array.indexes))
    start, step = progression
    return f"{start}-{array.indexes[-1]}" + (f":{step}" if step != 1 else "")


def batch_annotations(job: BatchJob) -> dict[str, str]:
    out = dict(job.annotations)
    out |= {wk.ANN_JOB_NAME: job.name, wk.ANN_SOURCE_ID: job.source_id, wk.ANN_SUBMIT_DIR: job.submit_dir}
    optional = {
        wk.ANN_ARRAY_INDEXES: _array_text(job.array) if job.array else None,
        wk.ANN_DEPENDENCIES: json.dumps(job.dependencies.model_dump(mode="json"), sort_keys=True)
        if job.dependencies.items
        else None,
        wk.ANN_BEGIN_TIME: job.begin_time.isoformat() if job.begin_time else None,
        wk.ANN_COMMENT: job.comment,
        wk.ANN_WARNINGS: "\n".join(job.warnings) or None,
        wk.ANN_REQUEUE: "true" if job.requeue else None,
    }
    out.update({k: v for k, v in optional.items() if v is not None})  # the bridge's keys win
    return out


def _memory_mib(job: BatchJob, settings: KubeSettings) -> int:
    r = job.resources
    if r.memory_per_node_mib is not None:
        return r.memory_per_node_mib
    if r.memory_per_cpu_mib is not None:
        return r.memory_per_cpu_mib * total_cpus(job)
    if r.memory_per_gpu_mib is not None:
        if not total_gpus(job):
            raise TranslationError("memory per GPU was requested but no GPUs")
        return r.memory_per_gpu_mib * total_gpus(job)
    return settings.default_memory_per_cpu_mib * total_cpus(job)


def resources(job: BatchJob, settings: KubeSettings) -> Obj:
    cpus, mem = str(total_cpus(job)), f"{_memory_mib(job, settings)}Mi"
    requests: dict[str, str] = {"cpu": cpus, "memory": mem}
    limits: dict[str, str] = {"memory": mem}
    if settings.cpu_limit:
        limits["cpu"] = cpus
    if gpus := total_gpus(job):
        requests[settings.gpu_resource] = limits[settings.gpu_resource] = str(gpus)
    if job.resources.ephemeral_disk_mib:
        requests["ephemeral-storage"] = f"{job.resources.ephemeral_disk_mib}Mi"
    return {"requests": requests, "limits": limits}


def node_selector(job: BatchJob, settings: KubeSettings) -> dict[str, str]:
    out = dict(settings.node_selector)
    gpus = job.resources.gpus
    if gpus is not None and gpus.type:
        out[settings.gpu_type_label] = gpus.type
    out.update({settings.feature_label_prefix + f: "true" for f in job.resources.features})
    return out


def volume(mount: StorageMount) -> Obj:
    match mount.volume:
        case PvcVolume(claim_name=claim):
            return {"name": mount.volume_name, "persistentVolumeClaim": {"claimName": claim}}
        case CsiVolume(driver=driver, volume_attributes=attributes):
            csi: Obj = {"driver": driver, "readOnly": mount.read_only}
            if attributes:
                csi["volumeAttributes"] = dict(sorted(attributes.items()))
            return {"name": mount.volume_name, "csi": csi}
        case HostPathVolume(path=path):
            return {"name": mount.volume_name, "hostPath": {"path": path, "type": "Directory"}}


def environment(job: BatchJob) -> list[Obj]:
    merged = dict(job.environment.variables)
    merged.update(job_variables(job))  # the batch system's own variables win, as in Slurm
    env: list[Obj] = [{"name": k, "value": v} for k, v in merged.items()]
    env.append({"name": entrypoint.NODE_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
    return env


def security_context(job: BatchJob, settings: KubeSettings) -> Obj:
    ident = job.identity
    ctx: Obj = {
        "runAsUser": ident.uid,
        "runAsGroup": ident.gid,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if ident.groups:
        ctx["supplementalGroups"] = list(ident.groups)
    if settings.supplemental_groups_policy:
        ctx["supplementalGroupsPolicy"] = settings.supplemental_groups_policy
    return ctx  # never fsGroup: it chowns whole site file systems recursively


def container(job: BatchJob, image: str, policy: SitePolicy, settings: KubeSettings) -> Obj:
    mounts: list[Obj] = [
        {"name": CONFIG_VOLUME, "mountPath": wk.CONFIG_MOUNT, "readOnly": True},
        {"name": SCRATCH_VOLUME, "mountPath": wk.SCRATCH_MOUNT},
    ]
    mounts += [{"name": m.volume_name, "mountPath": m.prefix, "readOnly": m.read_only} for m in policy.storage]
    return {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["/bin/sh", f"{wk.CONFIG_MOUNT}/{wk.KEY_ENTRYPOINT}"],
        "env": environment(job),
        "resources": resources(job, settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        },
        "volumeMounts": mounts,
    }


def pod_spec(job: BatchJob, name: str, image: str, policy: SitePolicy, settings: KubeSettings) -> Obj:
    spec: Obj = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "securityContext": security_context(job, settings),
        "containers": [container(job, image, policy, settings)],
        "volumes": [
            {"name": CONFIG_VOLUME, "configMap": {"name": name, "defaultMode": 0o555}},
            {"name": SCRATCH_VOLUME, "emptyDir": {}},
            *(volume(m) for m in policy.storage),
        ],
    }
    if selector := node_selector(job, settings):
        spec["nodeSelector"] = selector
    if settings.tolerations:
        spec["tolerations"] = list(settings.tolerations)
    priority = settings.priority_class_per_qos.get(job.qos or "") or settings.priority_class
    if priority:
        spec["priorityClassName"] = priority
    return spec


def _check_shape(job: BatchJob, settings: KubeSettings) -> None:
    r = job.resources
    if r.nodes_min > 1:
        raise TranslationError(f"jobs on more than one node are not supported (asked for {r.nodes_min} nodes)")
    if r.gpus is not None and r.gpus.per is GpuScope.NODE and r.nodes_min != 1:
        raise TranslationError("GPUs per node need a single-node job")
    if isinstance(job.payload, Script) and len(job.payload.body.encode()) > settings.max_script_bytes:
        raise TranslationError(f"script is larger than {settings.max_script_bytes} bytes")


def job_spec(job: BatchJob, name: str, meta: Obj, image: str, policy: SitePolicy, settings: KubeSettings) -> Obj:
    spec: Obj = {"backoffLimit": 0}
    if job.array is not None:
        count = len(job.array.indexes)
        # Array tasks fail independently, as in Slurm: a per-index limit, not one for the whole Job.
        spec = {
            "completionMode": "Indexed",
            "completions": count,
            "parallelism": min(job.array.throttle or count, count),
            "backoffLimitPerIndex": 0,
            "backoffLimit": count,
        }
    if job.requeue:
        # Platform disruptions (eviction, node loss) re-run the pod instead of failing the job.
        spec["podFailurePolicy"] = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    if job.time_limit_s is not None:
        spec["activeDeadlineSeconds"] = job.time_limit_s
    if settings.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = settings.ttl_seconds_after_finished
    spec["template"] = {"metadata": meta, "spec": pod_spec(job, name, image, policy, settings)}
    return spec


def build_job(job: BatchJob, policy: SitePolicy, settings: KubeSettings) -> JobObjects:
    """The ConfigMap and Job for ``job``; raises PolicyError/TranslationError with the user's reason."""
    check_job(job, policy)
    _check_shape(job, settings)
    image = resolve_image(job, policy)
    name, namespace = object_name(job), resolve_namespace(job, policy)
    meta: Obj = {"labels": batch_labels(job), "annotations": batch_annotations(job)}
    job_labels = dict(meta["labels"])
    kueue = settings.kueue_queue_per_queue.get(job.queue or "") or settings.kueue_queue
    if kueue:
        job_labels[wk.LABEL_KUEUE_QUEUE] = kueue
    data = {wk.KEY_ENTRYPOINT: entrypoint.render(job)}
    if isinstance(job.payload, Script):
        data[wk.KEY_SCRIPT] = job.payload.body
    if job.array is not None and job.array.progression is None:
        data[wk.KEY_ARRAY_INDEXES] = "".join(f"{i}\n" for i in job.array.indexes)
    config_map: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(meta["labels"])},
        "data": data,
    }
    kube_job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": job_labels,
            "annotations": dict(meta["annotations"]),
        },
        "spec": job_spec(job, name, meta, image, policy, settings),
    }
    return JobObjects(config_map=config_map, job=kube_job)
