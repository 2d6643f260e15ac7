"""A real Prometheus (Debian's prometheus package) on 127.0.0.1 with a temporary TSDB, for the Prometheus tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrometheusServer:
    proc: subprocess.Popen[bytes]
    port: int
    tsdb: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
            return json.loads(response.read())["data"]

    def wait_for_samples(self, query: str, minimum: int, timeout: float = 60) -> None:
        """Until ``count_over_time(query[1h])`` reaches ``minimum`` (the scrapes have landed)."""
        deadline = time.time() + timeout
        from urllib.parse import quote

        while time.time() < deadline:
            result = self.api(f"/api/v1/query?query={quote(f'count_over_time({query}[1h])')}")["result"]
            if result and min(float(r["value"][1]) for r in result) >= minimum:
                return
            time.sleep(0.5)
        raise AssertionError(f"Prometheus did not collect {minimum} samples of {query}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_prometheus(tmp: Path, scrape_configs: list[dict[str, Any]], interval: str = "1s") -> PrometheusServer:
    """Start ``prometheus`` with these scrape configs; returns once /-/ready answers."""
    assert PROMETHEUS is not None, "prometheus is not installed (scripts/test.sh installs Debian's package)"
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": interval, "evaluation_interval": interval},
                                      "scrape_configs": scrape_configs}))
    port = free_port()
    tsdb = tmp / "tsdb"
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d"],
                                stdout=out, stderr=subprocess.STDOUT)
    server = PrometheusServer(proc, port, tsdb, log)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"prometheus did not become ready: {log.read_text()[-2000:]}")
