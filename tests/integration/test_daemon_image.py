"""The daemons' container image (images/daemon/): built without a container engine by
lab/kube.d/node/daemon-image.sh, imported into the lab's containerd, and run on the real node with
the secure defaults the chart uses (non-root, read-only root fs, no capabilities, RuntimeDefault seccomp)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.kube_lab import KubeLab, RealNode

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "lab/kube.d/node/daemon-image.sh"
IMAGE_DIR = REPO / "images/daemon"


def _image_env() -> dict[str, str]:
    """images/daemon/image.env: KEY=VALUE lines (the recipe both builds share)."""
    pairs = (line.split("=", 1) for line in (IMAGE_DIR / "image.env").read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip().strip('"') for k, v in pairs if not k.lstrip().startswith("#")}


def _script(*args: str, timeout: float) -> tuple[str, float]:
    """Run the build script; its last stdout line (the reference) and how long it took."""
    t0 = time.monotonic()
    out = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False)
    took = time.monotonic() - t0
    assert out.returncode == 0, f"{SCRIPT.name} {args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout.strip().splitlines()[-1], took


def _runtime_stage(containerfile: str) -> str:
    return containerfile.split("\nFROM ${BASE}\n", 1)[1]


def test_containerfile_matches_the_lab_recipe() -> None:
    """The site's Containerfile and the lab's engine-free build describe one image (image.env)."""
    env = _image_env()
    text = (IMAGE_DIR / "Containerfile").read_text()
    runtime = _runtime_stage(text)
    uid, user, prefix = env["DAEMON_UID"], env["DAEMON_USER"], env["DAEMON_PREFIX"]
    assert f"ARG BASE=docker.io/library/debian:{env['DAEMON_BASE_SUITE']}-slim" in text
    installed = re.search(r"apt-get install -y --no-install-recommends ([^\\&]+)", runtime)
    assert installed and installed.group(1).split() == env["DAEMON_BASE_PACKAGES"].split()
    assert f"groupadd --gid {uid} {user}" in runtime
    assert f"useradd --uid {uid} --gid {uid} " in runtime and runtime.rstrip().count(f" {user}") >= 2
    assert f"USER {uid}:{uid}" in runtime
    assert f'ENTRYPOINT ["{env["DAEMON_ENTRYPOINT"]}"]' in runtime
    assert f"COPY --from=build {prefix} {prefix}" in runtime
    assert f'{prefix}/bin/pip install --no-cache-dir "/src[htcondor]"' in text
    assert "pip" not in runtime.split("COPY --from=build", 1)[0]  # no pip in the runtime stage


def test_the_tag_is_the_sources_hash(tmp_path: Path) -> None:
    """Same sources anywhere -> same tag; one changed byte in a package file -> another tag."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, copy / name)
    for name in ("bridge", "adapters"):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    here, _ = _script("--ref-only", timeout=60)
    same, _ = _script("--ref-only", "--source", str(copy), timeout=60)
    assert re.fullmatch(re.escape(_image_env()["DAEMON_IMAGE_REPO"]) + r":0\.1\.0-[0-9a-f]{12}", here), here
    assert same == here
    (copy / "bridge" / "__init__.py").write_text((copy / "bridge" / "__init__.py").read_text() + "\n")
    changed, _ = _script("--ref-only", "--source", str(copy), timeout=60)
    assert changed != here


@pytest.fixture(scope="module")
def daemon_image(kube_lab: KubeLab) -> dict[str, Any]:
    """Build (cold the first time: ~1.5 min) and import, then the same command again (warm)."""
    ref, first = _script(timeout=900)
    again, warm = _script(timeout=60)
    return {"ref": ref, "again": again, "first_s": first, "warm_s": warm}


@pytest.mark.integration
def test_a_second_run_is_a_cache_hit(daemon_image: dict[str, Any]) -> None:
    print(
        f"daemon image {daemon_image['ref']}: first {daemon_image['first_s']:.1f}s, warm {daemon_image['warm_s']:.1f}s"
    )
    assert daemon_image["again"] == daemon_image["ref"]
    assert daemon_image["warm_s"] < 5.0


PROBE = """
import json, os, htcondor, classad
try:
    open("/probe", "w")
    root_writable = True
except OSError:
    root_writable = False
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "htcondor": htcondor.version(),
                  "ad": classad.ClassAd({"A": 1})["A"], "root_writable": root_writable}))
"""


def _container(name: str, image: str, command: list[str] | None, args: list[str] | None) -> Any:
    return client.V1Container(
        name=name,
        image=image,
        image_pull_policy="Never",
        command=command,
        args=args,
        security_context=client.V1SecurityContext(
            run_as_non_root=True,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        ),
    )


@pytest.mark.integration
def test_the_image_runs_locked_down_on_the_real_node(
    kube_lab: KubeLab, real_node: RealNode, daemon_image: dict[str, Any]
) -> None:
    """No runAsUser: the kubelet admits the image only because its own USER is a non-zero uid."""
    ref, env = daemon_image["ref"], _image_env()
    ns = kube_lab.namespace("daemon-image")
    python = f"{env['DAEMON_PREFIX']}/bin/python"
    # The real node's pod (placement, RuntimeDefault seccomp, runAsNonRoot) without its uid/gid:
    # the image's own USER must be what makes it non-root.
    spec = real_node.pod_spec([], uid=0, gid=0)
    spec.security_context.run_as_user = spec.security_context.run_as_group = None
    spec.containers = [
        _container("help", ref, None, ["--help"]),
        _container("schema", ref, None, ["config", "schema"]),
        _container("probe", ref, [python, "-c", PROBE], None),
    ]
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="daemon-image"), spec=spec)
    kube_lab.core.create_namespaced_pod(ns, pod)
    done = kube_lab.wait_pod(
        ns, "daemon-image", lambda p: p.status.phase in ("Succeeded", "Failed"), "finished", timeout=120
    )
    logs = {
        c: kube_lab.core.read_namespaced_pod_log("daemon-image", ns, container=c) for c in ("help", "schema", "probe")
    }
    exits = {s.name: s.state.terminated.exit_code for s in done.status.container_statuses}
    assert done.status.phase == "Succeeded", (exits, logs)
    assert exits == {"help": 0, "schema": 0, "probe": 0}
    assert "usage: batch-bridge" in logs["help"]
    assert "properties" in json.loads(logs["schema"])
    probe = json.loads(logs["probe"].strip().splitlines()[-1])
    assert probe["uid"] == int(env["DAEMON_UID"]) != 0
    assert probe["gid"] == int(env["DAEMON_UID"])
    assert probe["htcondor"].startswith("$CondorVersion: 24.")
    assert probe["ad"] == 1
    assert probe["root_writable"] is False
