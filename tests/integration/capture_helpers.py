"""Real local targets for capture tests: the demo controller, a static pprof/metrics server, bad endpoints."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

FIXTURES = Path(__file__).parent.parent / "fixtures"
REPO = Path(__file__).parent.parent.parent


def profkit(*args: str, timeout: float = 180, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "profkit.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**cli_env(), **(env_extra or {})})


def profkit_popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "profkit.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env())


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("COLUMNS", None)
    return env


@dataclass
class DemoController:
    proc: subprocess.Popen[bytes]
    port: int
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_demo_controller(tmp: Path, *extra: str) -> DemoController:
    port_file = tmp / "demo.port"
    log_file = tmp / "demo-controller.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "profkit.demo.controller", "--port", "0", "--port-file", str(port_file),
         "--log-file", str(log_file), "--max-lifetime", "300", *extra],
        env=cli_env(),
    )
    deadline = time.time() + 30
    while not port_file.exists():
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("demo controller did not start")
        time.sleep(0.05)
    return DemoController(proc, int(port_file.read_text()), log_file)


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _StaticHandler(BaseHTTPRequestHandler):
    """Serves recorded real Go profiles under /debug/pprof and a small /metrics."""

    routes: dict[str, tuple[int, str, bytes]] = {}
    cpu_delay = True

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        status, content_type, body = self.routes.get(path, (404, "text/plain", b"404 page not found\n"))
        if path == "/debug/pprof/profile" and self.cpu_delay:
            seconds = int(self.path.split("seconds=")[1]) if "seconds=" in self.path else 30
            time.sleep(min(seconds, 30))  # like Go: the answer comes when the window ends
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(routes: dict[str, tuple[int, str, bytes]], cpu_delay: bool = True) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (_StaticHandler,), {"routes": routes, "cpu_delay": cpu_delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pprof_routes() -> dict[str, tuple[int, str, bytes]]:
    """The pprof endpoints of a Go controller, answering with real recorded Go profiles."""
    gz = "application/octet-stream"
    return {
        "/debug/pprof/profile": (200, gz, (FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()),
        "/debug/pprof/heap": (200, gz, (FIXTURES / "go-heap.pb.gz").read_bytes()),
        "/debug/pprof/goroutine": (200, gz, (FIXTURES / "go-goroutine.pb.gz").read_bytes()),
    }


def static_pprof_server() -> tuple[ThreadingHTTPServer, str]:
    """A real HTTP server answering with real recorded Go profiles and real-shaped metrics."""
    metrics = (b"# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\n"
               b"go_goroutines 42\n")
    return serve({**pprof_routes(), "/metrics": (200, "text/plain; version=0.0.4", metrics)})


def html_error_server() -> tuple[ThreadingHTTPServer, str]:
    """What a misrouted proxy or ingress answers: 200 with an HTML page, and a 404 for /metrics."""
    page = b"<!DOCTYPE html><html><head><title>Login</title></head><body>Please sign in</body></html>"
    return serve({
        "/debug/pprof/profile": (200, "text/html", page),
        "/debug/pprof/heap": (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
        "/debug/pprof/goroutine": (200, "text/html", page),
    }, cpu_delay=False)


class HangingEndpoint:
    """A socket that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.connections: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self._stop = True
        for conn in self.connections:
            conn.close()
        self.sock.close()


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def iter_lines(text: str) -> Iterator[str]:
    return (line for line in text.splitlines() if line.strip())


GO_KEYGEN_SOURCE = REPO / "examples" / "go-keygen-server"


def start_go_keygen_server(directory: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    """Build examples/go-keygen-server into ``directory``, start it on a free port, wait for /metrics."""
    import socket
    import urllib.request

    binary = directory / "go-keygen-server"
    build = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GO_KEYGEN_SOURCE, capture_output=True,
                           text=True, timeout=900, env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"})
    assert build.returncode == 0, build.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen([str(binary), "--addr", f"127.0.0.1:{port}", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=2):
                return True
        except OSError:
            return False

    if not wait_for(up, 30):
        stop(proc)
        raise AssertionError("go-keygen-server did not come up")
    return url, proc


class ProcessSampler:
    """The test's own ground truth for a process: RSS and utime+stime from psutil every ``interval`` seconds,
    read in a thread (never from the bundle under test)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil

        self.pid = pid
        self._process = psutil.Process(pid)
        self._error = psutil.Error
        self.rss: list[tuple[float, float]] = []
        self.cpu: list[tuple[float, float]] = []  # (time, CPU seconds so far)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._process.oneshot():
                    now, rss, times = time.time(), self._process.memory_info().rss, self._process.cpu_times()
            except self._error:
                return
            self.rss.append((now, float(rss)))
            self.cpu.append((now, times.user + times.system))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def cpu_seconds_at(self, t: float) -> float:
        """CPU seconds used up to time ``t``, linear between the samples around it."""
        for (t0, v0), (t1, v1) in zip(self.cpu, self.cpu[1:]):
            if t0 <= t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1
        raise AssertionError(f"no CPU sample around {t}")

    def cpu_seconds_between(self, start: float, end: float) -> float:
        return self.cpu_seconds_at(end) - self.cpu_seconds_at(start)

    def cores_between(self, start: float, end: float) -> float:
        """Mean cores over the samples taken between two times."""
        inside = [(t, v) for t, v in self.cpu if start <= t <= end]
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


class RequestLog:
    """A reverse proxy in front of a process's HTTP port that records every request's path and User-Agent:
    what the process itself would see (who fetched what)."""

    def __init__(self, upstream: str) -> None:
        self.requests: list[tuple[str, str]] = []
        log = self.requests

        class Proxy(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                log.append((self.path.split("?")[0], self.headers.get("User-Agent", "")))
                try:
                    with urllib.request.urlopen(upstream + self.path, timeout=60) as response:
                        status, body, kind = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as exc:
                    status, body, kind = exc.code, exc.read(), "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = int(self.server.server_address[1])
        self.address = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
