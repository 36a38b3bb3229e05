"""RBAC objects for the bridge's ServiceAccount, built from what the code declares it uses (pure).

``bridge.kube.client.RBAC_RULES`` is the one list; the lab's grant and the Helm chart come from here,
so a verb the code starts to use is granted in one place, and one it stops using disappears.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Obj = dict[str, Any]
ROLE_NAME = "batch-bridge"


def namespace_grant(
    namespace: str, sa_namespace: str, sa_name: str, rules: Sequence[Obj], name: str = ROLE_NAME
) -> list[Obj]:
    """A Role with ``rules`` in ``namespace`` and its RoleBinding to the ServiceAccount."""
    labels = {"app.kubernetes.io/managed-by": "batch-bridge", "app.kubernetes.io/component": "rbac"}
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "rules": [dict(r) for r in rules],
    }
    binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
    }
    return [role, binding]


def cluster_grant(sa_namespace: str, sa_name: str, rules: Sequence[Obj], name: str = ROLE_NAME) -> list[Obj]:
    """A ClusterRole with ``rules`` (cluster-scoped objects such as PersistentVolumes) and its binding."""
    labels = {"app.kubernetes.io/managed-by": "batch-bridge", "app.kubernetes.io/component": "rbac"}
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": [dict(r) for r in rules],
    }
    binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
    }
    return [role, binding]
