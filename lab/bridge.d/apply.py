"""Create or replace the objects of a YAML stream (stdin) with a kubeconfig: the lab's kubectl apply."""

from __future__ import annotations

import sys
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client import ApiException

CREATE: dict[str, tuple[str, str]] = {
    "Namespace": ("CoreV1Api", "namespace"),
    "Role": ("RbacAuthorizationV1Api", "namespaced_role"),
    "RoleBinding": ("RbacAuthorizationV1Api", "namespaced_role_binding"),
    "ClusterRole": ("RbacAuthorizationV1Api", "cluster_role"),
    "ClusterRoleBinding": ("RbacAuthorizationV1Api", "cluster_role_binding"),
}


def main() -> int:
    api: Any = config.new_client_from_config(config_file=sys.argv[1])
    for obj in yaml.safe_load_all(sys.stdin):
        if not obj:
            continue
        group, noun = CREATE[obj["kind"]]
        target = getattr(client, group)(api)
        meta = obj["metadata"]
        ns_args = [meta["namespace"]] if "namespace" in meta else []
        try:
            getattr(target, f"create_{noun}")(*ns_args, obj)
        except ApiException as exc:
            if exc.status != 409:
                raise
            if obj["kind"] != "Namespace":
                getattr(target, f"replace_{noun}")(meta["name"], *ns_args, obj)
        print(f"{obj['kind']} {meta.get('namespace', '')}/{meta['name']}: applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
