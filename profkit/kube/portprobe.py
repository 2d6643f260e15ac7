"""A pod port not named for metrics is scraped only after one GET /metrics answered Prometheus text."""

from __future__ import annotations

import threading
from typing import Sequence

from profkit.formats.prometheus import parse_text
from profkit.kube.endpoints import PodEndpoint
from profkit.sources.base import CaptureOptions, Sink
from profkit.sources.http import Fetcher, FetchError
from profkit.sources.metrics import MetricsCollector

PROBE_TIMEOUT = 10.0
RETRY = 1.0  # seconds between probes of a port that does not answer yet (the pod is starting)


def is_prometheus_text(body: bytes) -> bool:
    """Samples or TYPE lines and more good lines than bad: an HTML page or a JSON health answer is not."""
    parsed = parse_text(body)
    good = len(parsed.samples) + len(parsed.types)
    return good > 0 and good >= len(parsed.malformed)


class ProbedMetricsCollector(MetricsCollector):
    """Probes candidate ports in order; scrapes the first that serves Prometheus text, says which it skipped."""

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions,
                 candidates: Sequence[tuple[PodEndpoint, Fetcher]]) -> None:
        first_endpoint, first_fetcher = candidates[0]
        super().__init__(sink, target, instance, options, first_fetcher, first_endpoint.path)
        self.candidates = list(candidates)
        self.chosen: PodEndpoint | None = None

    def choose(self, stop: threading.Event) -> PodEndpoint | None:
        """The first candidate whose /metrics is Prometheus text; ports that never answer are retried during grace."""
        pending = list(self.candidates)
        while pending and not stop.is_set():
            for endpoint, fetcher in list(pending):
                try:
                    body = fetcher.fetch(endpoint.path, PROBE_TIMEOUT)
                except FetchError as exc:
                    if (exc.status is None or exc.status >= 500) and self.in_grace():
                        continue  # not listening yet (the API server's proxy says 502/503 meanwhile)
                    self.skipped(endpoint, f"GET {endpoint.path} failed ({exc})")
                    pending.remove((endpoint, fetcher))
                    continue
                if is_prometheus_text(body):
                    self.fetcher, self.path, self.chosen = fetcher, endpoint.path, endpoint
                    self.info(f"port {endpoint.label} serves Prometheus metrics at {endpoint.path}: scraping it")
                    return endpoint
                self.skipped(endpoint, f"GET {endpoint.path} is not Prometheus text")
                pending.remove((endpoint, fetcher))
            if pending:
                stop.wait(RETRY)
        return None

    def skipped(self, endpoint: PodEndpoint, why: str) -> None:
        """Said once per pod and port, in the bundle's events and the capture summary."""
        self.info(f"port {endpoint.label} skipped: {why}")
        self.stats.notes.append(f"{self.instance}: port {endpoint.label} not scraped: {why}")

    def run(self, stop: threading.Event) -> None:
        if self.choose(stop) is None:
            if not stop.is_set():
                self.info("no port of this pod serves Prometheus metrics: no metrics scraped")
            return
        super().run(stop)
