"""A scrape carrying NaN and ±Inf samples (valid exposition, as client_golang v1.12 on Go 1.26 serves) is stored whole."""

from __future__ import annotations

import math
from pathlib import Path

from profkit.bundle.reader import open_bundle
from profkit.formats.prometheus import parse_text
from tests.integration.capture_helpers import FIXTURES, pprof_routes, profkit, serve

# Real client_golang lines with the values a Go 1.26 runtime gives an old client (NaN sums), and
# gauges at ±Inf, put in the middle of a real recorded controller scrape.
SPECIAL = (b"# HELP go_gc_pauses_seconds_total Distribution of individual GC-related stop-the-world pause latencies.\n"
           b"# TYPE go_gc_pauses_seconds_total histogram\n"
           b'go_gc_pauses_seconds_total_bucket{le="+Inf"} 0\n'
           b"go_gc_pauses_seconds_total_sum NaN\n"
           b"go_gc_pauses_seconds_total_count 0\n"
           b"# TYPE test_upper_bound gauge\n"
           b"test_upper_bound +Inf\n"
           b"test_lower_bound -Inf\n"
           b"test_not_a_number NaN\n")


def scrape_body() -> bytes:
    lines = (FIXTURES / "controller-metrics.txt").read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    while lines[middle].startswith(b"#"):
        middle += 1
    return b"".join(lines[:middle]) + SPECIAL + b"".join(lines[middle:])


def test_nan_and_infinite_samples_keep_the_scrape_and_the_run(tmp_path: Path) -> None:
    body = scrape_body()
    expected = parse_text(body)
    assert expected.malformed == []
    finite_or_inf = [(n, l, v) for n, l, v in expected.samples if not math.isnan(v)]
    nan_count = len(expected.samples) - len(finite_or_inf)
    assert nan_count == 2
    # The controller serves pprof too: an endpoint whose pprof only ever 404s is a target that gave no
    # profiles, which fails the capture once the start-up grace is over (on a loaded machine, within 4 s).
    server, url = serve({**pprof_routes(), "/metrics": (200, "text/plain; version=0.0.4", body)})
    try:
        out = tmp_path / "bundle"
        result = profkit("capture", "--endpoint", url, "--out", str(out), "--duration", "4s",
                         "--scrape-interval", "1s", timeout=120)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    view = open_bundle(out)
    scrapes = {ts for s in view.series("go_goroutines") for ts, _ in s.points}
    assert len(scrapes) >= 3, result.stderr  # the run went on after the first NaN
    assert f"{len(scrapes)} scrapes ({len(scrapes) * len(finite_or_inf)} points, " \
           f"{len(scrapes) * nan_count} NaN skipped)" in result.stderr
    stored = {(s.name, tuple(sorted(s.labels.items()))): list(s.values) for s in view.series()}
    for name, labels, value in finite_or_inf:  # every sample of every scrape, ±Inf as it was served
        assert stored[(name, tuple(sorted(labels.items())))] == [value] * len(scrapes), name
    assert stored[("test_upper_bound", ())][0] == math.inf
    assert stored[("test_lower_bound", ())][0] == -math.inf
    assert ("go_gc_pauses_seconds_total_sum", ()) not in stored
    notes = [e.message for e in view.events() if "NaN" in e.message]
    assert any("go_gc_pauses_seconds_total_sum" in m and "test_not_a_number" in m for m in notes), notes
    assert any(f"{len(scrapes) * nan_count} NaN samples not stored" in m for m in notes), notes
    assert not [e for e in view.events("error")], [e.message for e in view.events("error")]
