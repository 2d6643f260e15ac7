"""List, then watch from the list's resourceVersion, forever: bookmarks, 410 Gone -> re-list, errors with backoff."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, cast

from profkit.kube.client import ApiHealth
from profkit.kube.errors import Gone, KubeError, Unreachable, api_call, from_status
from profkit.sources.backoff import Backoff

WATCH_SECONDS = 60  # server-side timeout of one watch request; then it is renewed from the last resourceVersion
ChangeKind = Literal["ADDED", "MODIFIED", "DELETED"]
_CHANGES: tuple[ChangeKind, ...] = ("ADDED", "MODIFIED", "DELETED")


class ListWatchSource(Protocol):
    """One resource to list and watch; ``KubeListWatch`` is the real one, tests bring a fake."""

    def list(self) -> dict[str, Any]:
        """The list answer as a dict (``items``, ``metadata.resourceVersion``); raises KubeError."""
        ...

    def watch(self, resource_version: str) -> Iterator[dict[str, Any]]:
        """Watch events ``{"type": ..., "object": {...}}`` from ``resource_version`` until the server ends it."""
        ...


@dataclass(frozen=True)
class Listed:
    """A (re-)list: every object there is now. ``first`` is the list at the start."""

    items: list[dict[str, Any]]
    resource_version: str
    first: bool


@dataclass(frozen=True)
class Changed:
    """One watch event of one object."""

    kind: ChangeKind
    obj: dict[str, Any]


@dataclass(frozen=True)
class Failed:
    """A list or watch failed; ``list_watch`` waits its backoff, then lists again. Stop iterating to give up."""

    error: KubeError


@dataclass
class KubeListWatch:
    """A kubernetes client list function with its arguments bound, e.g. ``(core.list_namespaced_pod, ns)``."""

    call: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    serialize: Callable[[Any], Any] = lambda value: value  # ApiClient.sanitize_for_serialization for typed results
    resource: str = ""  # for error messages: "forbidden: cannot watch RESOURCE in namespace NAMESPACE ..."
    namespace: str | None = None
    server: str = ""

    def _errors(self, verb: str) -> Any:
        return api_call(verb, self.resource, self.namespace, server=self.server)

    def list(self) -> dict[str, Any]:
        with self._errors("list"):
            return cast(dict[str, Any], self.serialize(self.call(*self.args, _request_timeout=30, **self.kwargs)))

    def watch(self, resource_version: str) -> Iterator[dict[str, Any]]:
        from kubernetes import watch

        watcher: Any = cast(Any, watch).Watch()
        try:
            with self._errors("watch"):
                for item in watcher.stream(self.call, *self.args, resource_version=resource_version,
                                           timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True,
                                           _request_timeout=(5.0, WATCH_SECONDS + 30.0), **self.kwargs):
                    yield {"type": item.get("type"), "object": item.get("raw_object") or item.get("object") or {}}
        finally:
            watcher.stop()


def _resource_version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def list_watch(source: ListWatchSource, stop: threading.Event, *, what: tuple[str, str | None] = ("", None),
               health: ApiHealth | None = None, backoff: Backoff | None = None,
               iterations: int | None = None) -> Iterator[Listed | Changed | Failed]:
    """Everything that happens to a resource, as kopf's continuous_watch: written once for every watcher.

    Lists, then watches from the list's resourceVersion; every event (bookmarks too) advances it, so a
    renewed watch loses nothing. 410 Gone (an exception or an ERROR event) re-lists at once; any other
    failure is yielded, waited out with ``backoff`` and followed by a re-list. ``what`` is (resource,
    namespace) for the messages of ERROR events. ``iterations`` bounds the list/watch rounds (for tests).
    """
    backoff = backoff or Backoff()
    resource, namespace = what
    resource_version: str | None = None
    first, rounds = True, 0
    while not stop.is_set() and (iterations is None or rounds < iterations):
        rounds += 1
        try:
            if resource_version is None:
                data = source.list()
                resource_version = _resource_version(data)
                if health is not None:
                    health.ok()
                yield Listed(list(data.get("items") or []), resource_version, first)
                first = False
            for event in source.watch(resource_version):
                if health is not None:
                    health.ok()
                kind, obj = str(event.get("type")), event.get("object") or {}
                if kind == "ERROR":  # a Status object: 410 when the resourceVersion is too old
                    raise from_status(int(obj.get("code") or 0), str(obj.get("message") or obj), verb="watch",
                                      resource=resource, namespace=namespace)
                resource_version = _resource_version(obj) or resource_version
                if kind in _CHANGES:
                    yield Changed(kind, obj)
                if stop.is_set():
                    return
            backoff.reset()
        except Gone:
            resource_version = None  # re-list now; the caller diffs the list against what it knew
        except KubeError as error:
            if isinstance(error, Unreachable) and health is not None:
                health.failed(error.reason)
            resource_version = None  # what happened meanwhile comes from the re-list
            yield Failed(error)
            backoff.wait(stop)
