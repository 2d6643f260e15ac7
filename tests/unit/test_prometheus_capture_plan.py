"""capture --prometheus: which series each target's collector asks Prometheus for, and no /metrics scraper."""

from __future__ import annotations

from pathlib import Path

from profkit.bundle.writer import BundleWriter
from profkit.model import Target
from profkit.sources.base import CaptureOptions, Sink, TargetPlan
from profkit.sources.plan import EndpointSpec, endpoint_plan
from profkit.sources.prometheus import PrometheusClient
from profkit.sources.prometheus_capture import PrometheusCollector, PrometheusSource, add_prometheus_collectors


def _plans(sink: Sink, options: CaptureOptions) -> list[TargetPlan]:
    endpoint = endpoint_plan(sink, options, EndpointSpec("http://127.0.0.1:6060", "http://127.0.0.1:8080", "kcp"))
    deployment = TargetPlan(Target("capi", "deployment", {"deployment": "capi-controller-manager",
                                                          "namespace": "capi-system"}))
    pid = TargetPlan(Target("op", "pid", {"pids": [1]}))
    return [endpoint, deployment, pid]


def test_each_target_reads_its_own_series_and_nothing_scrapes_metrics(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b")
    sink = Sink(writer)
    options = CaptureOptions(scrape_metrics=False)
    plans = _plans(sink, options)
    assert [c.kind for c in plans[0].collectors] == ["pprof"]  # the endpoint's /metrics is not scraped
    add_prometheus_collectors(plans, sink, options, PrometheusSource(PrometheusClient("http://prom:9090/prometheus"),
                                                                     '{cluster="mgmt"}'))
    endpoint, deployment, pid = ([c for c in p.collectors if isinstance(c, PrometheusCollector)] for p in plans)
    assert [c.match for c in endpoint] == ['{instance=~"127\\\\.0\\\\.0\\\\.1:8080",cluster="mgmt"}']
    assert endpoint[0].instance_names == {"127.0.0.1:8080": "127.0.0.1:6060"}  # the series join the profiles
    assert [c.match for c in deployment] == [
        '{namespace="capi-system",pod=~"capi\\\\-controller\\\\-manager-[a-z0-9]+-[a-z0-9]+",cluster="mgmt"}']
    assert pid == []  # no metrics endpoint to find in Prometheus
    assert plans[0].target.spec["metrics_source"]["prometheus"] == "http://prom:9090/prometheus"
    writer.close()


def test_a_launched_command_s_endpoint_series_go_to_the_command_s_instance(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b")
    sink = Sink(writer)
    options = CaptureOptions(scrape_metrics=False)
    plans = _plans(sink, options)[:1]
    add_prometheus_collectors(plans, sink, options, PrometheusSource(PrometheusClient("http://prom:9090")),
                              {"kcp": "pid-4242"})
    (collector,) = [c for c in plans[0].collectors if isinstance(c, PrometheusCollector)]
    assert collector.instance_names == {"127.0.0.1:8080": "pid-4242"}
    assert collector.match == '{instance=~"127\\\\.0\\\\.0\\\\.1:8080"}'
    writer.close()
