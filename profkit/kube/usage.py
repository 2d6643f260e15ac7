"""Pod CPU and memory from metrics.k8s.io (when the API is served), as series per pod of a Deployment."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from profkit.kube.client import KubeAccess
from profkit.kube.errors import Forbidden, Unreachable, api_call
from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.model.metric_names import CONTAINER_MEMORY_WORKING_SET

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
CPU_SERIES = "container_cpu_usage_cores"
MEMORY_SERIES = CONTAINER_MEMORY_WORKING_SET
#: What the bundle says when metrics.k8s.io is absent: the controllers' own process metrics stand in.
FALLBACK_SOURCE = "metrics: process_cpu_seconds_total, process_resident_memory_bytes (metrics.k8s.io not served)"
SOURCE = f"{GROUP}: {CPU_SERIES}, {MEMORY_SERIES}"
MIN_INTERVAL = 10.0  # metrics-server's own resolution is 15 s; asking more often returns the same window


def metrics_api_served(access: KubeAccess) -> bool:
    """Whether the API server serves metrics.k8s.io (an aggregated API: metrics-server or an adapter)."""
    from kubernetes import client

    try:
        groups = client.ApisApi(access.api).get_api_versions(_request_timeout=10)
    except Exception:  # noqa: BLE001 - treated as absent; the caller reports the fallback
        return False
    return any(g.name == GROUP for g in groups.groups or [])


def pod_samples(item: dict[str, Any], container: str | None) -> list[tuple[str, dict[str, str], float]]:
    """Samples of one PodMetrics item: per container of interest, CPU cores and working-set bytes."""
    from kubernetes import utils

    parse_quantity: Any = getattr(utils, "parse_quantity")  # untyped

    out: list[tuple[str, dict[str, str], float]] = []
    for entry in item.get("containers") or []:
        name = str(entry.get("name") or "")
        if container and name != container:
            continue
        usage = entry.get("usage") or {}
        labels = {"container": name, "source": GROUP}
        if "cpu" in usage:
            out.append((CPU_SERIES, labels, float(parse_quantity(usage["cpu"]))))
        if "memory" in usage:
            out.append((MEMORY_SERIES, labels, float(parse_quantity(usage["memory"]))))
    return out


class PodUsageCollector(Collector):
    """Lists PodMetrics for the Deployment's selector every interval; one instance per pod."""

    kind = "usage"

    def __init__(self, sink: Sink, target: str, options: CaptureOptions, access: KubeAccess, namespace: str,
                 selector: str, container: str | None) -> None:
        super().__init__(sink, target, "", options)
        self.access = access
        self.namespace, self.selector, self.container = namespace, selector, container

    def describe(self) -> str:
        return f"usage {GROUP} {self.namespace} {self.selector}"

    def sample(self) -> int:
        from kubernetes import client

        api = client.CustomObjectsApi(self.access.api)
        with api_call("list", f"pods.{GROUP}", self.namespace, server=self.access.server):
            data = cast(dict[str, Any], api.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "pods", label_selector=self.selector, _request_timeout=15))
        stored = 0
        for item in data.get("items") or []:
            pod = str((item.get("metadata") or {}).get("name") or "")
            samples = pod_samples(item, self.container)
            if pod and samples:
                stored += self.sink.add_points(self.target, pod, time.time(), samples)
        return stored

    def run(self, stop: threading.Event) -> None:
        interval = max(self.options.scrape_interval, MIN_INTERVAL)
        while not stop.is_set():
            started = time.time()
            try:
                self.stats.points += self.sample()
                self.stats.scrapes += 1
                self.answered = True
                self.access.health.ok()
            except Unreachable as exc:
                self.access.health.failed(exc.reason)
            except Forbidden as exc:
                self.error(str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - any other answer: reported, sampled again next interval
                self.error(f"{GROUP}: {exc}")
            stop.wait(max(0.5, interval - (time.time() - started)))
