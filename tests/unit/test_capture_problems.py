"""What a capture got nothing from: a silent target, a kind of data that only failed, a crashed collector."""

from __future__ import annotations

from pathlib import Path

from profkit.bundle import BundleWriter
from profkit.model import Target
from profkit.sources.base import CaptureOptions, Collector, Sink, TargetPlan
from profkit.sources.http import HttpFetcher
from profkit.sources.metrics import MetricsCollector
from profkit.sources.pprof import PprofCollector
from profkit.sources.session import source_problems


def _collectors(tmp_path: Path) -> tuple[Sink, CaptureOptions]:
    return Sink(BundleWriter(tmp_path / "bundle")), CaptureOptions()


def _failed(collector: Collector, errors: int, last: str) -> Collector:
    collector.stats.errors, collector.stats.last_error = errors, last
    return collector


def test_a_target_that_gave_nothing_is_named_with_its_last_error(tmp_path: Path) -> None:
    sink, options = _collectors(tmp_path)
    metrics = _failed(MetricsCollector(sink, "dead", "127.0.0.1:59999", options, HttpFetcher("http://127.0.0.1:59999")),
                      12, "scrape: connection refused")
    (problem,) = source_problems([TargetPlan(Target("dead", "endpoint"), [metrics])], {})
    assert (problem.target, problem.kind) == ("dead", "target")
    assert problem.message == "no data from target dead (last error: scrape: connection refused)"


def test_a_kind_of_data_that_only_failed_is_named_but_one_pod_of_many_is_not(tmp_path: Path) -> None:
    sink, options = _collectors(tmp_path)
    fetch = HttpFetcher("http://127.0.0.1:6060")
    scraped = MetricsCollector(sink, "kcp", "pod-a", options, fetch)
    scraped.stats.scrapes, scraped.stats.points = 10, 500
    broken = _failed(PprofCollector(sink, "kcp", "pod-a", options, fetch), 3, "HTTP 404")
    (problem,) = source_problems([TargetPlan(Target("kcp", "deployment"), [scraped, broken])], {})
    assert (problem.target, problem.kind) == ("kcp", "pprof") and "HTTP 404" in problem.message
    # A second pod whose profiles arrived (a rollout replaced the first): pprof data exists, nothing to say.
    fine = PprofCollector(sink, "kcp", "pod-b", options, fetch)
    fine.stats.profiles = 4
    assert source_problems([TargetPlan(Target("kcp", "deployment"), [scraped, broken, fine])], {}) == []


def test_a_collector_that_crashed_is_a_problem_even_after_it_stored_data(tmp_path: Path) -> None:
    sink, options = _collectors(tmp_path)
    metrics = MetricsCollector(sink, "kcp", "127.0.0.1:8080", options, HttpFetcher("http://127.0.0.1:8080"))
    metrics.stats.scrapes, metrics.stats.points = 1, 226
    (problem,) = source_problems([TargetPlan(Target("kcp", "endpoint"), [metrics])],
                                 {id(metrics): "IntegrityError: NOT NULL constraint failed: points.value"})
    assert problem.kind == "stopped"
    assert problem.message.endswith("stopped during the capture: IntegrityError: NOT NULL constraint failed: "
                                    "points.value")
