"""Records captured alongside profiles: targets, log lines, object lifecycle, capture events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from profkit.model.profile import ProfileKind

TargetKind = Literal["deployment", "endpoint", "pid", "command", "log-file"]
ProfileFormat = Literal["pprof", "speedscope"]
ObjectEventKind = Literal["added", "modified", "deleted"]
CaptureEventKind = Literal["error", "gap", "restart", "rollout", "pod-added", "pod-removed", "info"]


@dataclass
class Target:
    """Something profkit captures: a Deployment, an endpoint, a process or a log file."""

    name: str
    kind: TargetKind
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProfileRef:
    """A raw profile stored in the bundle, not yet decoded."""

    id: int
    target: str
    instance: str
    kind: ProfileKind
    format: ProfileFormat
    path: str  # relative to the bundle directory
    start: float
    duration: float
    size: int = 0


@dataclass
class LogRecord:
    """One log line with its timestamp and the fields the controller logged."""

    ts: float
    target: str
    instance: str
    message: str
    level: str = ""
    logger: str = ""
    controller: str = ""
    object_key: str = ""  # namespace/name of the reconciled object, when logged
    fields: dict[str, Any] = field(default_factory=dict)
    raw: str = ""


@dataclass
class ObjectEvent:
    """A lifecycle observation of a watched object (created, updated, deleting, deleted)."""

    ts: float
    resource: str
    namespace: str
    name: str
    event: ObjectEventKind
    uid: str = ""
    deletion_ts: float | None = None
    finalizers: list[str] = field(default_factory=list)
    ready: bool | None = None
    target: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass
class CaptureEvent:
    """Something that happened to the capture itself: errors, gaps, restarts, rollouts."""

    ts: float
    kind: CaptureEventKind
    message: str
    target: str = ""
    instance: str = ""
    collector: str = ""
