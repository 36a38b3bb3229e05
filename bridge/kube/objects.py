"""Pure builders: one BatchJob (IR) + settings -> the Kubernetes objects that run it, as plain dicts.

No I/O, no clock, no randomness: the same input gives byte-identical objects, which golden files pin.
The site policy is checked first, so no object is ever built for a job the site refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files as _package_files
from typing import Any

from bridge.domain import wellknown as wk
from bridge.domain.errors import TranslationError
from bridge.domain.ir import ArraySpec, BatchJob, GpuScope, Script, Source
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
from bridge.kube import entrypoint, storage
from bridge.kube.settings import KubeSettings

Obj = dict[str, Any]
CONFIG_VOLUME = "batch-bridge"


def _compact(script: str, header: int) -> str:
    """``script`` without its comment lines past the ``header`` first ones (it is copied into every Job)."""
    lines = script.splitlines(keepends=True)
    return "".join(lines[:header] + [ln for ln in lines[header:] if not ln.lstrip().startswith("#")])


# srun for steps inside a Slurm job's pod (a package file, read once: the builder stays pure).
SRUN = _compact(_package_files("bridge.kube").joinpath("srun.sh").read_text(), header=8)
SCRATCH_VOLUME = "scratch"
# Whether the batch system ends a job at its own time limit, so that activeDeadlineSeconds is only a
# backstop (limit + deadline_grace_seconds): slurmctld times out the gateway shim; nothing in HTCondor
# runs a managed job's AllowedExecuteDuration, and an SDK job straight to Kubernetes has no batch
# system at all, so for those the deadline is the limit itself.
_BATCH_ENFORCES_LIMIT = {Source.SLURM: True, Source.HTCONDOR: False, Source.SDK: False}
CONTAINER = "job"


@dataclass(frozen=True)
class JobObjects:
    """What one batch job becomes: a batch/v1 Job, and a ConfigMap only when its files are too big.

    The job's files (entrypoint, script, passwd, group) travel as pod-template annotations read
    through a downwardAPI volume: one object, one write. Above ``kube.max_annotation_bytes`` they go
    to a ConfigMap that the client creates after the Job, owned by it (the pod waits for it).
    """

    job: Obj
    config_map: Obj | None = None

    def as_list(self) -> list[Obj]:
        return [self.job] if self.config_map is None else [self.config_map, self.job]


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
    if job.array_task is not None:
        out[wk.LABEL_ARRAY_TASK] = str(job.array_task)
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
        wk.ANN_ARRAY_JOB_ID: job.array_job_id,
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
        case storage.StaticCsiVolume():  # a PV/PVC pair per namespace (bridge.kube.storage_sync)
            return storage.pod_volume(mount)
        case HostPathVolume(path=path):
            return {"name": mount.volume_name, "hostPath": {"path": path, "type": "Directory"}}


def _login_variables(job: BatchJob) -> dict[str, str]:
    ident = job.identity
    out = {"USER": ident.user, "LOGNAME": ident.user}
    if ident.home:
        out["HOME"] = ident.home
    return out


def environment(job: BatchJob) -> list[Obj]:
    merged = _login_variables(job)  # what a login shell has; the job's own environment overrides it
    merged.update(job.environment.variables)
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


def passwd_file(job: BatchJob) -> str:
    """/etc/passwd for the pod: the system entries every image has, then the submitting user."""
    i = job.identity
    return (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        f"{i.user}:x:{i.uid}:{i.gid}::{i.home or job.working_dir}:{i.shell or '/bin/sh'}\n"
    )


def group_file(job: BatchJob) -> str:
    i = job.identity
    names = dict(i.group_names)
    lines = ["root:x:0:", "nogroup:x:65534:"]
    lines.append(f"{names.get(i.gid, i.user)}:x:{i.gid}:")
    lines += [f"{names.get(g, f'g{g}')}:x:{g}:{i.user}" for g in i.groups if g != i.gid]
    return "\n".join(lines) + "\n"


def job_files(job: BatchJob, settings: KubeSettings) -> dict[str, str]:
    """Every file the pod reads from /batch-bridge (and /etc), by key."""
    files = {wk.KEY_ENTRYPOINT: entrypoint.render(job)}
    if isinstance(job.payload, Script):
        files[wk.KEY_SCRIPT] = job.payload.body
    if job.array is not None and job.array_task is None and job.array.progression is None:
        files[wk.KEY_ARRAY_INDEXES] = "".join(f"{i}\n" for i in job.array.indexes)
    if settings.user_files:
        files[wk.KEY_PASSWD] = passwd_file(job)
        files[wk.KEY_GROUP] = group_file(job)
    if job.source is Source.SLURM:
        files[wk.KEY_SRUN] = SRUN
    return files


def _user_file_mounts(settings: KubeSettings) -> list[Obj]:
    if not settings.user_files:
        return []
    return [
        {"name": CONFIG_VOLUME, "mountPath": f"/etc/{key}", "subPath": key, "readOnly": True}
        for key in (wk.KEY_PASSWD, wk.KEY_GROUP)
    ]


def files_volume(name: str, files: dict[str, str], in_config_map: bool) -> Obj:
    if in_config_map:
        mapped = [{"key": key, "path": wk.FILE_PATHS.get(key, key)} for key in files]
        return {"name": CONFIG_VOLUME, "configMap": {"name": name, "items": mapped, "defaultMode": 0o555}}
    items: list[Obj] = [
        {
            "path": wk.FILE_PATHS.get(key, key),
            "fieldRef": {"fieldPath": f"metadata.annotations['{wk.FILE_PREFIX}{key}']"},
        }
        for key in files
    ]
    return {"name": CONFIG_VOLUME, "downwardAPI": {"items": items, "defaultMode": 0o555}}


def container(job: BatchJob, image: str, policy: SitePolicy, settings: KubeSettings) -> Obj:
    mounts: list[Obj] = [
        {"name": CONFIG_VOLUME, "mountPath": wk.CONFIG_MOUNT, "readOnly": True},
        *_user_file_mounts(settings),
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


def pod_spec(job: BatchJob, image: str, files: Obj, policy: SitePolicy, settings: KubeSettings) -> Obj:
    spec: Obj = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "securityContext": security_context(job, settings),
        "containers": [container(job, image, policy, settings)],
        "volumes": [
            files,
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


def job_spec(job: BatchJob, meta: Obj, image: str, files: Obj, policy: SitePolicy, settings: KubeSettings) -> Obj:
    spec: Obj = {"backoffLimit": 0}
    if job.array is not None and job.array_task is None:
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
        grace = settings.deadline_grace_seconds if _BATCH_ENFORCES_LIMIT[job.source] else 0
        # The Job's deadline counts from its start: a throttled array runs its tasks in waves, each
        # with the whole limit (one limit for all would end the later waves' tasks as TIMEOUT).
        waves = -(-spec["completions"] // spec["parallelism"]) if "completions" in spec else 1
        spec["activeDeadlineSeconds"] = job.time_limit_s * waves + grace
    if settings.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = settings.ttl_seconds_after_finished
    spec["template"] = {"metadata": meta, "spec": pod_spec(job, image, files, policy, settings)}
    return spec


def _annotation_bytes(annotations: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())


def build_job(job: BatchJob, policy: SitePolicy, settings: KubeSettings) -> JobObjects:
    """The Job (and, for big files, a ConfigMap) for ``job``; raises PolicyError/TranslationError."""
    check_job(job, policy)
    _check_shape(job, settings)
    image = resolve_image(job, policy)
    name, namespace = object_name(job), resolve_namespace(job, policy)
    labels, annotations = batch_labels(job), batch_annotations(job)
    files = job_files(job, settings)
    file_annotations = {wk.FILE_PREFIX + key: text for key, text in files.items()}
    in_config_map = _annotation_bytes(annotations) + _annotation_bytes(file_annotations) > settings.max_annotation_bytes
    pod_annotations = dict(annotations) if in_config_map else {**annotations, **file_annotations}
    meta: Obj = {"labels": labels, "annotations": pod_annotations}
    job_labels = dict(labels)
    kueue = settings.kueue_queue_per_queue.get(job.queue or "") or settings.kueue_queue
    if kueue:
        job_labels[wk.LABEL_KUEUE_QUEUE] = kueue
    volume_files = files_volume(name, files, in_config_map)
    kube_job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": job_labels, "annotations": dict(annotations)},
        "spec": job_spec(job, meta, image, volume_files, policy, settings),
    }
    if not in_config_map:
        return JobObjects(job=kube_job)
    config_map: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "data": files,
    }
    return JobObjects(job=kube_job, config_map=config_map)


def owned_by(obj: Obj, owner: Obj) -> Obj:
    """``obj`` with an ownerReference to the created ``owner`` (its uid is known only after creation)."""
    meta = owner["metadata"]
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "blockOwnerDeletion": False,
    }
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [ref]}}
