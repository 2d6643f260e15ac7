"""Generate a 2-hour, 10-pod controller bundle (controller-runtime metrics, real Go profiles, objects, logs) for the report benchmark."""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from profkit.bundle import BundleWriter  # noqa: E402
from profkit.model import CaptureEvent, LogRecord, ObjectEvent, Target  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
DEFAULT_OUT = REPO / "benchmarks" / "data" / "big-bundle"
T0 = 1_764_000_000.0
CONTROLLERS = ("cluster", "machine", "machineset")
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30, 40, 50, 60)
QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))
REQUESTS = (("GET", "200", 0.6), ("PATCH", "200", 0.25), ("LIST", "200", 0.05), ("GET", "404", 0.05),
            ("PUT", "409", 0.05))
PROFILES = {"cpu": ("go-cpu-controller-healthy.pb.gz", "go-cpu-controller-keygen.pb.gz"),
            "heap": ("go-heap.pb.gz",), "goroutine": ("go-goroutine.pb.gz",)}


def label(le: float) -> str:
    return "+Inf" if math.isinf(le) else f"{le:g}"


def scrape(t: float, pod: int, rng: random.Random, counters: dict[tuple[str, str], float]) -> list[tuple[str, dict[str, str], float]]:
    """One /metrics scrape of one pod at ``t`` seconds: load ramps up over the first hour, then plateaus."""
    load = min(1.0, t / 3600) * (0.9 + 0.2 * rng.random())
    samples: list[tuple[str, dict[str, str], float]] = []

    def counter(name: str, labels: dict[str, str], delta: float) -> None:
        key = (name, json.dumps(labels, sort_keys=True))
        counters[key] = counters.get(key, 0.0) + max(0.0, delta)
        samples.append((name, labels, counters[key]))

    for c, controller in enumerate(CONTROLLERS):
        rate = (4.0 + 2 * c) * load  # reconciles per second
        n = rate * 5
        seconds = 0.04 + 0.3 * load * (1 + c)
        for result, share in (("success", 0.8), ("requeue_after", 0.15), ("requeue", 0.03), ("error", 0.02)):
            counter("controller_runtime_reconcile_total", {"controller": controller, "result": result}, n * share)
        counter("controller_runtime_reconcile_errors_total", {"controller": controller}, n * 0.02)
        for le in RECONCILE_BUCKETS + (math.inf,):
            within = 1.0 - math.exp(-le / seconds)
            counter("controller_runtime_reconcile_time_seconds_bucket", {"controller": controller, "le": label(le)},
                    n * within)
        counter("controller_runtime_reconcile_time_seconds_sum", {"controller": controller}, n * seconds)
        counter("controller_runtime_reconcile_time_seconds_count", {"controller": controller}, n)
        for base, wait in (("workqueue_queue_duration_seconds", 0.01 + 2 * load), ("workqueue_work_duration_seconds", seconds)):
            for le in QUEUE_BUCKETS + (math.inf,):
                counter(base + "_bucket", {"name": controller, "le": label(le)}, n * (1.0 - math.exp(-le / wait)))
            counter(base + "_sum", {"name": controller}, n * wait)
            counter(base + "_count", {"name": controller}, n)
        counter("workqueue_adds_total", {"name": controller}, n * 1.1)
        counter("workqueue_retries_total", {"name": controller}, n * 0.05)
        active = min(10.0, rate * seconds + rng.random())
        samples += [
            ("controller_runtime_active_workers", {"controller": controller}, float(round(active))),
            ("controller_runtime_max_concurrent_reconciles", {"controller": controller}, 10.0),
            ("workqueue_depth", {"name": controller}, max(0.0, 200 * load * load + rng.gauss(0, 5))),
            ("workqueue_longest_running_processor_seconds", {"name": controller}, seconds * (1 + rng.random())),
            ("workqueue_unfinished_work_seconds", {"name": controller}, seconds * active),
        ]
    calls = sum((4.0 + 2 * c) * load for c in range(3)) * 5 * 3
    for method, code, share in REQUESTS:
        counter("rest_client_requests_total", {"method": method, "code": code, "host": "10.96.0.1:443"}, calls * share)
    counter("process_cpu_seconds_total", {}, 5 * (0.05 + 0.6 * load) * (0.8 + 0.4 * rng.random()))
    heap = 60e6 + 140e6 * load + rng.gauss(0, 4e6)
    samples += [
        ("process_resident_memory_bytes", {}, heap * 1.5),
        ("go_goroutines", {}, 180 + 60 * load + rng.randrange(10)),
        ("go_memstats_heap_alloc_bytes", {}, heap),
        ("go_memstats_heap_inuse_bytes", {}, heap * 1.1),
        ("go_memstats_heap_sys_bytes", {}, heap * 1.4),
        ("go_memstats_stack_inuse_bytes", {}, 2e6 + 1e6 * load),
    ]
    return samples


def generate(out: Path, hours: float = 2.0, pods: int = 10, scrape_every: float = 5.0, profile_every: float = 300.0,
             objects: int = 1000, seed: int = 7, logs: bool = True) -> Path:
    """Write the bundle to ``out`` (replacing it); ``logs=False`` leaves out the 20 300 synthetic log lines."""
    if out.exists():
        shutil.rmtree(out)
    rng = random.Random(seed)
    writer = BundleWriter(out)
    target = "capi-controller-manager"
    writer.add_target(Target(target, "deployment", {"namespace": "capi-system", "alias": "capi"}))
    duration = hours * 3600
    names = [f"{target}-5d8f7c9b4-{i:02d}x" for i in range(pods)]
    counters: list[dict[tuple[str, str], float]] = [{} for _ in names]
    steps = int(duration // scrape_every) + 1
    for step in range(steps):
        t = step * scrape_every
        for index, pod in enumerate(names):
            writer.add_points(target, pod, T0 + t + index * 0.37, scrape(t, index, rng, counters[index]))
    raw = {kind: [(FIXTURES / f).read_bytes() for f in files] for kind, files in PROFILES.items()}
    for window, start in enumerate(range(0, int(duration), int(profile_every))):
        for index, pod in enumerate(names):
            for kind, blobs in raw.items():
                blob = blobs[(window + index) % len(blobs)]
                writer.add_profile(target, pod, kind, "pprof", blob, T0 + start + 1 + index * 0.37, 30.0)
    events: list[ObjectEvent] = []
    for i in range(objects):
        created = rng.uniform(0, duration * 0.5)
        key = f"ns-{i % 20}/cluster-{i:04d}"
        ns, name = key.split("/")
        events.append(ObjectEvent(T0 + created, "clusters.cluster.x-k8s.io", ns, name, "added", uid=key, target=target))
        events.append(ObjectEvent(T0 + created + rng.uniform(20, 240), "clusters.cluster.x-k8s.io", ns, name,
                                  "modified", uid=key, ready=True, target=target))
        if i % 5 == 0:
            events.append(ObjectEvent(T0 + duration * 0.75 + rng.uniform(0, 1200), "clusters.cluster.x-k8s.io", ns,
                                      name, "deleted", uid=key, target=target))
    writer.add_objects(sorted(events, key=lambda e: e.ts))
    records = []
    for i in range(20_000):
        ts = T0 + rng.uniform(0, duration)
        pod = names[i % pods]
        line = json.dumps({"level": "info", "ts": ts, "msg": "Reconciling Cluster", "controller": "cluster",
                           "namespace": f"ns-{i % 20}", "name": f"cluster-{i % objects:04d}"})
        records.append(LogRecord(ts, target, pod, "Reconciling Cluster", "info", "controller", "cluster",
                              f"ns-{i % 20}/cluster-{i % objects:04d}", {}, line))
    for i in range(300):
        ts = T0 + 3600 + i * 10
        line = (f"I1124 10:{i % 60:02d}:00.000000       1 request.go:697] Waited for 1.{i % 9}s due to client-side "
                f"throttling, not priority and fairness, request: GET:https://10.96.0.1:443/apis/cluster.x-k8s.io/"
                f"v1beta1/namespaces/ns-1/clusters/cluster-{i:04d}")
        records.append(LogRecord(ts, target, names[0], line.split("] ", 1)[1], "info", "", "", "", {}, line))
    if logs:
        writer.add_logs(sorted(records, key=lambda r: r.ts))
    writer.add_event(CaptureEvent(T0 + 3000, "restart", "container manager restarted (OOMKilled)", target, names[3], "kube"))
    writer.add_event(CaptureEvent(T0 + 5400, "rollout", "deployment rolled out revision 4", target, "", "kube"))
    writer.add_event(CaptureEvent(T0 + 4000, "gap", "API server unreachable for 40 s", target, "", "kube"))
    writer.set_meta(started=repr(T0))
    writer.close()
    writer_db = out / "profkit.db"
    import sqlite3

    with sqlite3.connect(writer_db) as db:  # close() stamps the wall clock; the synthetic capture ended at T0 + duration
        db.execute("UPDATE meta SET value=? WHERE key='ended'", (repr(T0 + duration),))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--no-logs", action="store_true", help="leave out the synthetic log lines")
    args = parser.parse_args()
    path = generate(args.out, args.hours, args.pods, logs=not args.no_logs)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"{path} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
