"""Prometheus text parsing: real /metrics payloads (recorded Go controller, live demo controller) and edge cases."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from profkit.formats.prometheus import parse_text

FIXTURE = Path(__file__).parent.parent / "fixtures" / "controller-metrics.txt"


@pytest.fixture(scope="module")
def demo_metrics_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Real /metrics output of the demo controller, scraped after it has reconciled for a moment."""
    tmp = tmp_path_factory.mktemp("demo-metrics")
    port_file = tmp / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "profkit.demo.controller", "--port", "0", "--port-file", str(port_file),
         "--log-file", str(tmp / "log.jsonl"), "--requeue-deleted", "--delete-every", "0.5",
         "--requeue-after", "0.2", "--max-lifetime", "60"],
    )
    try:
        deadline = time.time() + 20
        while not port_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert port_file.exists(), "demo controller did not start"
        time.sleep(2.0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port_file.read_text()}/metrics", timeout=10) as reply:
            return str(reply.read().decode())
    finally:
        proc.terminate()
        proc.wait(10)


def test_demo_controller_metrics_parse_completely(demo_metrics_text: str) -> None:
    parsed = parse_text(demo_metrics_text)
    assert parsed.malformed == []
    names = {name for name, _, _ in parsed.samples}
    for expected in ("controller_runtime_reconcile_total", "controller_runtime_active_workers",
                     "controller_runtime_max_concurrent_reconciles", "workqueue_depth", "workqueue_adds_total",
                     "workqueue_retries_total", "rest_client_requests_total", "process_cpu_seconds_total",
                     "process_resident_memory_bytes", "controller_runtime_reconcile_time_seconds_bucket"):
        assert expected in names, expected
    assert parsed.types["controller_runtime_reconcile_total"] == "counter"
    assert parsed.type_of("controller_runtime_reconcile_time_seconds_bucket") == "histogram"
    assert parsed.family_of("workqueue_queue_duration_seconds_count") == "workqueue_queue_duration_seconds"
    requeues = [v for n, labels, v in parsed.samples
                if n == "controller_runtime_reconcile_total" and labels == {"controller": "widget",
                                                                             "result": "requeue_after"}]
    assert requeues and requeues[0] > 0  # deleted objects are being requeued
    inf = [v for n, labels, v in parsed.samples
           if n == "controller_runtime_reconcile_time_seconds_bucket" and labels.get("le") == "+Inf"]
    count = [v for n, _, v in parsed.samples if n == "controller_runtime_reconcile_time_seconds_count"]
    assert inf == count


def test_recorded_go_controller_metrics() -> None:
    parsed = parse_text(FIXTURE.read_bytes())
    assert parsed.malformed == []
    names = {name for name, _, _ in parsed.samples}
    assert "controller_runtime_reconcile_total" in names
    assert "go_goroutines" in names
    assert parsed.types.get("go_gc_duration_seconds") == "summary"
    assert parsed.type_of("go_gc_duration_seconds_sum") == "summary"


def test_help_type_escapes_inf_nan_timestamps() -> None:
    text = "\n".join([
        "# HELP http_requests_total The total number of HTTP requests.",
        "# TYPE http_requests_total counter",
        'http_requests_total{method="post",code="200"} 1027 1395066363000',
        'http_requests_total{method="post",code="400"}    3 1395066363000',
        "# A normal comment",
        'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
        "metric_without_timestamp_and_labels 12.47",
        'something_weird{problem="division by zero"} +Inf -3982045',
        "not_a_number NaN",
        "negative_inf -Inf",
        "# TYPE latency histogram",
        'latency_bucket{le="0.05"} 24054',
        'latency_bucket{le="+Inf"} 144320',
        "latency_sum 53423",
        "latency_count 144320",
        'trailing_comma{a="b",} 1',
        'brace_in_value{a="}{"} 2',
        "",
    ])
    parsed = parse_text(text)
    assert parsed.malformed == []
    samples = {(n, tuple(sorted(l.items()))): v for n, l, v in parsed.samples}
    assert samples[("http_requests_total", (("code", "200"), ("method", "post")))] == 1027
    assert parsed.timestamps[0] == 1395066363.0
    path_labels = next(l for n, l, _ in parsed.samples if n == "msdos_file_access_time_seconds")
    assert path_labels == {"path": "C:\\DIR\\FILE.TXT", "error": 'Cannot find file:\n"FILE.TXT"'}
    assert math.isinf(samples[("something_weird", (("problem", "division by zero"),))])
    assert math.isnan(samples[("not_a_number", ())])
    assert samples[("negative_inf", ())] == -math.inf
    assert parsed.help["http_requests_total"] == "The total number of HTTP requests."
    assert parsed.type_of("latency_bucket") == "histogram"
    assert parsed.type_of("latency_count") == "histogram"
    assert parsed.type_of("metric_without_timestamp_and_labels") == "untyped"
    assert samples[("trailing_comma", (("a", "b"),))] == 1
    assert samples[("brace_in_value", (("a", "}{"),))] == 2


def test_malformed_lines_are_skipped_and_counted() -> None:
    text = "\n".join([
        "good 1",
        'bad_labels{a=b} 1',
        "bad_value abc",
        'unterminated{a="x 1',
        "too many fields 1 2 3",
        "# TYPE good flavour",
        "1starts_with_digit 1",
        "also_good 2",
    ])
    parsed = parse_text(text)
    assert [(n, v) for n, _, v in parsed.samples] == [("good", 1.0), ("also_good", 2.0)]
    assert [n for n, _ in parsed.malformed] == [2, 3, 4, 5, 6, 7]
    summary = parsed.error_summary()
    assert "line 2" in summary and "5 more" in summary


def test_binary_garbage_never_raises() -> None:
    parsed = parse_text(bytes(range(256)) * 4)
    assert parsed.samples == [] and parsed.malformed


def test_large_payload_is_read_whole() -> None:
    lines = [f'm_{i % 50}{{controller="c{i % 7}",result="r{i}"}} {i}.5' for i in range(50_000)]
    parsed = parse_text("\n".join(lines))
    assert len(parsed.samples) == 50_000 and parsed.malformed == []
    assert parsed.samples[-1] == ("m_49", {"controller": "c5", "result": "r49999"}, 49999.5)
