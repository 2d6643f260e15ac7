"""What every collector shares: options, counters, the guarded bundle sink and the Collector base class."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from profkit.bundle.writer import BundleWriter
from profkit.model import CaptureEvent, LogRecord, ObjectEvent, Target


@dataclass
class CaptureOptions:
    """How long and how often collectors work. ``deadline`` is a time.time() value or None (until stopped)."""

    profile_window: float = 30.0
    scrape_interval: float = 5.0
    duration: float | None = None
    pyspy_rate: int = 100
    snapshots: tuple[str, ...] = ("heap", "goroutine")  # Go profiles fetched once per CPU window
    deadline: float | None = None
    started: float = 0.0  # set by the session when collectors start
    startup_grace: float = 3.0  # seconds an endpoint or file may stay absent before that is an error
    scrape_metrics: bool = True  # False with capture --prometheus: metrics come from Prometheus, not /metrics

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()


@dataclass
class Stats:
    """Per-collector counters shown in the progress table and the final summary."""

    profiles: int = 0
    scrapes: int = 0
    points: int = 0
    points_skipped: int = 0  # NaN samples not stored (SQLite holds no NaN)
    log_lines: int = 0
    errors: int = 0
    last_error: str = ""
    notes: list[str] = field(default_factory=list)  # facts for the summary, e.g. which path profiled a pod


class Sink:
    """The BundleWriter as collectors see it: writes after ``seal()`` are dropped, not crashed.

    Collector threads may still be finishing a request when the capture closes the bundle; sealing
    under the same lock as the writes makes the close race-free.
    """

    def __init__(self, writer: BundleWriter) -> None:
        self.writer = writer
        self._gate = threading.Lock()
        self._sealed = False

    @property
    def directory(self) -> Path:
        return self.writer.directory

    def seal(self) -> None:
        with self._gate:
            self._sealed = True

    def _open(self) -> bool:
        return not self._sealed

    def add_profile(
        self, target: str, instance: str, kind: str, fmt: str, data: bytes, start: float, duration: float
    ) -> Path | None:
        with self._gate:
            return self.writer.add_profile(target, instance, kind, fmt, data, start, duration) if self._open() else None

    def add_points(
        self, target: str, instance: str, ts: float, samples: Iterable[tuple[str, dict[str, str], float]]
    ) -> int:
        with self._gate:
            return self.writer.add_points(target, instance, ts, samples) if self._open() else 0

    def add_logs(self, records: Sequence[LogRecord]) -> None:
        with self._gate:
            if self._open():
                self.writer.add_logs(records)

    def add_objects(self, events: Sequence[ObjectEvent]) -> None:
        with self._gate:
            if self._open():
                self.writer.add_objects(events)

    def add_event(self, event: CaptureEvent) -> None:
        with self._gate:
            if self._open():
                self.writer.add_event(event)

    def add_target(self, target: Target) -> None:
        with self._gate:
            if self._open():
                self.writer.add_target(target)

    def add_target_facts(self, name: str, facts: dict[str, object]) -> None:
        with self._gate:
            if self._open():
                self.writer.add_target_facts(name, facts)

    def touch_instance(self, target: str, instance: str, info: dict[str, object] | None = None) -> None:
        with self._gate:
            if self._open():
                self.writer.touch_instance(target, instance, info)

    def set_meta(self, **values: str) -> None:
        with self._gate:
            if self._open():
                self.writer.set_meta(**values)


class Collector:
    """One kind of data from one instance (a pod or a process) of one target, run in its own thread.

    Subclasses implement ``run(stop)``: loop until ``stop`` is set, write through ``self.sink``, and
    report problems with ``self.error`` (recorded in the bundle; the capture goes on). A collector
    that discovers instances (a Deployment's pods) starts more collectors with ``self.spawn``.
    """

    kind = "collector"  # pprof | metrics | py-spy | usage | logs | command | ...
    ends_with_command = False  # reads a launched command's output: done when the command is

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions) -> None:
        self.sink = sink
        self.target = target
        self.instance = instance
        self.options = options
        self.stats = Stats()
        self.spawn: Callable[[Collector], None] = _no_spawn
        self.finished = False
        self.answered = False  # the source answered at least once
        # When the work in flight (a CPU window, a py-spy flush) should be done; the session waits for
        # it at the end of the capture, and not for requests that merely hang.
        self.expected_done: float | None = None

    def in_grace(self) -> bool:
        """True while a source that never answered is still allowed to be starting up."""
        return not self.answered and time.time() - self.options.started < self.options.startup_grace

    def run(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.kind} {self.target}/{self.instance}"

    # -- helpers for subclasses ---------------------------------------------
    def error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        self.sink.add_event(CaptureEvent(time.time(), "error", message, self.target, self.instance, self.kind))

    def info(self, message: str) -> None:
        self.sink.add_event(CaptureEvent(time.time(), "info", message, self.target, self.instance, self.kind))

    def window(self, stop: threading.Event) -> float:
        """The next profile window: the configured one, shortened to end at the capture deadline."""
        remaining = self.options.remaining()
        if remaining is None:
            return self.options.profile_window
        return max(0.0, min(self.options.profile_window, remaining))


def _no_spawn(collector: Collector) -> None:
    raise RuntimeError("this collector is not attached to a capture session")


@dataclass
class TargetPlan:
    """A target and the collectors that capture it (more may be spawned while the capture runs)."""

    target: Target
    collectors: list[Collector] = field(default_factory=list)
