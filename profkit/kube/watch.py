"""Object lifecycle watcher: list+watch a catalog or ``--watch`` resource (plural.group) and record ObjectEvents."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from profkit.formats.logs import parse_timestamp
from profkit.kube.client import KubeAccess
from profkit.kube.errors import ALL_NAMESPACES, Forbidden, KubeError, Unreachable, api_call
from profkit.kube.listwatch import ChangeKind, Changed, KubeListWatch, Listed, ListWatchSource, list_watch
from profkit.model import ObjectEvent, ObjectEventKind
from profkit.sources.backoff import Backoff
from profkit.sources.base import CaptureOptions, Collector, Sink

DISCOVERY_RETRY = 30.0
MAX_BACKOFF = 10.0


def split_resource(resource: str) -> tuple[str, str]:
    """``widgets.scale.profkit.dev`` -> (``widgets``, ``scale.profkit.dev``)."""
    plural, _, group = resource.partition(".")
    return plural, group


def served_resources(api: Any) -> list[tuple[str, str, list[str]]]:
    """(plural, group, short names) of every namespaced resource the API groups serve (``/apis``)."""
    import json

    from kubernetes import client

    out: list[tuple[str, str, list[str]]] = []
    for group in client.ApisApi(api).get_api_versions(_request_timeout=10).groups or []:
        version = group.preferred_version.version if group.preferred_version else None
        if not version:
            continue
        request = api.param_serialize("GET", f"/apis/{group.name}/{version}", auth_settings=["BearerToken"])
        data = json.loads(api.call_api(*request, _request_timeout=(5, 10)).read() or b"{}")
        for r in data.get("resources") or []:
            name = str(r.get("name") or "")
            if name and "/" not in name and r.get("namespaced"):
                out.append((name, str(group.name), [str(n) for n in r.get("shortNames") or []]))
    return out


def resolve_watch(access: KubeAccess, given: str) -> str:
    """``--watch RESOURCE[.GROUP]`` (plural or short name, as kubectl takes it) -> ``plural.group``
    through API discovery; a one-line BadInput naming the value when nothing or more than one matches."""
    from profkit.errors import BadInput

    text = given.strip().lower()
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", text):
        raise BadInput(f"--watch {given!r}: expected a plural resource name, optionally .GROUP "
                       "(e.g. widgets.profkit.example)")
    with api_call("get", "/apis", server=access.server):
        served = served_resources(access.api)
    name, _, group = text.partition(".")
    matches = sorted({f"{plural}.{g}" for plural, g, short in served
                      if (name == plural or name in short) and (not group or g == group)})
    if not matches:
        where = f"group {group}" if group else "any API group"
        raise BadInput(f"--watch {given}: {where} serves no namespaced resource {name!r} "
                       "(kubectl api-resources lists them; core resources such as pods are not watched)")
    if len(matches) > 1:
        raise BadInput(f"--watch {given}: ambiguous, served as {', '.join(matches)}; give RESOURCE.GROUP")
    return matches[0]


def is_ready(obj: dict[str, Any]) -> bool | None:
    """``status.ready`` when the object has it, else its Ready condition, else None."""
    status = obj.get("status") or {}
    if isinstance(status.get("ready"), bool):
        return bool(status["ready"])
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return str(condition.get("status")) == "True"
    return None


_EVENT_OF_CHANGE: dict[ChangeKind, ObjectEventKind] = {"ADDED": "added", "MODIFIED": "modified", "DELETED": "deleted"}


def object_event(obj: dict[str, Any], event: ObjectEventKind, resource: str, target: str, ts: float | None = None) -> ObjectEvent:
    """An ObjectEvent from a custom object dict as the API returns it."""
    meta = obj.get("metadata") or {}
    deletion = meta.get("deletionTimestamp")
    return ObjectEvent(
        ts=time.time() if ts is None else ts,
        resource=resource,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        event=event,
        uid=str(meta.get("uid") or ""),
        deletion_ts=parse_timestamp(deletion) if deletion else None,
        finalizers=[str(f) for f in meta.get("finalizers") or []],
        ready=is_ready(obj),
        target=target,
    )


class ObjectWatchCollector(Collector):
    """Records added/modified/deleted of one resource, cluster-wide (or in ``namespace`` when that is all RBAC allows)."""

    kind = "objects"

    def __init__(self, sink: Sink, target: str, options: CaptureOptions, access: KubeAccess, resource: str,
                 fallback_namespace: str | None = None, namespace: str | None = None) -> None:
        super().__init__(sink, target, "", options)
        self.access = access
        self.resource = resource
        self.plural, self.group = split_resource(resource)
        self.version: str | None = None
        self.namespace: str | None = namespace  # None: all namespaces
        self.fallback_namespace = fallback_namespace
        self.known: dict[str, str] = {}  # uid -> resourceVersion of objects currently present
        self.keys: dict[str, tuple[str, str]] = {}  # uid -> (namespace, name), for deletions seen by a re-list
        self.resource_version = ""

    def describe(self) -> str:
        return f"objects {self.resource}" + (f" in {self.namespace}" if self.namespace else "")

    # -- discovery ---------------------------------------------------------------------------
    def discover(self) -> str | None:
        """The served version of the group that has this plural (preferred version first)."""
        from kubernetes import client

        groups = client.ApisApi(self.access.api).get_api_versions(_request_timeout=10)
        for group in groups.groups or []:
            if group.name != self.group:
                continue
            versions = [group.preferred_version.version] if group.preferred_version else []
            versions += [v.version for v in group.versions or [] if v.version not in versions]
            for version in versions:
                request = self.access.api.param_serialize("GET", f"/apis/{self.group}/{version}",
                                                          auth_settings=["BearerToken"])
                reply = self.access.api.call_api(*request, _request_timeout=(5, 10))
                import json

                data = json.loads(reply.read() or b"{}")
                if any(r.get("name") == self.plural for r in data.get("resources") or []):
                    return str(version)
        return None

    # -- list and watch ----------------------------------------------------------------------
    def source(self) -> ListWatchSource:
        """The list call of this resource, cluster-wide or in ``self.namespace``."""
        from kubernetes import client

        api = client.CustomObjectsApi(self.access.api)
        version = self.version or ""
        if self.namespace is None:
            return KubeListWatch(api.list_cluster_custom_object, (self.group, version, self.plural),
                                 resource=self.resource, namespace=ALL_NAMESPACES,
                                 server=self.access.server)
        return KubeListWatch(api.list_namespaced_custom_object, (self.group, version, self.namespace, self.plural),
                             resource=self.resource, namespace=self.namespace, server=self.access.server)

    def relist(self, listed: Listed) -> None:
        """Turn the difference between a list and what we knew into events (a 410 or a reconnect loses none)."""
        first = listed.first and not self.known
        now = time.time()
        self.resource_version = listed.resource_version
        present: dict[str, str] = {}
        events: list[ObjectEvent] = []
        for obj in listed.items:
            meta = obj.get("metadata") or {}
            uid, rv = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
            present[uid] = rv
            self.keys[uid] = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            if uid not in self.known:
                created = parse_timestamp(meta.get("creationTimestamp") or "") or 0.0
                new = not first or created >= self.options.started
                events.append(object_event(obj, "added" if new else "modified", self.resource, self.target,
                                           created if first and new else now))
            elif self.known[uid] != rv:
                events.append(object_event(obj, "modified", self.resource, self.target, now))
        for uid in set(self.known) - set(present):
            namespace, name = self.keys.pop(uid, ("", ""))
            events.append(ObjectEvent(now, self.resource, namespace, name, "deleted", uid=uid, target=self.target))
        self.known = present
        self.sink.add_objects(sorted(events, key=lambda e: e.ts))

    def changed(self, step: Changed) -> None:
        """One watch event: remembered (for the next re-list's diff) and recorded."""
        meta = step.obj.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        self.resource_version = str(meta.get("resourceVersion") or self.resource_version)
        if step.kind == "DELETED":
            self.known.pop(uid, None)
            self.keys.pop(uid, None)
        else:
            self.known[uid] = str(meta.get("resourceVersion") or "")
            self.keys[uid] = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        self.sink.add_objects([object_event(step.obj, _EVENT_OF_CHANGE[step.kind], self.resource, self.target)])
        self.answered = True

    def _discovered(self, stop: threading.Event) -> bool:
        """Find the served version, looking again while the CRD is not installed; False when stopped first."""
        backoff, reported_missing = Backoff(cap=MAX_BACKOFF), False
        while not stop.is_set():
            try:
                with api_call("get", f"/apis/{self.group}", server=self.access.server):
                    self.version = self.discover()
            except Unreachable as exc:
                self.access.health.failed(exc.reason)
                backoff.wait(stop)
                continue
            except KubeError as exc:
                self.error(f"discovering {self.resource}: {exc}")
                backoff.wait(stop)
                continue
            if self.version is not None:
                return True
            if not reported_missing:
                self.info(f"{self.resource} is not served by the API server (CRD not installed?); "
                          f"looking again every {DISCOVERY_RETRY:.0f}s")
                reported_missing = True
            stop.wait(DISCOVERY_RETRY)
        return False

    def run(self, stop: threading.Event) -> None:
        if not self._discovered(stop):
            return
        while not stop.is_set():
            where = self.namespace or ALL_NAMESPACES
            for step in list_watch(self.source(), stop, what=(self.resource, where), health=self.access.health,
                                   backoff=Backoff(cap=MAX_BACKOFF)):
                if isinstance(step, Listed):
                    self.relist(step)
                elif isinstance(step, Changed):
                    self.changed(step)
                elif isinstance(step.error, Forbidden):
                    denied = step.error
                    break
                elif not isinstance(step.error, Unreachable):  # an outage is one gap event, told by ApiHealth
                    self.error(f"watch {self.resource}: {step.error}")
            else:
                return  # stopped
            if self.namespace is None and self.fallback_namespace:
                self.info(f"cannot list {self.resource} in all namespaces; watching namespace "
                          f"{self.fallback_namespace} only")
                self.namespace = self.fallback_namespace
                continue
            self.error(str(denied))
            return
