"""Site policy: storage prefixes, identity floors, image registries, namespaces."""

from __future__ import annotations

import pytest

from bridge.domain.errors import PolicyError
from bridge.domain.ir import Identity
from bridge.domain.policy import (
    ImagePolicy,
    NamespaceFrom,
    NamespacePolicy,
    check_job,
    resolve_image,
    resolve_namespace,
)
from tests.unit.helpers import POLICY, sbatch, script


def test_a_normal_job_passes() -> None:
    check_job(sbatch(script("-o out.txt")), POLICY)


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        ("-D /etc", "working directory '/etc'"),
        ("-o ../../../../etc/cron.d/x", "output file '/etc/cron.d/x'"),
        ("-e /lab/gpfs2/x", "error file '/lab/gpfs2/x'"),  # string-prefix lookalike
        ("-i /root/secret", "input file '/root/secret'"),
        ("-o /lab/pnfs/out.txt", "read-only"),
        ("-J .. -o /lab/gpfs/%x/../../etc/passwd", "'/etc/passwd'"),
    ],
)
def test_paths_must_be_on_writable_storage(directive: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        check_job(sbatch(script(directive)), POLICY)


def test_inputs_may_come_from_read_only_storage() -> None:
    check_job(sbatch(script("-i /lab/pnfs/data/in.txt")), POLICY)


@pytest.mark.parametrize(
    "ident",
    [
        Identity(user="root", uid=0, gid=0),
        Identity(user="daemon", uid=1, gid=1),
        Identity(user="alice", uid=2001, gid=0),
        Identity(user="alice", uid=2001, gid=2001, groups=(0,)),
    ],
)
def test_root_and_system_identities_are_refused(ident: Identity) -> None:
    job = sbatch(script()).model_copy(update={"identity": ident})
    with pytest.raises(PolicyError):
        check_job(job, POLICY)


def test_images() -> None:
    job = sbatch(script())
    assert resolve_image(job, POLICY) == "localhost/batch-bridge/lab-runtime:1"
    strict = POLICY.model_copy(
        update={
            "images": ImagePolicy(
                default="x", allowed_registries=("harbor.lab",), per_queue={"gpu": "harbor.lab/cuda:1"}
            )
        }
    )
    with pytest.raises(PolicyError, match="allowed registry"):
        resolve_image(job, strict)
    assert resolve_image(job.model_copy(update={"queue": "gpu"}), strict) == "harbor.lab/cuda:1"
    with pytest.raises(PolicyError, match="allowed registry"):
        resolve_image(job.model_copy(update={"image": "harbor.lab.evil.com/x:1"}), strict)
    with pytest.raises(PolicyError, match="no container image"):
        resolve_image(job, POLICY.model_copy(update={"images": ImagePolicy()}))


def test_namespaces() -> None:
    job = sbatch(script("-A Physics_Group"))
    assert resolve_namespace(job, POLICY) == "batch"
    by_account = POLICY.model_copy(update={"namespace": NamespacePolicy(mode=NamespaceFrom.ACCOUNT, prefix="b-")})
    ns = resolve_namespace(job, by_account)
    assert ns.startswith("b-physics-group-")
    assert ns == resolve_namespace(job, by_account)
    by_user = POLICY.model_copy(update={"namespace": NamespacePolicy(mode=NamespaceFrom.USER, prefix="u-")})
    assert resolve_namespace(job, by_user) == "u-alice"
