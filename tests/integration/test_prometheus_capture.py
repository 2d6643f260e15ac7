"""profkit capture --prometheus against a real Prometheus scraping a real Go process: the bundle's series are the
samples Prometheus holds, profkit fetched only profiles from the process, analyze works on the bundle, bad
--prometheus input is one line and exit 2 before anything is captured, and a Prometheus lost mid-capture loses
nothing already read."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from profkit.bundle import open_bundle
from profkit.sources.prometheus import SCRAPE_SERIES, own_labels
from tests.integration.capture_helpers import RequestLog, profkit, profkit_popen, start_go_keygen_server, stop
from tests.integration.prometheus_server import PROMETHEUS, PrometheusServer, free_port, start_prometheus

pytestmark = [pytest.mark.go, pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain"),
              pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (scripts/test.sh installs it)")]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, RequestLog]]:
    """The Go keygen server behind a request log, scraped every second by a real Prometheus through it."""
    tmp = tmp_path_factory.mktemp("promcap")
    url, proc = start_go_keygen_server(tmp, "--keygen")
    log = RequestLog(url)
    server = start_prometheus(tmp, [{"job_name": "keygen", "static_configs": [{"targets": [log.address]}]}])
    try:
        server.wait_for_samples('up{job="keygen"}', 2)
        yield server, log
    finally:
        server.stop()
        log.close()
        stop(proc)


def _stored(server: PrometheusServer, instance: str, start: float, end: float) -> dict[tuple[str, str], list[float]]:
    """Every raw sample Prometheus holds for the instance in [start, end]: a range vector, not profkit's reader."""
    window = int(end - start) + 2
    query = urllib.parse.quote(f'{{instance="{instance}"}}[{window}s]')
    result = server.api(f"/api/v1/query?query={query}&time={end:.3f}")["result"]
    out: dict[tuple[str, str], list[float]] = {}
    for item in result:
        labels = dict(item["metric"])
        name = labels.pop("__name__")
        if name in SCRAPE_SERIES:
            continue
        key = (name, json.dumps(own_labels(labels), sort_keys=True))
        out[key] = [round(float(t), 3) for t, _ in item["values"] if start - 1e-6 <= float(t) <= end + 1e-6]
    return {k: v for k, v in out.items() if v}


def test_capture_reads_metrics_from_prometheus_and_only_profiles_from_the_process(
        scraped: tuple[PrometheusServer, RequestLog], tmp_path: Path) -> None:
    server, log = scraped
    before = len(log.requests)
    out = tmp_path / "run"
    result = profkit("capture", "--prometheus", server.url, "--endpoint", f"http://{log.address},name=keygen",
                     "--duration", "20s", "--profile-window", "8s", "--scrape-interval", "0.5s", "--out", str(out),
                     timeout=180)
    assert result.returncode == 0, result.stderr
    during = log.requests[before:]
    profkit_paths = {path for path, agent in during if agent == "profkit"}
    assert profkit_paths and all(p.startswith("/debug/pprof/") for p in profkit_paths), profkit_paths
    assert any(path == "/metrics" and agent.startswith("Prometheus/") for path, agent in during)

    view = open_bundle(out)
    assert view.status == "complete" and view.meta["metrics_source"] == "prometheus"
    assert [i["instance"] for i in view.instances()] == [log.address]  # profiles and series on one instance
    assert view.profile_refs(kind="cpu")
    start, end = view.time_range()
    mine = {(s.name, json.dumps(s.labels, sort_keys=True)): [round(t, 3) for t, _ in s.points]
            for s in view.series() if s.instance == log.address}
    theirs = _stored(server, log.address, float(view.meta["capture_started"]), end)
    assert len(theirs) > 50 and mine.keys() == theirs.keys(), mine.keys() ^ theirs.keys()
    for key, stamps in theirs.items():
        # every sample Prometheus stored in the window, at its own timestamp; the last scrapes of the window
        # may land after profkit's last read
        assert mine[key] == stamps[:len(mine[key])] and len(mine[key]) >= len(stamps) - 3, key
    values = {(s.name, json.dumps(s.labels, sort_keys=True)): s.values for s in view.series()}
    stored = server.api("/api/v1/query?query=" + urllib.parse.quote(
        f'go_goroutines{{instance="{log.address}"}}[60s]') + f"&time={end:.3f}")["result"][0]["values"]
    by_time = {round(float(t), 3): float(v) for t, v in stored}
    goroutines = mine[("go_goroutines", "{}")]
    assert [by_time[t] for t in goroutines] == values[("go_goroutines", "{}")]

    analyzed = profkit("analyze", str(out), "--json", timeout=180)
    assert analyzed.returncode in (0, 1), analyzed.stderr
    ids = {f["id"] for f in json.loads(analyzed.stdout)["findings"]}
    assert "no-data" not in ids and "repeated-key-generation" in ids, ids


@pytest.mark.parametrize("args, needle", [
    (["--prometheus", "ftp://prometheus:9090"], "ftp://prometheus:9090: not an http(s) URL"),
    (["--prometheus", "UNREACHABLE"], "unreachable ("),
    (["--prometheus", "PROM", "--prometheus-selector", '{job=~"("}'], "bad_data: "),
    (["--prometheus", "PROM", "--prometheus-token-file", "/nonexistent/token"], "--prometheus-token-file"),
    (["--prometheus-selector", '{job="x"}'], "only with --prometheus URL"),
])
def test_bad_prometheus_input_is_one_line_exit_2_before_capturing(scraped: tuple[PrometheusServer, RequestLog],
                                                                  tmp_path: Path, args: list[str],
                                                                  needle: str) -> None:
    server, log = scraped
    given = [a.replace("UNREACHABLE", f"http://127.0.0.1:{free_port()}").replace("PROM", server.url) for a in args]
    result = profkit("capture", *given, "--endpoint", f"http://{log.address}", "--duration", "5s",
                     "--out", str(tmp_path / "b"), timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert needle in lines[0], result.stderr
    assert not (tmp_path / "b").exists()


def test_a_prometheus_lost_mid_capture_loses_nothing_already_read(scraped: tuple[PrometheusServer, RequestLog],
                                                                   tmp_path: Path) -> None:
    _, log = scraped
    own = start_prometheus(tmp_path, [{"job_name": "keygen", "static_configs": [{"targets": [log.address]}]}])
    try:
        own.wait_for_samples('up{job="keygen"}', 2)
        out = tmp_path / "run"
        capture = profkit_popen("capture", "--prometheus", own.url, "--endpoint", f"http://{log.address}",
                                "--duration", "30s", "--profile-window", "5s", "--scrape-interval", "1s",
                                "--out", str(out))
        deadline = time.time() + 60
        while time.time() < deadline and not _points(out):
            time.sleep(0.5)  # the first read of what Prometheus gathered (polled every 5 s, 10 s behind)
        read = _points(out)
        assert read > 0
        own.stop()
        _, stderr = capture.communicate(timeout=120)
    finally:
        own.stop()
    assert capture.returncode in (0, 3), stderr  # the metrics read before the loss are data: 0
    view = open_bundle(out)
    assert view.status == "complete"
    assert sum(len(s.points) for s in view.series()) >= read
    assert view.profile_refs(kind="cpu")
    errors = [e.message for e in view.events("error")]
    assert any("Prometheus: " in m and "unreachable (" in m for m in errors), errors


def _points(out: Path) -> int:
    import sqlite3

    if not (out / "profkit.db").exists():
        return 0
    try:
        with sqlite3.connect(f"file:{out / 'profkit.db'}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM points").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_generated_selectors_parse_on_the_real_prometheus(scraped: tuple[PrometheusServer, RequestLog]) -> None:
    from profkit.sources.prometheus import PrometheusClient, selector

    server, log = scraped
    client = PrometheusClient(server.url)
    now = time.time()
    assert client.series(selector("capi-controller-manager", "capi-system", '{job="x.y"}'), now - 60, now) == []
    source_match = '{instance=~"' + log.address.replace(".", "\\\\.") + '"}'
    assert client.series(source_match, now - 60, now)  # the --endpoint match finds the scraped process
