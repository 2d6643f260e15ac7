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


# -- pre-flight: does the user have what the capture will use? ------------------------------------
def required_permissions(endpoint_vias: Sequence[str]) -> list[tuple[str, str, str]]:
    """(verb, resource, subresource) a capture of one Deployment uses in its namespace, fatal when missing."""
    needed = [("list", "pods", ""), ("watch", "pods", ""), ("get", "pods", "log")]
    if "proxy" in endpoint_vias:
        needed.append(("get", "pods", "proxy"))
    if "port-forward" in endpoint_vias:
        needed.append(("create", "pods", "portforward"))
    return needed


def missing_permission_message(verb: str, resource: str, subresource: str, namespace: str) -> str:
    """The one line for a permission the user lacks, naming what to grant."""
    from profkit.kube.errors import RBAC_HINT, forbidden_text

    full = f"{resource}/{subresource}" if subresource else resource
    return f"{forbidden_text(verb, full, namespace)}; {RBAC_HINT}"


def first_missing(api: Any, namespace: str, needed: Sequence[tuple[str, str, str]]) -> str | None:
    """Ask the API server (SelfSubjectAccessReview) about each permission; the message for the first one denied.

    None when everything is allowed, or when the review itself cannot be made (the capture then finds out).
    """
    from kubernetes import client

    authz = client.AuthorizationV1Api(api)
    for verb, resource, subresource in needed:
        attributes = client.V1ResourceAttributes(namespace=namespace, verb=verb, resource=resource,
                                                 subresource=subresource or None)
        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=attributes))
        try:
            answer = authz.create_self_subject_access_review(review, _request_timeout=(5, 10))
        except Exception:  # noqa: BLE001 - reviews not allowed or not served: no pre-flight
            return None
        if answer.status is not None and not answer.status.allowed:
            return missing_permission_message(verb, resource, subresource, namespace)
    return None
