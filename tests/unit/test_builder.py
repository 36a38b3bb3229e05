"""The pure Job builder: shape, security, resources; and its entrypoint, executed for real by sh."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adapters.slurm.translate import SubmitContext, translate
from bridge.domain import wellknown as wk
from bridge.domain.errors import TranslationError
from bridge.domain.ir import BatchJob, Source
from bridge.domain.policy import HostPathVolume, StorageMount
from bridge.kube.objects import build_job, job_files
from bridge.kube.settings import KubeSettings
from tests.unit.helpers import ALICE, BRIDGED, NOW, POLICY, sbatch, script


def _job(job: BatchJob, **settings: Any) -> dict[str, Any]:
    return build_job(job, POLICY, KubeSettings(**settings)).job


def _pod(job: BatchJob, **settings: Any) -> dict[str, Any]:
    spec: dict[str, Any] = _job(job, **settings)["spec"]["template"]["spec"]
    return spec


def test_security_context_runs_as_the_user_and_never_sets_fsgroup() -> None:
    pod = _pod(sbatch(script()))
    ctx = pod["securityContext"]
    assert (ctx["runAsUser"], ctx["runAsGroup"], ctx["supplementalGroups"]) == (2001, 2001, [3000])
    assert ctx["runAsNonRoot"] is True
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "fsGroup" not in ctx
    c = pod["containers"][0]["securityContext"]
    assert c["allowPrivilegeEscalation"] is False
    assert c["capabilities"] == {"drop": ["ALL"]}
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False


def test_resources_gpus_and_node_selection() -> None:
    pod = _pod(sbatch(script("-n 2", "-c 3", "--mem-per-gpu=4G", "--gpus-per-task=a100:1", "-C ssd")), cpu_limit=True)
    res = pod["containers"][0]["resources"]
    assert res["requests"] == {"cpu": "6", "memory": "8192Mi", "nvidia.com/gpu": "2"}
    assert res["limits"] == {"cpu": "6", "memory": "8192Mi", "nvidia.com/gpu": "2"}
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "a100", "feature.batch-bridge.io/ssd": "true"}


def test_default_memory_is_per_cpu() -> None:
    res = _pod(sbatch(script("-c 2")), default_memory_per_cpu_mib=100)["containers"][0]["resources"]
    assert res["requests"]["memory"] == "200Mi"


def test_array_becomes_an_indexed_job_with_per_index_failures() -> None:
    spec = _job(sbatch(script("--array=0-9%3")))["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 10, 3)
    assert spec["backoffLimitPerIndex"] == 0


def test_single_job_shape() -> None:
    job = _job(sbatch(script("-t 1:00:00", "--requeue")), kueue_queue="q", priority_class="p")
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    assert (
        spec["activeDeadlineSeconds"] == 3600 + KubeSettings().deadline_grace_seconds
    )  # a backstop behind Slurm's limit
    assert spec["podFailurePolicy"]["rules"][0]["action"] == "Ignore"
    assert job["metadata"]["labels"][wk.LABEL_KUEUE_QUEUE] == "q"
    assert spec["template"]["spec"]["priorityClassName"] == "p"
    assert "fsGroup" not in str(job)


def test_a_limit_no_batch_system_enforces_is_the_deadline_itself() -> None:
    """HTCondor runs no starter for a managed job: AllowedExecuteDuration is Kubernetes' to end; an SDK
    job sent straight to Kubernetes has no batch system behind it."""
    for source in (Source.HTCONDOR, Source.SDK):
        job = sbatch(script("-t 1:00:00")).model_copy(update={"source": source})
        assert _job(job, deadline_grace_seconds=120)["spec"]["activeDeadlineSeconds"] == 3600, source


def test_a_throttled_arrays_deadline_covers_every_wave_of_its_tasks() -> None:
    """Found reading the builder: one limit for the whole Indexed Job would end a throttled array's later
    tasks as TIMEOUT (10 tasks %3 of 5 minutes each run in 4 waves)."""
    spec = _job(sbatch(script("-t 5", "--array=0-9%3")), deadline_grace_seconds=120)["spec"]
    assert (spec["parallelism"], spec["activeDeadlineSeconds"]) == (3, 4 * 300 + 120)
    unthrottled = _job(sbatch(script("-t 5", "--array=0-9")), deadline_grace_seconds=120)["spec"]
    assert unthrottled["activeDeadlineSeconds"] == 300 + 120


def test_storage_volumes_are_mounted_at_the_same_path() -> None:
    pod = _pod(sbatch(script()))
    mounts = {
        m["mountPath"]: m["readOnly"] for m in pod["containers"][0]["volumeMounts"] if m["mountPath"].startswith("/lab")
    }
    assert mounts == {"/lab/gpfs": False, "/lab/pnfs": True}


def test_multi_node_jobs_are_refused() -> None:
    with pytest.raises(TranslationError, match="more than one node"):
        _job(sbatch(script("-N 2")))


def test_builder_is_deterministic() -> None:
    job = sbatch(script("--array=1,5,9"))
    assert build_job(job, POLICY, KubeSettings()) == build_job(job, POLICY, KubeSettings())


# --- the entrypoint, run by a real /bin/sh --------------------------------------------------------


def _run(
    tmp_path: Path, body: str, index: int | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    ctx = SubmitContext(identity=ALICE, job_id="42", submit_dir=str(work), cluster="lab", now=NOW, script_name="job.sh")
    job = translate(body, ctx, settings=BRIDGED)
    mount = tmp_path / "cm"
    mount.mkdir(exist_ok=True)
    here = StorageMount(prefix=str(tmp_path), volume=HostPathVolume(path=str(tmp_path)))
    build_job(job, POLICY.model_copy(update={"storage": (here,)}), KubeSettings())  # the policy accepts it
    files = job_files(job, KubeSettings())
    for name, text in files.items():
        path = mount / wk.FILE_PATHS.get(name, name)
        path.parent.mkdir(exist_ok=True)
        path.write_text(text.replace(wk.CONFIG_MOUNT + "/", f"{mount}/"))
        path.chmod(0o555)
    run_env = {
        "PATH": os.environ["PATH"],
        "BATCH_BRIDGE_NODE_NAME": "node7",
        "TMPDIR": str(tmp_path),
        **(env or {}),
    }
    if index is not None:
        run_env["JOB_COMPLETION_INDEX"] = str(index)
    return subprocess.run(
        ["/bin/sh", str(mount / wk.KEY_ENTRYPOINT)],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_entrypoint_writes_slurm_output_file_and_keeps_exit_code(tmp_path: Path) -> None:
    proc = _run(tmp_path, "#!/bin/sh\necho out; echo err >&2; pwd; exit 3\n")
    assert proc.returncode == 3
    assert (tmp_path / "work" / "slurm-42.out").read_text() == f"out\nerr\n{tmp_path}/work\n"


def test_entrypoint_maps_completion_index_to_task_id_and_expands_patterns(tmp_path: Path) -> None:
    body = (
        "#!/bin/sh\n#SBATCH --array=1,5,9\n#SBATCH -o t-%A-%3a-%N.out\necho $SLURM_ARRAY_TASK_ID $SLURM_JOB_NODELIST\n"
    )
    for index, task in enumerate((1, 5, 9)):
        assert _run(tmp_path, body, index).returncode == 0
        assert (tmp_path / "work" / f"t-42-{task:03d}-node7.out").read_text() == f"{task} node7\n"


def test_entrypoint_append_mode_and_separate_error_file(tmp_path: Path) -> None:
    body = "#!/bin/sh\n#SBATCH -o o.txt -e e.txt --open-mode=append\necho o; echo e >&2\n"
    _run(tmp_path, body)
    _run(tmp_path, body)
    assert (tmp_path / "work" / "o.txt").read_text() == "o\no\n"
    assert (tmp_path / "work" / "e.txt").read_text() == "e\ne\n"


def test_entrypoint_reports_unwritable_output(tmp_path: Path) -> None:
    proc = _run(tmp_path, "#!/bin/sh\n#SBATCH -o nodir/o.txt\necho x\n")
    assert proc.returncode == 1
    assert "cannot open output file" in proc.stderr


def test_entrypoint_signal_timer_with_b_reaches_the_script(tmp_path: Path) -> None:
    body = (
        "#!/bin/sh\n#SBATCH -t 1 --signal=B:USR1@59\ntrap 'echo got-usr1; exit 7' USR1\nwhile :; do sleep 0.1; done\n"
    )
    proc = _run(tmp_path, body)
    assert proc.returncode == 7
    assert (tmp_path / "work" / "slurm-42.out").read_text() == "got-usr1\n"


def test_entrypoint_signal_timer_without_b_reaches_the_steps_not_the_script(tmp_path: Path) -> None:
    task = "trap 'echo task-got-usr1; exit 5' USR1; while :; do sleep 0.1; done"
    body = (
        "#!/bin/sh\n#SBATCH -t 1 --signal=USR1@59\n"
        "trap 'echo script-got-usr1' USR1\n"
        f"srun sh -c {shlex.quote(task)}\n"
        "echo srun=$?\n"
    )
    proc = _run(tmp_path, body)
    assert proc.returncode == 0
    out = (tmp_path / "work" / "slurm-42.out").read_text()
    assert "task-got-usr1\n" in out and "srun=5\n" in out and "script-got" not in out, out


def test_entrypoint_signal_timer_keeps_the_input_file_on_stdin(tmp_path: Path) -> None:
    """The job runs in the background while the timer waits: an asynchronous command's stdin would
    be /dev/null without the explicit redirection."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "in.txt").write_text("from the input file\n")
    proc = _run(tmp_path, "#!/bin/sh\n#SBATCH -t 1 --signal=USR1@5 --input=in.txt\ncat\n")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "work" / "slurm-42.out").read_text() == "from the input file\n"


def test_production_storage_table_gives_csi_and_pvc_volumes() -> None:
    from bridge.config.settings import load_settings
    from tests.golden.cases import EXAMPLES

    settings = load_settings(EXAMPLES / "config" / "production.yaml")
    body = script("-A atlas", "-p k8s", "-D /pnfs/example.org/data/alice", command="cat /cvmfs/x")
    job = sbatch(body).model_copy(update={"cluster": "hpc1"})
    objs = build_job(job, settings.site, settings.kube)
    pod = objs.job["spec"]["template"]["spec"]
    by_name = {v["name"]: v for v in pod["volumes"]}
    assert by_name["storage-pnfs-example-org-data"]["csi"]["driver"] == "nfs.csi.k8s.io"
    assert by_name["storage-gpfs-home"]["persistentVolumeClaim"] == {"claimName": "gpfs-home"}
    assert by_name["storage-cvmfs"]["csi"]["readOnly"] is True
    assert objs.job["metadata"]["namespace"] == "batch-atlas"
    assert objs.job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "batch-cpu"
