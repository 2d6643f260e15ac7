"""The minimal RBAC a profkit capture needs, as ClusterRole (+ Role) YAML for ``profkit capture --print-rbac``."""

from __future__ import annotations

from typing import Any, Sequence

import yaml

from profkit.catalog import CollectorSpec
from profkit.kube.watch import split_resource

ROLE_NAME = "profkit-capture"
WATCH = ["get", "list", "watch"]


def namespaced_rules() -> list[dict[str, Any]]:
    """What capture does in the controllers' namespaces: pods, their proxy, port-forward, logs, exec; deployments."""
    return [
        {"apiGroups": [""], "resources": ["pods"], "verbs": list(WATCH)},
        {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},  # py-spy in Python controllers
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": list(WATCH)},
        {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"]},
    ]


def watched_rules(resources: Sequence[str]) -> list[dict[str, Any]]:
    """get/list/watch on every watched resource, one rule per API group."""
    by_group: dict[str, list[str]] = {}
    for resource in resources:
        plural, group = split_resource(resource)
        names = by_group.setdefault(group, [])
        if plural not in names:
            names.append(plural)
    return [{"apiGroups": [group], "resources": sorted(plurals), "verbs": list(WATCH)}
            for group, plurals in sorted(by_group.items())]


def diagnostics_rule() -> dict[str, Any]:
    """Cluster API >= 1.6 secure diagnostics: the token's user must be allowed these non-resource URLs."""
    return {"nonResourceURLs": ["/metrics", "/debug/pprof", "/debug/pprof/*"], "verbs": ["get"]}


def rbac_documents(specs: Sequence[CollectorSpec], user: str = "REPLACE-WITH-USER") -> list[dict[str, Any]]:
    """A ClusterRole with everything (watched resources live in many namespaces) and its binding to ``user``.

    Pod and deployment rules are in the ClusterRole too; a cluster admin who prefers to keep them
    namespaced can move them into a Role per controller namespace (the namespaces are listed).
    """
    resources = sorted({r for spec in specs for r in spec.resources})
    namespaces = sorted({spec.namespace for spec in specs})
    rules = namespaced_rules() + watched_rules(resources) + [diagnostics_rule()]
    role: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": ROLE_NAME, "annotations": {
            "profkit.dev/controllers": ",".join(spec.alias for spec in specs),
            "profkit.dev/namespaces": ",".join(namespaces)}},
        "rules": rules,
    }
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": ROLE_NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE_NAME},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    return [role, binding]


def rbac_yaml(specs: Sequence[CollectorSpec], user: str = "REPLACE-WITH-USER") -> str:
    """The documents as one YAML stream, with a comment on how to use it."""
    header = (
        "# Minimal RBAC for `profkit capture` "
        f"({', '.join(spec.alias for spec in specs) or 'no catalog entry'}).\n"
        "# pods/exec is only needed for py-spy in Python controllers; nonResourceURLs only for\n"
        "# secure diagnostics endpoints (Cluster API >= 1.6, port 8443) reached with your token.\n"
    )
    return header + str(yaml.safe_dump_all(rbac_documents(specs, user), sort_keys=False, default_flow_style=None))
