"""The demo controller: a controller-runtime-like manager in pure Python with switchable pathologies.

Run as ``python -m profkit.demo.controller --port P --log-file F [--keygen-per-reconcile N]
[--requeue-deleted] [--objects N]``. It reconciles Widgets from a work queue with a few workers, serves
``/metrics`` with controller-runtime's metric names, writes zap-style JSON logs, deletes and creates
objects over time and, with its pathologies on, generates RSA keys in every reconcile (like Cluster
API's KCP before v1.5) and requeues deleted objects forever (like Metal3's BMO before v0.2).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import resource
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

from profkit.demo import keys
from profkit.demo.metrics import Counter, CounterFunc, Gauge, Histogram, Registry, exponential_buckets

CONTROLLER = "widget"
NAMESPACE = "demo"
API_HOST = "127.0.0.1:6443"
RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
                     0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30,
                     40, 50, 60]
QUEUE_BUCKETS = exponential_buckets(10e-9, 10, 12)


# -- logging --------------------------------------------------------------------------------------
class Logger:
    """zap's JSON encoder as controller-runtime configures it: level, ts (epoch float), logger, msg."""

    def __init__(self, stream: IO[str], name: str = "") -> None:
        self.stream = stream
        self.name = name
        self._lock = threading.Lock()

    def named(self, name: str) -> Logger:
        child = Logger(self.stream, name)
        child._lock = self._lock
        return child

    def log(self, level: str, msg: str, **fields: Any) -> None:
        entry: dict[str, Any] = {"level": level, "ts": time.time()}
        if self.name:
            entry["logger"] = self.name
        entry["msg"] = msg
        entry.update(fields)
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def info(self, msg: str, **fields: Any) -> None:
        self.log("info", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.log("error", msg, **fields)


# -- metrics --------------------------------------------------------------------------------------
def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return float(int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Metrics:
    """controller-runtime's default registry, as far as a Python process can honestly fill it."""

    def __init__(self, workers: int) -> None:
        r = self.registry = Registry()
        ctrl = ("controller",)
        self.reconcile_total = r.register(Counter(
            "controller_runtime_reconcile_total", "Total number of reconciliations per controller",
            ("controller", "result")))
        self.reconcile_errors = r.register(Counter(
            "controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller", ctrl))
        self.terminal_errors = r.register(Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller", ctrl))
        self.panics = r.register(Counter(
            "controller_runtime_reconcile_panics_total", "Total number of reconciliation panics per controller", ctrl))
        self.reconcile_time = r.register(Histogram(
            "controller_runtime_reconcile_time_seconds", "Length of time per reconciliation per controller", ctrl,
            RECONCILE_BUCKETS))
        self.max_concurrent = r.register(Gauge(
            "controller_runtime_max_concurrent_reconciles", "Maximum number of concurrent reconciles per controller",
            ctrl))
        self.active_workers = r.register(Gauge(
            "controller_runtime_active_workers", "Number of currently used workers per controller", ctrl))
        wq = ("controller", "name")
        self.depth = r.register(Gauge("workqueue_depth", "Current depth of workqueue", wq))
        self.adds = r.register(Counter("workqueue_adds_total", "Total number of adds handled by workqueue", wq))
        self.retries = r.register(Counter("workqueue_retries_total", "Total number of retries handled by workqueue",
                                          wq))
        self.queue_duration = r.register(Histogram(
            "workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue before being requested",
            wq, QUEUE_BUCKETS))
        self.work_duration = r.register(Histogram(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes", wq,
            QUEUE_BUCKETS))
        self.unfinished = r.register(Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.", wq))
        self.longest = r.register(Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.", wq))
        self.rest_requests = r.register(Counter(
            "rest_client_requests_total", "Number of HTTP requests, partitioned by status code, method, and host.",
            ("code", "method", "host")))
        r.register(CounterFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         func=_cpu_seconds))
        r.register(Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", func=_rss_bytes))
        start = Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
        start.set(time.time())
        r.register(start)
        r.register(Gauge("python_threads", "Number of live Python threads (threading.active_count()).",
                         func=lambda: float(threading.active_count())))
        info = Gauge("python_info", "Python platform information", ("implementation", "version"))
        info.set(1.0, sys.implementation.name, ".".join(str(v) for v in sys.version_info[:3]))
        r.register(info)
        # Counters controller-runtime initialises to zero for every result.
        for result in ("success", "error", "requeue", "requeue_after"):
            self.reconcile_total.touch(CONTROLLER, result)
        for metric in (self.reconcile_errors, self.terminal_errors, self.panics):
            metric.touch(CONTROLLER)
        self.max_concurrent.set(float(workers), CONTROLLER)
        self.active_workers.set(0.0, CONTROLLER)
        self.retries.touch(CONTROLLER, CONTROLLER)


# -- the work queue -----------------------------------------------------------------------------------
class WorkQueue:
    """client-go's rate-limited delaying queue: dedup, dirty/processing sets, AddAfter, AddRateLimited."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._cond = threading.Condition()
        self._queue: list[str] = []
        self._dirty: set[str] = set()
        self._processing: dict[str, float] = {}
        self._added_at: dict[str, float] = {}
        self._waiting: list[tuple[float, int, str]] = []
        self._failures: dict[str, int] = {}
        self._seq = 0
        self._shutdown = False
        self._timer = threading.Thread(target=self._run_timer, name="workqueue-delay", daemon=True)
        self._timer.start()

    def _labels(self) -> tuple[str, str]:
        return CONTROLLER, CONTROLLER

    def add(self, key: str) -> None:
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            self.metrics.adds.inc(*self._labels())
            self._dirty.add(key)
            self._added_at.setdefault(key, time.time())
            if key in self._processing:
                return
            self._queue.append(key)
            self.metrics.depth.set(float(len(self._queue)), *self._labels())
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            self._seq += 1
            heapq.heappush(self._waiting, (time.time() + delay, self._seq, key))
            self._cond.notify_all()

    def add_rate_limited(self, key: str) -> None:
        """Per-item exponential backoff 5 ms .. 1000 s, as workqueue.DefaultControllerRateLimiter."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        self.metrics.retries.inc(*self._labels())
        self.add_after(key, min(0.005 * 2**failures, 1000.0))

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def get(self, stop: threading.Event) -> str | None:
        with self._cond:
            while not self._queue and not stop.is_set():
                self._cond.wait(0.2)
            if not self._queue:
                return None
            key = self._queue.pop(0)
            now = time.time()
            self.metrics.queue_duration.observe(now - self._added_at.pop(key, now), *self._labels())
            self._processing[key] = now
            self._dirty.discard(key)
            self.metrics.depth.set(float(len(self._queue)), *self._labels())
            return key

    def done(self, key: str) -> None:
        with self._cond:
            started = self._processing.pop(key, time.time())
            self.metrics.work_duration.observe(time.time() - started, *self._labels())
            if key in self._dirty:
                self._queue.append(key)
                self.metrics.depth.set(float(len(self._queue)), *self._labels())
                self._cond.notify()

    def update_gauges(self) -> None:
        with self._cond:
            now = time.time()
            running = [now - t for t in self._processing.values()]
        self.metrics.unfinished.set(sum(running), *self._labels())
        self.metrics.longest.set(max(running, default=0.0), *self._labels())

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def _run_timer(self) -> None:
        while True:
            with self._cond:
                if self._shutdown:
                    return
                now = time.time()
                ready: list[str] = []
                while self._waiting and self._waiting[0][0] <= now:
                    ready.append(heapq.heappop(self._waiting)[2])
                wait = self._waiting[0][0] - now if self._waiting else 0.2
            for key in ready:
                self.add(key)
            with self._cond:
                self._cond.wait(min(max(wait, 0.001), 0.2))


# -- the simulated API server and client ---------------------------------------------------------------
class NotFound(Exception):
    pass


@dataclass
class Widget:
    namespace: str
    name: str
    generation: int = 1


class FakeAPI:
    """The objects the controller watches (an informer cache and API server in one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.objects: dict[str, Widget] = {}
        self.created = 0

    def create(self) -> str:
        with self._lock:
            self.created += 1
            widget = Widget(NAMESPACE, f"w-{self.created}")
            key = f"{widget.namespace}/{widget.name}"
            self.objects[key] = widget
            return key

    def delete_random(self, rng: random.Random) -> str | None:
        with self._lock:
            if not self.objects:
                return None
            key = rng.choice(sorted(self.objects))
            del self.objects[key]
            return key

    def touch_random(self, rng: random.Random) -> str | None:
        with self._lock:
            if not self.objects:
                return None
            key = rng.choice(sorted(self.objects))
            self.objects[key].generation += 1
            return key

    def get(self, key: str) -> Widget:
        with self._lock:
            widget = self.objects.get(key)
        if widget is None:
            namespace, name = key.split("/", 1)
            raise NotFound(f'widgets.demo.profkit.dev "{name}" not found')
        return widget

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self.objects)


class RestClient:
    """Counts requests like client-go, behind its client-side token bucket (QPS/burst)."""

    def __init__(self, api: FakeAPI, metrics: Metrics, log: Logger, qps: float, burst: int) -> None:
        self.api = api
        self.metrics = metrics
        self.log = log
        self.qps = qps
        self.tokens = float(burst)
        self.burst = burst
        self.last = time.monotonic()
        self._lock = threading.Lock()
        self._last_throttle_log = 0.0

    def _wait_token(self, method: str, path: str) -> None:
        if self.qps <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.qps)
            self.last = now
            self.tokens -= 1
            wait = -self.tokens / self.qps if self.tokens < 0 else 0.0
        if wait > 0:
            if wait > 1.0 and time.monotonic() - self._last_throttle_log > 10:
                self._last_throttle_log = time.monotonic()
                self.log.info(f"Waited for {wait:.2f}s due to client-side throttling, not priority and fairness, "
                              f"request: {method}:https://{API_HOST}{path}")
            time.sleep(wait)

    def request(self, method: str, path: str, key: str | None = None) -> Widget | None:
        self._wait_token(method, path)
        time.sleep(0.002)  # the round trip
        try:
            result = self.api.get(key) if key is not None else None
        except NotFound:
            self.metrics.rest_requests.inc("404", method, API_HOST)
            raise
        self.metrics.rest_requests.inc("200", method, API_HOST)
        return result


# -- the reconciler ------------------------------------------------------------------------------------------
@dataclass
class Result:
    requeue: bool = False
    requeue_after: float = 0.0


class Management:
    """Reaches workload clusters, like KCP's internal.Management before the fix: a new key every call."""

    def __init__(self, client: RestClient, key_bits: int) -> None:
        self.client = client
        self.key_bits = key_bits

    def get_workload_cluster_client(self, widget: Widget) -> dict[str, Any]:
        self.client.request("GET", f"/api/v1/namespaces/{widget.namespace}/secrets/{widget.name}-kubeconfig")
        cert = self.generate_client_cert(widget)
        return {"cluster": widget.name, "cert": cert}

    def generate_client_cert(self, widget: Widget) -> dict[str, int]:
        public, private = keys.newkeys(self.key_bits)
        signature = pow(hash(widget.name) % public.n, private.d, public.n)
        return {"n": public.n, "signature": signature}


class WidgetReconciler:
    """The controller's Reconcile: with key generation on, four call sites each reach the workload cluster."""

    def __init__(self, client: RestClient, management: Management, log: Logger, keygen_per_reconcile: int,
                 requeue_deleted: bool, requeue_after: float) -> None:
        self.client = client
        self.management = management
        self.log = log
        self.keygen_per_reconcile = keygen_per_reconcile
        self.requeue_deleted = requeue_deleted
        self.requeue_after = requeue_after
        self._call_sites = [self.update_status, self.reconcile_workload, self.reconcile_control_plane_conditions,
                            self.reconcile_certificate_expiries]

    def reconcile(self, key: str, reconcile_id: str) -> Result:
        namespace, name = key.split("/", 1)
        fields = {"controller": CONTROLLER, "controllerGroup": "demo.profkit.dev", "controllerKind": "Widget",
                  "Widget": {"name": name, "namespace": namespace}, "namespace": namespace, "name": name,
                  "reconcileID": reconcile_id}
        self.log.info("Reconciling", **fields)
        try:
            widget = self.client.request("GET", f"/apis/demo.profkit.dev/v1/namespaces/{namespace}/widgets/{name}",
                                         key)
        except NotFound:
            if self.requeue_deleted:
                # The bug: NotFound treated like any other Get error, requeued forever.
                self.log.info("could not get widget, not running reconciler", **fields)
                return Result(requeue=True, requeue_after=self.requeue_after)
            return Result()
        assert widget is not None
        for i in range(self.keygen_per_reconcile):
            self._call_sites[i % len(self._call_sites)](widget)
        self.client.request("PATCH", f"/apis/demo.profkit.dev/v1/namespaces/{namespace}/widgets/{name}/status", key)
        self.log.info("Reconcile done", **fields, generation=widget.generation)
        return Result()

    def update_status(self, widget: Widget) -> None:
        self.management.get_workload_cluster_client(widget)

    def reconcile_workload(self, widget: Widget) -> None:
        self.management.get_workload_cluster_client(widget)

    def reconcile_control_plane_conditions(self, widget: Widget) -> None:
        self.management.get_workload_cluster_client(widget)

    def reconcile_certificate_expiries(self, widget: Widget) -> None:
        self.management.get_workload_cluster_client(widget)


# -- the manager ------------------------------------------------------------------------------------------------
class Manager:
    def __init__(self, args: argparse.Namespace, log_stream: IO[str]) -> None:
        self.args = args
        self.stop = threading.Event()
        self.root_log = Logger(log_stream)
        self.log = self.root_log.named("controller")
        self.metrics = Metrics(args.workers)
        self.queue = WorkQueue(self.metrics)
        self.api = FakeAPI()
        self.client = RestClient(self.api, self.metrics, self.root_log.named("rest-client"), args.kube_api_qps,
                                 args.kube_api_burst)
        self.reconciler = WidgetReconciler(
            self.client, Management(self.client, args.key_bits), self.log, args.keygen_per_reconcile,
            args.requeue_deleted, args.requeue_after)
        self.rng = random.Random(args.seed)
        self._active = 0
        self._active_lock = threading.Lock()

    def process_next(self) -> bool:
        key = self.queue.get(self.stop)
        if key is None:
            return False
        with self._active_lock:
            self._active += 1
            self.metrics.active_workers.set(float(self._active), CONTROLLER)
        started = time.time()
        reconcile_id = str(uuid.uuid4())
        try:
            result = self.reconciler.reconcile(key, reconcile_id)
            error: Exception | None = None
        except Exception as exc:  # a reconcile error: counted and requeued with backoff
            result, error = Result(), exc
        finally:
            self.metrics.reconcile_time.observe(time.time() - started, CONTROLLER)
            with self._active_lock:
                self._active -= 1
                self.metrics.active_workers.set(float(self._active), CONTROLLER)
        if error is not None:
            self.metrics.reconcile_errors.inc(CONTROLLER)
            self.metrics.reconcile_total.inc(CONTROLLER, "error")
            namespace, name = key.split("/", 1)
            self.log.error("Reconciler error", controller=CONTROLLER, controllerGroup="demo.profkit.dev",
                           controllerKind="Widget", Widget={"name": name, "namespace": namespace},
                           namespace=namespace, name=name, reconcileID=reconcile_id, error=str(error))
            self.queue.add_rate_limited(key)
        elif result.requeue_after > 0:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
            self.metrics.reconcile_total.inc(CONTROLLER, "requeue_after")
        elif result.requeue:
            self.queue.add_rate_limited(key)
            self.metrics.reconcile_total.inc(CONTROLLER, "requeue")
        else:
            self.queue.forget(key)
            self.metrics.reconcile_total.inc(CONTROLLER, "success")
        self.queue.done(key)
        return True

    def worker(self) -> None:
        while not self.stop.is_set():
            self.process_next()

    def events(self) -> None:
        """The informer side: creates, updates, deletes and the periodic resync of every live object."""
        args = self.args
        now = time.time()
        next_resync, next_delete, next_update = now + args.sync_period, now + args.delete_every, now + 1.0
        while not self.stop.wait(0.1):
            now = time.time()
            if now >= next_resync:
                next_resync = now + args.sync_period
                for key in self.api.keys():
                    self.queue.add(key)
            if args.delete_every > 0 and now >= next_delete:
                next_delete = now + args.delete_every
                deleted = self.api.delete_random(self.rng)
                if deleted:
                    self.log.info("Widget deleted", controller=CONTROLLER, namespace=NAMESPACE,
                                  name=deleted.split("/", 1)[1])
                    self.queue.add(deleted)
                self.queue.add(self.api.create())  # keep the population steady
            if args.update_every > 0 and now >= next_update:
                next_update = now + args.update_every * self.rng.uniform(0.5, 1.5)
                touched = self.api.touch_random(self.rng)
                if touched:
                    self.queue.add(touched)
            self.queue.update_gauges()

    def serve(self, port: int) -> ThreadingHTTPServer:
        registry = self.metrics.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] == "/metrics":
                    body = registry.exposition().encode()
                    content_type = "text/plain; version=0.0.4; charset=utf-8"
                elif self.path in ("/healthz", "/readyz"):
                    body, content_type = b"ok", "text/plain"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
        return server

    def run(self) -> int:
        args = self.args
        server = self.serve(args.port)
        port = server.server_address[1]
        self.root_log.info("Starting metrics server", logger="controller-runtime.metrics",
                           **{"bindAddress": f"127.0.0.1:{port}", "secure": False})
        if args.port_file:
            with open(args.port_file + ".tmp", "w") as handle:
                handle.write(str(port))
            os.replace(args.port_file + ".tmp", args.port_file)
        for _ in range(args.objects):
            self.queue.add(self.api.create())
        self.log.info("Starting EventSource", controller=CONTROLLER, controllerGroup="demo.profkit.dev",
                      controllerKind="Widget", source="kind source: *v1.Widget")
        self.log.info("Starting Controller", controller=CONTROLLER, controllerGroup="demo.profkit.dev",
                      controllerKind="Widget")
        self.log.info("Starting workers", controller=CONTROLLER, controllerGroup="demo.profkit.dev",
                      controllerKind="Widget", **{"worker count": args.workers})
        threads = [threading.Thread(target=self.worker, name=f"worker-{i}", daemon=True) for i in range(args.workers)]
        threads.append(threading.Thread(target=self.events, name="informer", daemon=True))
        for thread in threads:
            thread.start()
        deadline = time.time() + args.max_lifetime if args.max_lifetime > 0 else None
        parent = os.getppid()
        while not self.stop.wait(0.5):
            if deadline is not None and time.time() > deadline:
                break
            if args.exit_with_parent and os.getppid() != parent:
                break
        self.stop.set()
        self.root_log.info("Stopping and waiting for non leader election runnables")
        self.queue.shutdown()
        for thread in threads:
            thread.join(timeout=5)
        server.shutdown()
        self.root_log.info("Wait completed, proceeding to shutdown the manager")
        return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m profkit.demo.controller", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="metrics port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--port-file", default="", help="write the bound port here once serving")
    parser.add_argument("--log-file", default="", help="JSON log file (default: stdout)")
    parser.add_argument("--objects", type=int, default=5, help="Widgets to create at start")
    parser.add_argument("--workers", type=int, default=2, help="max concurrent reconciles")
    parser.add_argument("--keygen-per-reconcile", type=int, default=0,
                        help="RSA keys generated per reconcile (the KCP bug: 4); 0 turns it off")
    parser.add_argument("--key-bits", type=int, default=1024)
    parser.add_argument("--requeue-deleted", action="store_true",
                        help="requeue objects whose Get returns NotFound, forever (the BMO bug)")
    parser.add_argument("--requeue-after", type=float, default=2.0, help="RequeueAfter of that bug, seconds")
    parser.add_argument("--sync-period", type=float, default=10.0, help="resync period of every object, seconds")
    parser.add_argument("--delete-every", type=float, default=5.0, help="delete (and replace) one object this often")
    parser.add_argument("--update-every", type=float, default=3.0, help="update one object about this often")
    parser.add_argument("--kube-api-qps", type=float, default=20.0)
    parser.add_argument("--kube-api-burst", type=int, default=30)
    parser.add_argument("--max-lifetime", type=float, default=0.0, help="exit after this many seconds (0: never)")
    parser.add_argument("--exit-with-parent", action="store_true", help="exit when the parent process goes away")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stream: IO[str] = open(args.log_file, "a", buffering=1) if args.log_file else sys.stdout
    manager = Manager(args, stream)

    def on_signal(signum: int, frame: object) -> None:
        manager.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return manager.run()
    finally:
        if stream is not sys.stdout:
            stream.close()


if __name__ == "__main__":
    sys.exit(main())
