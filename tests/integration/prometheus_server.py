"""A real Prometheus (Debian's prometheus package) on 127.0.0.1 with a temporary TSDB, for the Prometheus tests."""

from __future__ import annotations

import json
import re
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


def kubernetes_pod_scrape_config(job: str, api_server: str, ca_file: Path, cert_file: Path, key_file: Path,
                                 namespace: str, port_name: str, addresses: dict[str, str]) -> dict[str, Any]:
    """A scrape config that discovers pods through the API server (``kubernetes_sd_configs``, role pod), keeps
    their container port named ``port_name`` and labels the targets as kube-prometheus-stack's PodMonitors do
    (``namespace``, ``pod``, ``container``, ``endpoint``, ``job`` = NAMESPACE/NAME, ``instance`` = podIP:port).

    ``addresses`` maps ``podIP:port`` to where that pod's port is reached from here (a test harness's pod
    network, e.g. the e2e control plane's egress map): ``__address__`` is rewritten after discovery, the way
    a cluster's network would route it; a discovered pod that is not in it keeps its address and is down.
    """
    rewrite = [{"source_labels": ["__address__"], "regex": re.escape(pod_address), "target_label": "__address__",
                "replacement": local} for pod_address, local in sorted(addresses.items())]
    return {
        "job_name": f"podMonitor/{namespace}/{job}/0",
        "kubernetes_sd_configs": [{
            "role": "pod", "api_server": api_server, "namespaces": {"names": [namespace]},
            "tls_config": {"ca_file": str(ca_file), "cert_file": str(cert_file), "key_file": str(key_file)},
        }],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": port_name, "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Failed|Succeeded", "action": "drop"},
            {"source_labels": ["__address__"], "target_label": "instance"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"target_label": "endpoint", "replacement": port_name},
            {"target_label": "job", "replacement": f"{namespace}/{job}"},
            *rewrite,
        ],
    }


def start_prometheus(tmp: Path, scrape_configs: list[dict[str, Any]], interval: str = "1s",
                     binary: str | None = PROMETHEUS) -> PrometheusServer:
    """Start ``prometheus`` (Debian's unless ``binary``) with these scrape configs; returns once /-/ready answers."""
    assert binary is not None, "prometheus is not installed (scripts/test.sh installs Debian's package)"
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": interval, "evaluation_interval": interval},
                                      "scrape_configs": scrape_configs}))
    port = free_port()
    tsdb = tmp / "tsdb"
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
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
