"""``capture --prometheus``: the captured targets' metrics read from the team's Prometheus as the capture runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Sequence

from profkit.errors import BadInput
from profkit.sources.base import CaptureOptions, Collector, Sink, TargetPlan
from profkit.sources.http import host_port
from profkit.sources.prometheus import PrometheusClient, SeriesReader, metric_types, regex_alternatives, selector

POLL = 5.0  # seconds between reads of what Prometheus gathered
LAG = 10.0  # mid-capture, read only samples this old: a scrape stamped at its start lands when it ends
FINAL_WAIT = 2.0  # at the end, the last scrapes of the capture's window get this long to land
CHECK_WINDOW = 300.0


@dataclass
class PrometheusSource:
    """The Prometheus a capture reads metrics from, and ``--prometheus-selector`` matchers for every target."""

    client: PrometheusClient
    extra: str | None = None

    def check(self) -> None:
        """At start-up, before a bundle exists: reachable, the credentials accepted, the selector valid PromQL."""
        now = time.time()
        self.client.query("vector(1)", now)
        if self.extra:
            self.client.series(selector(None, None, self.extra), now - CHECK_WINDOW, now)

    def match_for(self, plan: TargetPlan, instance_names: dict[str, str]) -> str | None:
        """PromQL matchers for a target's series: a Deployment's pods, or the ``instance`` label of each
        ``--endpoint``'s metrics address (``instance_names`` then maps it to the capture's instance)."""
        spec = plan.target.spec
        if plan.target.kind == "deployment" and spec.get("deployment"):
            return selector(str(spec["deployment"]), spec.get("namespace"), self.extra)
        addresses: list[str] = []
        for endpoint in spec.get("endpoints") or []:
            url = endpoint.get("metrics") if isinstance(endpoint, dict) else None
            if url:
                addresses.append(host_port(url))
                instance_names.setdefault(host_port(url), str(endpoint.get("instance") or host_port(url)))
        if not addresses:
            return None  # a --pid or --log-file target has no metrics endpoint to find in Prometheus
        alternatives = regex_alternatives(addresses)
        extra = self.extra.strip().strip("{}").strip() if self.extra else ""
        return "{" + f'instance=~"{alternatives}"' + (f",{extra}" if extra else "") + "}"


class PrometheusCollector(Collector):
    """Reads a target's series from Prometheus over the capture window, every POLL seconds, into the bundle.

    What was read stays in the bundle: a failed read is an error event and is retried from where the
    last good one ended, so a Prometheus that goes away mid-capture loses only what it never answered.
    """

    kind = "metrics"

    def __init__(self, sink: Sink, target: str, options: CaptureOptions, client: PrometheusClient, match: str,
                 instance_names: dict[str, str]) -> None:
        super().__init__(sink, target, "prometheus", options)
        self.client = client
        self.match = match
        self.instance_names = instance_names
        self.step = max(0.5, options.scrape_interval)  # at or under the scrape interval: every sample seen
        self.reader: SeriesReader | None = None
        self.types: dict[str, str] = {}
        self._typed: set[str] = set()  # metric names the types were looked up for

    def describe(self) -> str:
        return f"metrics {self.client.url} {self.match}"

    def _reader(self) -> SeriesReader:
        if self.reader is None:
            start = self.options.started or time.time()
            self.reader = SeriesReader(self.client, self.target, self.match, start, self.step,
                                       rename=lambda name: self.instance_names.get(name, name))
        return self.reader

    def read(self, until: float) -> bool:
        """Everything from where the last read ended up to ``until``; False (an error recorded) when it failed."""
        reader = self._reader()
        begin = reader.start if reader.read_until is None else reader.read_until
        if until <= begin:
            return True
        try:
            found = self.client.series(self.match, begin, until)
            reader.learn(found)
            reader.series_count = max(len(found), reader.series_count)
            for start, end in reader.slices(until):
                stored = reader.write(self.sink, reader.read(start, end))
                self.stats.points += stored
                self.stats.scrapes += 1 if stored else 0
                pods = [str(i["labels"]["pod"]) for i in reader.instances.values() if i["labels"].get("pod")]
                namespaces = [str(i["labels"]["namespace"]) for i in reader.instances.values()
                              if i["labels"].get("namespace")]
                reader.kube_state(start, end, pods, namespaces)
            self._touch(reader)
        except BadInput as exc:
            self.error(f"Prometheus: {exc}")
            return False
        self.answered = True
        return True

    def _touch(self, reader: SeriesReader) -> None:
        if reader.names - self._typed:
            self._typed = set(reader.names)
            self.types.update(metric_types(self.client, reader.names))
        for instance in reader.instances:
            self.sink.touch_instance(self.target, instance, {"metric_types": dict(self.types), "source": "prometheus"})

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(POLL):
            self.read(time.time() - LAG)
        ended = time.time()
        self.expected_done = ended + FINAL_WAIT + 2.0
        time.sleep(FINAL_WAIT)
        self.read(ended)
        reader = self._reader()
        for event in reader.kube_state_result():
            self.sink.add_event(event)
        if not reader.keys and not self.stats.errors:
            self.error(f"Prometheus {self.client.url}: no series match {self.match} during the capture "
                       "(is it scraping this target? check the labels there, or --prometheus-selector)")


def add_prometheus_collectors(plans: Sequence[TargetPlan], sink: Sink, options: CaptureOptions,
                              source: PrometheusSource, renamed: dict[str, str] | None = None) -> None:
    """A PrometheusCollector for every target Prometheus can hold metrics of; ``renamed``: target name ->
    the instance its endpoints' data goes to (a launched command's)."""
    for plan in plans:
        names: dict[str, str] = {}
        match = source.match_for(plan, names)
        if match is None:
            continue
        if renamed and plan.target.name in renamed:
            names = {address: renamed[plan.target.name] for address in names}
        plan.target.spec["metrics_source"] = {"prometheus": source.client.url, "selector": match}
        plan.collectors.append(PrometheusCollector(sink, plan.target.name, options, source.client, match, names))
