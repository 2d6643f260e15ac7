"""Hand-written Prometheus registry and /metrics server with controller-runtime's metric names."""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable

Labels = tuple[tuple[str, str], ...]

# controller-runtime's reconcile_time_seconds buckets (v0.15+).
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7,
                     0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15,
                     20, 25, 30, 40, 50, 60)
# client-go workqueue's duration buckets: ExponentialBuckets(10e-9, 10, 10).
WORKQUEUE_BUCKETS = tuple(10e-9 * 10 ** i for i in range(10))


def _key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self._lock = threading.Lock()

    def samples(self) -> Iterable[str]:  # pragma: no cover - overridden
        return ()

    def expose(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines.extend(self.samples())
        return "\n".join(lines) + "\n"


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def touch(self, **labels: str) -> None:
        """Expose a zero sample for these labels (controller-runtime pre-registers results)."""
        with self._lock:
            self._values.setdefault(_key(labels), 0.0)

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(_key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_fmt_labels(k)} {_fmt_value(v)}" for k, v in items]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self._values[_key(labels)] = value


class FuncGauge(_Metric):
    """A gauge (or counter) whose value is computed at scrape time."""

    def __init__(self, name: str, help_text: str, fn: Callable[[], float], kind: str = "gauge",
                 labels: dict[str, str] | None = None) -> None:
        super().__init__(name, help_text)
        self.kind, self._fn, self._labels = kind, fn, _key(labels or {})

    def samples(self) -> Iterable[str]:
        return [f"{self.name}{_fmt_labels(self._labels)} {_fmt_value(self._fn())}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]) -> None:
        super().__init__(name, help_text)
        self.buckets = tuple(sorted(buckets))
        self._data: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            counts, total = self._data.setdefault(key, ([0] * len(self.buckets), [0.0, 0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            total[0] += value
            total[1] += 1

    def samples(self) -> Iterable[str]:
        out: list[str] = []
        with self._lock:
            items = sorted((k, (list(c), list(t))) for k, (c, t) in self._data.items())
        for key, (counts, (total, count)) in items:
            for bound, n in zip(self.buckets, counts):
                out.append(f"{self.name}_bucket{_fmt_labels(key, (('le', _fmt_value(bound)),))} {n}")
            out.append(f"{self.name}_bucket{_fmt_labels(key, (('le', '+Inf'),))} {int(count)}")
            out.append(f"{self.name}_sum{_fmt_labels(key)} {_fmt_value(total)}")
            out.append(f"{self.name}_count{_fmt_labels(key)} {int(count)}")
        return out


class Registry:
    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def register(self, metric: _Metric) -> _Metric:
        self._metrics.append(metric)
        return metric

    def counter(self, name: str, help_text: str) -> Counter:
        m = Counter(name, help_text)
        self.register(m)
        return m

    def gauge(self, name: str, help_text: str) -> Gauge:
        m = Gauge(name, help_text)
        self.register(m)
        return m

    def histogram(self, name: str, help_text: str, buckets: tuple[float, ...]) -> Histogram:
        m = Histogram(name, help_text, buckets)
        self.register(m)
        return m

    def expose(self) -> str:
        return "".join(m.expose() for m in self._metrics)


def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return float(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except OSError:
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _open_fds() -> float:
    try:
        return float(len(os.listdir("/proc/self/fd")))
    except OSError:
        return 0.0


_START = time.time()


class Metrics:
    """Every metric the controller exposes, named like controller-runtime and client-go."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.reconcile_total = r.counter(
            "controller_runtime_reconcile_total", "Total number of reconciliations per controller")
        self.reconcile_errors = r.counter(
            "controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller")
        self.reconcile_time = r.histogram(
            "controller_runtime_reconcile_time_seconds", "Length of time per reconciliation per controller",
            RECONCILE_BUCKETS)
        self.max_concurrent = r.gauge(
            "controller_runtime_max_concurrent_reconciles", "Maximum number of concurrent reconciles per controller")
        self.active_workers = r.gauge(
            "controller_runtime_active_workers", "Number of currently used workers per controller")
        self.wq_depth = r.gauge("workqueue_depth", "Current depth of workqueue")
        self.wq_adds = r.counter("workqueue_adds_total", "Total number of adds handled by workqueue")
        self.wq_retries = r.counter("workqueue_retries_total", "Total number of retries handled by workqueue")
        self.wq_queue_duration = r.histogram(
            "workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue before being requested",
            WORKQUEUE_BUCKETS)
        self.wq_work_duration = r.histogram(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes",
            WORKQUEUE_BUCKETS)
        self.wq_unfinished = r.gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by work_duration")
        self.wq_longest = r.gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running")
        self.rest_requests = r.counter(
            "rest_client_requests_total", "Number of HTTP requests, partitioned by status code, method, and host")
        r.register(FuncGauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
                             lambda: sum(os.times()[:2]), kind="counter"))
        r.register(FuncGauge("process_resident_memory_bytes", "Resident memory size in bytes", _rss_bytes))
        r.register(FuncGauge("process_open_fds", "Number of open file descriptors", _open_fds))
        r.register(FuncGauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds",
                             lambda: _START))
        r.register(FuncGauge("python_threads", "Number of live Python threads (the goroutine analogue)",
                             lambda: float(threading.active_count())))


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Callable[[], tuple[int, str, str]]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        route = self.routes.get(self.path.split("?", 1)[0])
        code, ctype, body = route() if route else (404, "text/plain", "404 page not found\n")
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet access log
        return


def parse_bind_address(addr: str) -> tuple[str, int] | None:
    """``:8080`` → ("", 8080); ``127.0.0.1:0`` → ("127.0.0.1", 0); ``0`` (disabled) → None."""
    if addr in ("0", ""):
        return None
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def serve(addr: tuple[str, int], routes: dict[str, Callable[[], tuple[int, str, str]]]) -> ThreadingHTTPServer:
    """Serve the given routes on a daemon thread; returns the server (its real port in server_address)."""
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer(addr, handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"http-{addr[1]}", daemon=True).start()
    return server
