"""profkit import prometheus against a real Prometheus that scraped the demo controller: the bundle agrees with a
direct profkit capture of the same process over the same window, analyze works on it, and every bad input is one
line, exit 2, with no bundle left behind."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import urllib.error
from typing import Iterator

import pytest

from profkit.bundle import open_bundle
from profkit.model import Series
from tests.integration.capture_helpers import profkit, start_demo_controller, stop
from tests.integration.prometheus_server import PROMETHEUS, PrometheusServer, free_port, start_prometheus

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (scripts/test.sh installs it)")
SLACK = 0.05  # seconds between a scrape's start (its timestamp) and the moment the process wrote the value
SCRAPES = 20


@pytest.fixture(scope="module")
def scraped_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, Path, str]]:
    """The demo controller, scraped every second by Prometheus and by a direct profkit capture at the same time."""
    tmp = tmp_path_factory.mktemp("prom")
    demo = start_demo_controller(tmp, "--objects", "20", "--workers", "2")
    targets = [{"targets": [f"127.0.0.1:{demo.port}"]}]
    server = start_prometheus(tmp, [{"job_name": "demo", "static_configs": targets},
                                    {"job_name": "demo-again", "static_configs": targets}])  # one process, two jobs
    try:
        server.wait_for_samples('up{job="demo"}', 2)  # Prometheus scrapes before the capture starts
        direct = tmp / "direct"
        result = profkit("capture", "--out", str(direct), "--endpoint", f"{demo.url}/metrics",
                         "--duration", f"{SCRAPES}s", "--scrape-interval", "1s", timeout=180)
        assert result.returncode == 0, result.stderr
        server.wait_for_samples('up{job="demo"}', SCRAPES + 2)
        yield server, direct, f"127.0.0.1:{demo.port}"
    finally:
        stop(demo.proc)
        server.stop()


def _by_key(series: list[Series]) -> dict[tuple[str, str], Series]:
    return {(s.name, s.label_text()): s for s in series}


def test_import_agrees_with_a_direct_capture_of_the_same_window(scraped_run: tuple[PrometheusServer, Path, str],
                                                                 tmp_path: Path) -> None:
    server, direct_dir, target = scraped_run
    direct = open_bundle(direct_dir)
    start, end = direct.time_range()
    out = tmp_path / "imported"
    result = profkit("import", "prometheus", server.url, "--selector", '{job="demo"}', "--start", repr(start),
                     "--end", repr(end), "--name", target, "--out", str(out), timeout=180)
    assert result.returncode == 0, result.stderr
    imported = open_bundle(out)
    assert imported.status == "complete"
    assert [t.name for t in imported.targets()] == [target]
    assert [i["instance"] for i in imported.instances()] == [target]  # Prometheus' instance label
    mine, theirs = _by_key(direct.series()), _by_key(imported.series())
    assert set(mine) == set(theirs), (set(mine) ^ set(theirs))
    compared = 0
    for key, d in mine.items():
        p = theirs[key]
        assert abs(len(p.points) - len(d.points)) <= max(3, len(d.points) // 5), key  # both scraped every second
        assert all(start - 1 <= t <= end + 1 for t, _ in p.points), key
        if d.name.endswith("_total") or d.name.endswith(("_count", "_sum", "_bucket")):
            # A counter Prometheus read at t lies between what profkit read just before and just after t.
            for t, value in p.points:
                before = [v for ts, v in d.points if ts <= t - SLACK]
                after = [v for ts, v in d.points if ts >= t + SLACK]
                if before and after:
                    assert before[-1] <= value <= after[0], (key, t, before[-1], value, after[0])
                    compared += 1
        elif d.name == "controller_runtime_max_concurrent_reconciles":
            assert p.values == [2.0] * len(p.points)
        else:  # gauges: the two scrapers saw the same range of values
            assert min(p.values) <= max(d.values) * 1.25 + 1 and max(p.values) >= min(d.values) * 0.75 - 1, key
    assert compared >= 200  # reconcile counts, workqueue adds, histograms, ... at every second
    # the families' TYPEs, as the process declared them (Prometheus' metadata API), not guessed from the names
    declared = direct.instances()[0]["info"]["metric_types"]
    types = imported.instances()[0]["info"]["metric_types"]
    assert types and types == {family: declared[family] for family in types}, (types, declared)
    assert types.get("controller_runtime_reconcile_time_seconds") == "histogram", types
    analyzed = profkit("analyze", str(out), "--json", timeout=180)
    assert analyzed.returncode == 0, analyzed.stderr
    found = json.loads(analyzed.stdout)
    baseline = json.loads(profkit("analyze", str(direct_dir), "--json", timeout=180).stdout)
    metric_ids = {"concurrency-saturation", "reconcile-errors", "slow-reconcile", "client-side-throttling"}

    def ids(doc: object) -> set[tuple[str, str]]:
        findings = doc["findings"] if isinstance(doc, dict) else doc
        return {(f["id"], f["severity"]) for f in findings if f["id"] in metric_ids}

    assert ids(found) == ids(baseline)
    report = profkit("report", str(out), "-o", str(tmp_path / "report.html"), timeout=300)
    assert report.returncode == 0 and (tmp_path / "report.html").stat().st_size > 10_000, report.stderr


def test_import_by_deployment_needs_its_pod_labels(scraped_run: tuple[PrometheusServer, Path, str],
                                                   tmp_path: Path) -> None:
    server, _, _ = scraped_run
    result = profkit("import", "prometheus", server.url, "--deployment", "demo", "-n", "default", "--since", "5m",
                     "--out", str(tmp_path / "b"), timeout=120)
    assert result.returncode == 2
    assert 'no series match {namespace="default",pod=~"demo-[a-z0-9]+-[a-z0-9]+"}' in result.stderr
    assert not (tmp_path / "b").exists()


class _Answer(BaseHTTPRequestHandler):
    """A local HTTP server answering as a failing Prometheus (or the proxy in front of one) does."""

    answers: dict[str, tuple[int, bytes]] = {}

    def _reply(self) -> None:
        path = self.path.split("?")[0]
        status, body = self.answers.get(path, self.answers.get("*", (404, b"404 page not found\n")))
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: object) -> None:
        pass


def _error_line(stderr: str, needle: str) -> bool:
    """The error is the last line, one line, after at most the progress line ("N series match ...")."""
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and 1 <= len(lines) <= 2, stderr
    assert len(lines) == 1 or " series match " in lines[0], stderr
    assert needle in lines[-1], stderr
    return True


def _serve(answers: dict[str, tuple[int, bytes]]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Answer,), {"answers": answers}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


SERIES_OK = (200, json.dumps({"status": "success", "data": [{"__name__": "go_goroutines", "job": "x"}]}).encode())


@pytest.mark.parametrize("case, answers, needle", [
    ("401", {"*": (401, b"Unauthorized\n")}, "HTTP 401 Unauthorized"),
    ("403", {"*": (403, b"forbidden\n")}, "HTTP 403 Forbidden"),
    ("503 mid-import", {"/api/v1/series": SERIES_OK, "*": (  # the samples' read (query, query_range) refused
        503, b'{"status":"error","errorType":"unavailable","error":"too many queries"}')},
     "unavailable: too many queries (HTTP 503)"),
    ("not prometheus", {"*": (200, b"<html>grafana</html>")}, "not a Prometheus API answer"),
])
def test_http_errors_are_one_line_exit_2_and_leave_no_bundle(tmp_path: Path, case: str,
                                                             answers: dict[str, tuple[int, bytes]],
                                                             needle: str) -> None:
    server, url = _serve(answers)
    try:
        result = profkit("import", "prometheus", url, "--selector", '{job="x"}', "--since", "10m",
                         "--out", str(tmp_path / "b"), timeout=60)
    finally:
        server.shutdown()
    assert result.returncode == 2, result.stderr
    assert _error_line(result.stderr, needle)
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor a staging directory


def test_bad_queries_and_ranges_against_the_real_prometheus(scraped_run: tuple[PrometheusServer, Path, str],
                                                            tmp_path: Path) -> None:
    server, _, _ = scraped_run
    cases = [
        (["--selector", '{job=~"("}', "--since", "5m"], "bad_data: "),
        (["--selector", '{job="demo"}', "--start", "1700000000", "--end", "1700000000"], "the range is empty"),
        (["--selector", '{job="demo"}', "--start", "2001-01-01T00:00:00Z", "--end", "2001-01-01T02:00:00Z"],
         "has no samples between 2001-01-01T00:00:00Z and 2001-01-01T02:00:00Z (beyond retention or the wrong range?; "
         "retention is 1d)"),
        (["--selector", '{job="nope"}', "--since", "5m"], 'no series match {job="nope"}'),
    ]
    for args, needle in cases:
        result = profkit("import", "prometheus", server.url, *args, "--out", str(tmp_path / "b"), timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert _error_line(result.stderr, needle), args
        assert list(tmp_path.iterdir()) == []
    unreachable = profkit("import", "prometheus", f"http://127.0.0.1:{free_port()}", "--selector", '{job="demo"}',
                          "--since", "5m", "--out", str(tmp_path / "b"), timeout=60)
    assert unreachable.returncode == 2 and "unreachable (" in unreachable.stderr, unreachable.stderr
    assert list(tmp_path.iterdir()) == []


def _auth_proxy(upstream: str, prefix: str, accepted: set[str]) -> tuple[ThreadingHTTPServer, str]:
    """A reverse proxy in front of the real Prometheus, like Mimir's gateway: a path prefix and an auth check."""
    import urllib.request

    class Proxy(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if self.headers.get("Authorization") not in accepted:
                self.send_response(401)
                self.end_headers()
                return
            if not self.path.startswith(prefix + "/"):
                self.send_response(404)
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            request = urllib.request.Request(upstream + self.path[len(prefix):], data=body, method=self.command,
                                             headers={"Content-Type": self.headers.get("Content-Type", "")})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, data = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, data = exc.code, exc.read()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{prefix}"


def test_bearer_token_basic_auth_and_path_prefix(scraped_run: tuple[PrometheusServer, Path, str],
                                                 tmp_path: Path) -> None:
    import base64

    server, direct_dir, _ = scraped_run
    start, end = open_bundle(direct_dir).time_range()
    basic = "Basic " + base64.b64encode(b"team:pa55").decode()
    proxy, url = _auth_proxy(server.url, "/prometheus", {"Bearer s3cret", basic})
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    window = ["--selector", '{job="demo"}', "--start", repr(start), "--end", repr(end)]
    try:
        with_token = profkit("import", "prometheus", url, *window, "--token-file", str(token_file),
                             "--out", str(tmp_path / "token-run"), timeout=120)
        with_password = profkit("import", "prometheus", url, *window, "--user", "team",
                                "--out", str(tmp_path / "basic-run"), timeout=120,
                                env_extra={"PROFKIT_PROMETHEUS_PASSWORD": "pa55"})
        wrong = profkit("import", "prometheus", url, *window, "--token", "nope", "--out", str(tmp_path / "no"),
                        timeout=120)
    finally:
        proxy.shutdown()
    assert with_token.returncode == 0, with_token.stderr
    assert with_password.returncode == 0, with_password.stderr
    assert _error_line(wrong.stderr, "HTTP 401 Unauthorized (the token was refused)") and wrong.returncode == 2
    assert not (tmp_path / "no").exists()
    a, b = open_bundle(tmp_path / "token-run"), open_bundle(tmp_path / "basic-run")
    assert _by_key(a.series()).keys() == _by_key(b.series()).keys() != set()
    assert "s3cret" not in json.dumps(a.meta) and "pa55" not in json.dumps(b.meta)


def test_range_queries_are_chunked_under_the_points_limit(scraped_run: tuple[PrometheusServer, Path, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from profkit.sources import prometheus as source

    server, direct_dir, _ = scraped_run
    start, end = open_bundle(direct_dir).time_range()
    client = source.PrometheusClient(server.url)
    whole = client.query_range('{job="demo",__name__=~"workqueue_.*"}', start, end, 0.5)
    calls: list[str] = []
    original = client.get
    monkeypatch.setattr(client, "get", lambda path, params: calls.append(path) or original(path, params))
    monkeypatch.setattr(source, "CHUNK_STEPS", 7)
    chunked = client.query_range('{job="demo",__name__=~"workqueue_.*"}', start, end, 0.5)
    assert len(calls) == -(-int((end - start) / 0.5 + 1) // 7) >= 5
    assert chunked == whole and len(next(iter(whole.values()))) > 7
    assert source.choose_step(2 * 3600) == 4.0 and source.choose_step(60) == 1.0 and source.choose_step(86400) == 15.0
    assert (end - start) / source.choose_step(end - start) < source.MAX_POINTS_PER_SERIES


def test_two_scrape_targets_of_one_process_stay_apart(scraped_run: tuple[PrometheusServer, Path, str],
                                                      tmp_path: Path) -> None:
    server, direct_dir, target = scraped_run
    start, end = open_bundle(direct_dir).time_range()
    result = profkit("import", "prometheus", server.url, "--selector", '{job=~"demo|demo-again"}', "--start",
                     repr(start), "--end", repr(end), "--name", "demo", "--out", str(tmp_path / "b"), timeout=180)
    assert result.returncode == 0, result.stderr
    view = open_bundle(tmp_path / "b")
    instances = sorted(i["instance"] for i in view.instances())
    assert instances == [f"{target}/demo", f"{target}/demo-again"]
    first, second = (_by_key(view.series(instance=i)) for i in instances)
    assert first.keys() == second.keys() and len(first) > 50
