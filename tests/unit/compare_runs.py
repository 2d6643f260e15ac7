"""Runs for the compare tests: controller-runtime metrics with seeded noise, written with BundleWriter.

Each scrape adds Poisson-like noise (seeded) to reconciles and CPU, so two runs of one
configuration differ the way two captures of one controller do; counters, histogram buckets and
label sets are controller-runtime's (see controller_bundles.py).
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from profkit.bundle import BundleWriter, open_bundle
from profkit.bundle.schema import DB_NAME
from profkit.bundle.reader import BundleView
from profkit.model import ObjectEvent, Target

T0 = 1_764_000_000.0
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class RunSpec:
    """What the controller does during one run (per second unless named otherwise)."""

    reconcile_rate: float = 4.0
    cpu_per_reconcile: float = 0.004  # seconds
    idle_cores: float = 0.01
    requeue_rate: float = 0.0
    error_rate: float = 0.0
    reconcile_seconds: float = 0.02
    memory_bytes: float = 60e6
    goroutines: float = 80.0
    calls_per_reconcile: float = 2.0
    noise: float = 0.15  # relative jitter of every scrape's increments
    duration: float = 300.0
    step: float = 5.0
    objects_ready_after: float | None = None  # seconds from creation to ready, for time-to-ready
    throttle_waits: list[tuple[float, float]] = field(default_factory=list)  # (t, delay seconds)


def write_run(path: Path, spec: RunSpec, seed: int, target: str = "ctl", start: float = T0,
              profiles: Sequence[bytes] = (), status: str = "complete") -> BundleView:
    """A complete bundle at ``path`` for ``spec``, noise from ``seed``; CPU profiles spread over the run."""
    rng = random.Random(seed)
    w = BundleWriter(path)
    w.add_target(Target(target, "endpoint", {"alias": "example"}))
    w.set_meta(started=repr(start), options=json.dumps({"scrape_interval": spec.step, "profile_window": 30.0}))
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def bump(name: str, labels: dict[str, str], delta: float) -> None:
        key = (name, tuple(sorted(labels.items())))
        counters[key] = counters.get(key, 0.0) + delta

    def jitter() -> float:
        return max(0.0, 1.0 + rng.gauss(0.0, spec.noise))

    t = 0.0
    while t <= spec.duration + 1e-9:
        if t > 0:
            ok = spec.reconcile_rate * spec.step * jitter()
            requeues = spec.requeue_rate * spec.step * jitter()
            errors = spec.error_rate * spec.step * jitter()
            total = ok + requeues + errors
            for result, n in (("success", ok), ("requeue_after", requeues), ("error", errors), ("requeue", 0.0)):
                bump("controller_runtime_reconcile_total", {"controller": "widget", "result": result}, n)
            seconds = spec.reconcile_seconds * jitter()
            bump("controller_runtime_reconcile_time_seconds_count", {"controller": "widget"}, total)
            bump("controller_runtime_reconcile_time_seconds_sum", {"controller": "widget"}, total * seconds)
            for le in BUCKETS + (math.inf,):
                share = 1.0 if seconds <= le else 0.0
                label = "+Inf" if math.isinf(le) else f"{le:g}"
                bump("controller_runtime_reconcile_time_seconds_bucket", {"controller": "widget", "le": label},
                     total * share)
            bump("workqueue_retries_total", {"name": "widget", "controller": "widget"}, requeues * 0.0)
            bump("rest_client_requests_total", {"code": "200", "method": "GET", "host": "10.96.0.1:443"},
                 total * spec.calls_per_reconcile)
            bump("process_cpu_seconds_total", {},
                 (spec.idle_cores * spec.step + total * spec.cpu_per_reconcile) * jitter())
        samples = [(name, dict(labels), value) for (name, labels), value in counters.items()]
        samples += [
            ("process_resident_memory_bytes", {}, spec.memory_bytes * (1 + rng.gauss(0, 0.01))),
            ("go_goroutines", {}, float(round(spec.goroutines + rng.gauss(0, 2)))),
            ("workqueue_depth", {"name": "widget", "controller": "widget"}, float(max(0, round(rng.gauss(1, 1))))),
        ]
        w.add_points(target, "pod-0", start + t, samples)
        t += spec.step
    if spec.objects_ready_after is not None:
        events = []
        for i in range(20):
            created = start + 10 + i * 5
            ready = created + spec.objects_ready_after * jitter()
            events.append(ObjectEvent(created, "widgets", "default", f"w-{i}", "added", uid=f"u{i}", ready=None))
            events.append(ObjectEvent(ready, "widgets", "default", f"w-{i}", "modified", uid=f"u{i}", ready=True))
        w.add_objects(sorted(events, key=lambda e: e.ts))
    if spec.throttle_waits:
        from profkit.model import LogRecord

        records = []
        for t_wait, delay in spec.throttle_waits:
            line = (f'I1124 08:40:00.153869       1 request.go:697] Waited for {delay:.3f}s due to client-side '
                    "throttling, not priority and fairness, request: GET:https://10.96.0.1:443/api/v1/namespaces")
            records.append(LogRecord(start + t_wait, target, "pod-0", line, raw=line))
        w.add_logs(records)
    for number, data in enumerate(profiles):
        window = spec.duration / max(1, len(profiles))
        w.add_profile(target, "pod-0", "cpu", "pprof", data, start + number * window, window)
    w.close()
    # close() stamps the wall clock; the run's own clock is what the windows follow.
    db = sqlite3.connect(path / DB_NAME)
    db.executemany("UPDATE meta SET value=? WHERE key=?", [(repr(start + spec.duration), "ended"), (status, "status")])
    db.commit()
    db.close()
    return open_bundle(path)
