"""Builders of realistic controller bundles for analyzer tests: controller-runtime metrics, zap/klog log lines, objects.

Metric names, labels and histogram buckets are controller-runtime's (v0.2x); log lines are the
real formats quoted in field-notes.md (zap JSON from controller-runtime, client-go's klog
throttling lines in both the old and the structured form).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.bundle import BundleWriter, open_bundle
from profkit.bundle.reader import BundleView
from profkit.model import Finding, LogRecord, ObjectEvent, Target

T0 = 1_764_000_000.0  # 2025-11-24
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30, 40, 50, 60)
QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))  # 1e-8 .. 10 s, client-go's workqueue buckets
Fn = Callable[[float], float]


def const(value: float) -> Fn:
    return lambda t: value


def ramp(start: float, end: float, duration: float) -> Fn:
    return lambda t: start + (end - start) * min(1.0, max(0.0, t / duration))


@dataclass
class ControllerLoad:
    """How one controller behaves over time ``t`` (seconds since the start)."""

    controller: str = "widget"
    results: dict[str, Fn] = field(default_factory=lambda: {"success": const(0.5)})  # reconciles/s per result
    reconcile_seconds: float = 0.05
    queue_seconds: float = 0.001
    workers: int = 10
    active: Fn | None = None  # default: Little's law from the rate and the reconcile time
    depth: Fn = const(0.0)
    calls_per_reconcile: float = 2.0
    retries_per_s: Fn = const(0.0)
    goroutines: Fn = const(150.0)
    heap_bytes: Fn = const(40e6)
    gc_pause_share: float = 0.001


def scrape_series(writer: BundleWriter, target: str, load: ControllerLoad, duration: float, step: float = 5.0,
                  instance: str = "pod-0") -> None:
    """Write a scrape every ``step`` seconds, counters integrated from the load's rates."""
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def bump(name: str, labels: dict[str, str], delta: float) -> None:
        key = (name, tuple(sorted(labels.items())))
        counters[key] = counters.get(key, 0.0) + delta

    c = load.controller
    t = 0.0
    while t <= duration + 1e-9:
        if t > 0:
            total = 0.0
            for result, rate in load.results.items():
                n = rate(t) * step
                total += n
                bump("controller_runtime_reconcile_total", {"controller": c, "result": result}, n)
                if result == "error":
                    bump("controller_runtime_reconcile_errors_total", {"controller": c}, n)
            bump("controller_runtime_reconcile_time_seconds_count", {"controller": c}, total)
            bump("controller_runtime_reconcile_time_seconds_sum", {"controller": c}, total * load.reconcile_seconds)
            for le in RECONCILE_BUCKETS + (math.inf,):
                if load.reconcile_seconds <= le:
                    bump("controller_runtime_reconcile_time_seconds_bucket",
                         {"controller": c, "le": "+Inf" if math.isinf(le) else f"{le:g}"}, total)
            for base, seconds in (("workqueue_queue_duration_seconds", load.queue_seconds),
                                  ("workqueue_work_duration_seconds", load.reconcile_seconds)):
                bump(base + "_count", {"name": c}, total)
                bump(base + "_sum", {"name": c}, total * seconds)
                for le in QUEUE_BUCKETS + (math.inf,):
                    if seconds <= le:
                        bump(base + "_bucket", {"name": c, "le": "+Inf" if math.isinf(le) else f"{le:g}"}, total)
            bump("workqueue_adds_total", {"name": c}, total)
            bump("workqueue_retries_total", {"name": c}, load.retries_per_s(t) * step)
            bump("rest_client_requests_total", {"code": "200", "method": "GET", "host": "10.96.0.1:443"},
                 total * load.calls_per_reconcile * 0.75)
            bump("rest_client_requests_total", {"code": "200", "method": "PATCH", "host": "10.96.0.1:443"},
                 total * load.calls_per_reconcile * 0.25)
            bump("go_gc_duration_seconds_sum", {}, step * load.gc_pause_share)
            bump("go_gc_duration_seconds_count", {}, step / 10)
            bump("process_cpu_seconds_total", {}, step * 0.1)
        rate_now = sum(rate(t) for rate in load.results.values())
        active = load.active(t) if load.active else min(load.workers, rate_now * load.reconcile_seconds)
        samples = [(name, dict(labels), value) for (name, labels), value in counters.items()]
        samples += [
            ("controller_runtime_max_concurrent_reconciles", {"controller": c}, float(load.workers)),
            ("controller_runtime_active_workers", {"controller": c}, float(round(active))),
            ("workqueue_depth", {"name": c}, load.depth(t)),
            ("workqueue_longest_running_processor_seconds", {"name": c}, load.reconcile_seconds if active else 0.0),
            ("workqueue_unfinished_work_seconds", {"name": c}, load.reconcile_seconds * active),
            ("go_goroutines", {}, load.goroutines(t)),
            ("go_memstats_heap_inuse_bytes", {}, load.heap_bytes(t)),
            ("process_resident_memory_bytes", {}, load.heap_bytes(t) * 1.6),
        ]
        writer.add_points(target, instance, T0 + t, samples)
        t += step


def zap(ts: float, msg: str, controller: str = "widget", key: str = "", level: str = "info",
        reconcile_id: str | None = None, **extra: object) -> str:
    """A controller-runtime zap JSON line (production encoder) as the manager writes it."""
    data: dict[str, object] = {"level": level, "ts": ts, "logger": f"controller.{controller}", "msg": msg,
                               "controller": controller, "controllerGroup": "scale.profkit.dev",
                               "controllerKind": "Widget"}
    if key:
        ns, name = key.split("/")
        data["Widget"] = {"name": name, "namespace": ns}
        data["namespace"], data["name"] = ns, name
        data["reconcileID"] = reconcile_id or str(uuid.uuid4())
    data.update(extra)
    return json.dumps(data)


def record(line: str, target: str = "ctl", instance: str = "pod-0") -> LogRecord:
    """A LogRecord the way the log collector makes it from a zap JSON line."""
    from profkit.formats.logs import parse_line

    return parse_line(line, target=target, instance=instance)


@dataclass
class Bundle:
    """A bundle under construction with a fixed clock (``T0`` + seconds)."""

    path: Path
    target: str = "ctl"
    spec: dict[str, object] = field(default_factory=lambda: {"alias": "example"})
    writer: BundleWriter = field(init=False)

    def __post_init__(self) -> None:
        self.writer = BundleWriter(self.path)
        self.writer.add_target(Target(self.target, "endpoint", dict(self.spec)))

    def metrics(self, load: ControllerLoad, duration: float, step: float = 5.0, instance: str = "pod-0") -> None:
        scrape_series(self.writer, self.target, load, duration, step, instance)

    def logs(self, lines: list[tuple[float, str]] | list[str]) -> None:
        records = []
        for item in lines:
            line = item if isinstance(item, str) else item[1]
            rec = record(line, self.target)
            if not isinstance(item, str):
                rec.ts = T0 + item[0]
            records.append(rec)
        self.writer.add_logs(records)

    def objects(self, events: list[tuple[float, str, str]], resource: str = "widgets.scale.profkit.dev") -> None:
        """``(t, key, event)`` tuples; event is added | modified | deleted."""
        out = []
        for t, key, event in events:
            ns, name = key.split("/")
            out.append(ObjectEvent(T0 + t, resource, ns, name, event, uid=key))
        self.writer.add_objects(out)

    def view(self, duration: float) -> BundleView:
        self.writer.set_meta(started=repr(T0), ended=repr(T0 + duration), status="complete")
        return open_bundle(self.path)


def analyze(view: BundleView, only: str | None = None, **options: object) -> list[Finding]:
    opts = AnalyzeOptions(only=(only,) if only else (), strict=True, **options)  # type: ignore[arg-type]
    return run_analyzers(view, opts)


def at_least(findings: list[Finding], severity: str) -> list[Finding]:
    order = ("info", "warning", "critical")
    return [f for f in findings if order.index(f.severity) >= order.index(severity)]


HEALTHY_DURATION = 1200.0
CONFLICT = ('Operation cannot be fulfilled on widgets.scale.profkit.dev "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again")


def healthy(path: Path, objects: int = 100, deleted: int = 10) -> Bundle:
    """A controller keeping ``objects`` widgets: periodic RequeueAfter of live objects, a few deletions, 2 conflicts."""
    b = Bundle(path)
    load = ControllerLoad(results={"success": const(0.3), "requeue_after": const(objects / 300), "error": const(0.002)})
    b.metrics(load, HEALTHY_DURATION)
    keys = [f"default/w-{i}" for i in range(objects)]
    b.objects([(i * 0.1, k, "added") for i, k in enumerate(keys)])
    b.objects([(900.0 + i, k, "deleted") for i, k in enumerate(keys[:deleted])])
    lines: list[tuple[float, str]] = []
    for i, key in enumerate(keys):
        for t in (5.0 + i, 305.0 + i, 605.0 + i):
            lines.append((t, zap(T0 + t, "Reconciling Widget", key=key, reconcile_id=f"{key}-{t}")))
    for i, key in enumerate(keys[:deleted]):  # the normal last pass after deletion
        t = 900.4 + i
        lines.append((t, zap(T0 + t, "Widget not found, ignoring", key=key, reconcile_id=f"{key}-gone")))
    for t, key in ((400.0, keys[3]), (800.0, keys[7])):
        lines.append((t, zap(T0 + t, "Reconciler error", key=key, level="error",
                             error=CONFLICT.format(name=key.split("/")[1]))))
    b.logs(sorted(lines))
    return b


# client-go <= 0.32 throttling line (klog text); format with s (seconds field), d (delay) and i (object index).
OLD_THROTTLE = ("I1124 08:40:{s:02d}.153869       1 request.go:697] Waited for {d} due to client-side throttling, "
                "not priority and fairness, request: GET:https://10.96.0.1:443/apis/controlplane.cluster.x-k8s.io/"
                "v1beta1/namespaces/default/kubeadmcontrolplanes/kcp-{i}")
