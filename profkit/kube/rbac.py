"""The minimal RBAC a profkit capture needs, for ``profkit capture --print-rbac``: a Role per known namespace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from profkit.catalog import CollectorSpec, builtin_catalog, resolve
from profkit.errors import BadInput
from profkit.model import Language
from profkit.kube.watch import split_resource

ROLE_NAME = "profkit-capture"
WATCH = ["get", "list", "watch"]
RBAC_API = "rbac.authorization.k8s.io/v1"
DEFAULT_USER = "REPLACE-WITH-USER"


@dataclass(frozen=True)
class RbacTarget:
    """What one ``--deployment`` needs: its namespace (None: not known offline), language, watched resources."""

    name: str
    namespace: str | None
    language: Language | None  # None: no catalog entry, detected at capture time (maybe Python)
    resources: tuple[str, ...] = ()
    secure: bool = True  # reaches a bearer-token diagnostics port (port-forward + nonResourceURLs)

    @property
    def may_be_python(self) -> bool:
        return self.language != "go"


def from_spec(spec: CollectorSpec, namespace: str | None = None) -> RbacTarget:
    return RbacTarget(spec.alias, namespace or spec.namespace, spec.language, spec.resources,
                      any(e.auth == "bearer" for e in spec.endpoints))


def rbac_targets(deployments: Sequence[str], extra: Sequence[CollectorSpec] = (),
                 namespace: str | None = None, watch: Sequence[str] = ()) -> list[RbacTarget]:
    """The targets of ``--deployment`` values as capture resolves them (NS/NAME, -n, catalog); all entries if none.

    ``watch`` (``--watch`` values) is added to each Deployment's resources as given: offline there is no
    discovery, so each needs its group (``widgets.profkit.example``).
    """
    for given in watch:
        if not split_resource(given)[1]:
            raise BadInput(f"--watch {given}: --print-rbac resolves nothing through the API server; "
                           "give RESOURCE.GROUP (e.g. widgets.profkit.example)")
    if watch and deployments:
        added = tuple(w.strip().lower() for w in watch)
        return [replace(t, resources=tuple(dict.fromkeys((*t.resources, *added))))
                for t in rbac_targets(deployments, extra, namespace)]
    if not deployments:
        return [from_spec(spec, namespace) for spec in list(builtin_catalog().values()) + list(extra)]
    out: list[RbacTarget] = []
    for value in deployments:
        explicit_ns, _, given = value.rpartition("/")
        spec = resolve(given, list(extra))
        ns = explicit_ns or namespace
        out.append(from_spec(spec, ns) if spec is not None else RbacTarget(given, ns, None))
    return out


def pod_rules(targets: Sequence[RbacTarget]) -> list[dict[str, Any]]:
    """What capture does in the controllers' namespaces: pods, their proxy and logs, deployments, pod metrics.

    Python controllers (or ones whose language is only known at capture time) add ``pods/exec`` (py-spy in
    the container) and creating/deleting the py-spy node-agent pod; secure diagnostics add port-forward.
    """
    python = any(t.may_be_python for t in targets)
    pods = list(WATCH) + (["create", "delete"] if python else [])
    rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": pods},
        {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    if any(t.secure for t in targets):
        rules.append({"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]})
    if python:
        rules.append({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]})
    rules += [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": list(WATCH)},
              {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"]}]
    return rules + watched_rules(sorted({r for t in targets for r in t.resources}))


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


def _role(kind: str, namespace: str | None, rules: list[dict[str, Any]], targets: Sequence[RbacTarget],
          user: str) -> list[dict[str, Any]]:
    meta: dict[str, Any] = {"name": ROLE_NAME}
    if namespace is not None:
        meta["namespace"] = namespace
    role = {"apiVersion": RBAC_API, "kind": kind,
            "metadata": {**meta, "annotations": {"profkit.dev/controllers": ",".join(t.name for t in targets)}},
            "rules": rules}
    binding = {"apiVersion": RBAC_API, "kind": f"{kind}Binding", "metadata": dict(meta),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": ROLE_NAME},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
    return [role, binding]


def rbac_documents(targets: Sequence[RbacTarget], user: str = DEFAULT_USER) -> list[dict[str, Any]]:
    """A Role and RoleBinding per namespace when every namespace is known; a ClusterRole only for what is cluster-wide.

    Cluster-scoped are the non-resource URLs of secure diagnostics; watched resources are listed in the
    controller's namespace (capture falls back to it when it may not list all namespaces). With a
    namespace not known offline (a plain name without ``-n``), everything goes into one ClusterRole.
    """
    docs: list[dict[str, Any]] = []
    secure = [t for t in targets if t.secure]
    if any(t.namespace is None for t in targets):
        rules = pod_rules(targets) + ([diagnostics_rule()] if secure else [])
        return _role("ClusterRole", None, rules, targets, user)
    for namespace in sorted({t.namespace for t in targets if t.namespace is not None}):
        here = [t for t in targets if t.namespace == namespace]
        docs += _role("Role", namespace, pod_rules(here), here, user)
    if secure:
        docs += _role("ClusterRole", None, [diagnostics_rule()], secure, user)
    return docs


def rbac_yaml(targets: Sequence[RbacTarget], user: str = DEFAULT_USER) -> str:
    """The documents as one YAML stream, with a comment saying what each part is for."""
    python = [t.name for t in targets if t.may_be_python]
    header = [f"# Minimal RBAC for `profkit capture` ({', '.join(t.name for t in targets) or 'nothing'}).",
              f"# Replace {DEFAULT_USER} with the user (or make the subject a ServiceAccount) that runs profkit."]
    if python:
        header.append(f"# pods/exec and pods create/delete: py-spy for Python controllers ({', '.join(python)}), "
                      "in the container or a node-agent pod profkit deletes.")
    if any(t.secure for t in targets):
        header.append("# ClusterRole nonResourceURLs: secure diagnostics ports (Cluster API >= 1.6) reached with "
                      "your token.")
    if any(t.namespace is None for t in targets):
        header.append("# A namespace was not known: pass -n NAMESPACE (or NAMESPACE/NAME) for namespaced Roles.")
    docs = rbac_documents(targets, user)
    return "\n".join(header) + "\n" + str(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=None))


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
