"""Object lifecycle watcher: list+watch a catalog resource (plural.group) and record ObjectEvents, re-listing on 410."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from profkit.formats.logs import parse_timestamp
from profkit.kube.client import KubeAccess, connection_reason, is_connection_error
from profkit.model import ObjectEvent
from profkit.sources.base import CaptureOptions, Collector, Sink

WATCH_SECONDS = 60  # server-side timeout of one watch request; then it is renewed from the last resourceVersion
DISCOVERY_RETRY = 30.0
MAX_BACKOFF = 10.0


def split_resource(resource: str) -> tuple[str, str]:
    """``widgets.scale.profkit.dev`` -> (``widgets``, ``scale.profkit.dev``)."""
    plural, _, group = resource.partition(".")
    return plural, group


def is_ready(obj: dict[str, Any]) -> bool | None:
    """``status.ready`` when the object has it, else its Ready condition, else None."""
    status = obj.get("status") or {}
    if isinstance(status.get("ready"), bool):
        return bool(status["ready"])
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return str(condition.get("status")) == "True"
    return None


def object_event(obj: dict[str, Any], event: str, resource: str, target: str, ts: float | None = None) -> ObjectEvent:
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
                 fallback_namespace: str | None = None) -> None:
        super().__init__(sink, target, "", options)
        self.access = access
        self.resource = resource
        self.plural, self.group = split_resource(resource)
        self.version: str | None = None
        self.namespace: str | None = None  # None: all namespaces
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
    def _list(self) -> dict[str, Any]:
        from kubernetes import client

        api = client.CustomObjectsApi(self.access.api)
        if self.namespace is None:
            result: Any = api.list_cluster_custom_object(self.group, self.version or "", self.plural, _request_timeout=30)
        else:
            result = api.list_namespaced_custom_object(self.group, self.version or "", self.namespace, self.plural,
                                                       _request_timeout=30)
        return cast(dict[str, Any], result)

    def relist(self, first: bool) -> None:
        """List, and turn the difference from what we knew into events (a 410 or a reconnect loses none)."""
        data = self._list()
        now = time.time()
        self.resource_version = str((data.get("metadata") or {}).get("resourceVersion") or "")
        present: dict[str, str] = {}
        events: list[ObjectEvent] = []
        for obj in data.get("items") or []:
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

    def _watch(self, stop: threading.Event) -> bool:
        """One watch request; False when the resourceVersion is too old (410) and a re-list is needed."""
        from kubernetes import client, watch

        api = client.CustomObjectsApi(self.access.api)
        watcher: Any = cast(Any, watch).Watch()
        kwargs: dict[str, Any] = {"resource_version": self.resource_version, "timeout_seconds": WATCH_SECONDS,
                                  "allow_watch_bookmarks": True, "_request_timeout": (5.0, WATCH_SECONDS + 30.0)}
        if self.namespace is None:
            stream = watcher.stream(api.list_cluster_custom_object, self.group, self.version, self.plural, **kwargs)
        else:
            stream = watcher.stream(api.list_namespaced_custom_object, self.group, self.version, self.namespace,
                                    self.plural, **kwargs)
        try:
            for item in stream:
                self.access.health.ok()
                kind, obj = str(item.get("type")), item.get("raw_object") or item.get("object") or {}
                if kind == "ERROR":
                    if int(obj.get("code") or 0) == 410:
                        return False
                    self.error(f"watch {self.resource}: {obj.get('message', obj)}")
                    return False
                meta = obj.get("metadata") or {}
                if meta.get("resourceVersion"):
                    self.resource_version = str(meta["resourceVersion"])
                if kind == "BOOKMARK":
                    continue
                uid = str(meta.get("uid") or "")
                event = {"ADDED": "added", "MODIFIED": "modified", "DELETED": "deleted"}.get(kind)
                if event is None:
                    continue
                if event == "deleted":
                    self.known.pop(uid, None)
                    self.keys.pop(uid, None)
                else:
                    self.known[uid] = str(meta.get("resourceVersion") or "")
                    self.keys[uid] = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
                self.sink.add_objects([object_event(obj, event, self.resource, self.target)])
                self.answered = True
                if stop.is_set():
                    break
        finally:
            watcher.stop()
        return True

    def run(self, stop: threading.Event) -> None:
        backoff = 1.0
        listed = False
        reported_missing = False
        while not stop.is_set():
            try:
                if self.version is None:
                    self.version = self.discover()
                    if self.version is None:
                        if not reported_missing:
                            self.info(f"{self.resource} is not served by the API server (CRD not installed?); "
                                      f"looking again every {DISCOVERY_RETRY:.0f}s")
                            reported_missing = True
                        stop.wait(DISCOVERY_RETRY)
                        continue
                if not listed:
                    self.relist(first=not self.known and not self.resource_version)
                    listed = True
                    self.access.health.ok()
                if not self._watch(stop):
                    listed = False  # 410 Gone: re-list, diffing against what we knew
                backoff = 1.0
            except Exception as exc:  # noqa: BLE001
                status = getattr(exc, "status", None)
                if status == 410:  # resourceVersion too old: re-list (the diff turns into events)
                    listed = False
                    continue
                if status == 403 and self.namespace is None and self.fallback_namespace:
                    self.info(f"cannot list {self.resource} in all namespaces; watching namespace "
                              f"{self.fallback_namespace} only")
                    self.namespace = self.fallback_namespace
                    continue
                if status == 403:
                    where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
                    self.error(f"forbidden: cannot list {self.resource} in {where} "
                               f"(needs get/list/watch on {self.resource})")
                    return
                if is_connection_error(exc):
                    self.access.health.failed(connection_reason(exc))
                    listed = False  # events during the outage come from the re-list diff
                else:
                    self.error(f"watch {self.resource}: {getattr(exc, 'reason', None) or exc}")
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
