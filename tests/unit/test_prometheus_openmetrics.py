"""profkit export openmetrics: promtool tsdb create-blocks-from loads the file, and promtool tsdb dump reads back
every point of the bundle, same names, labels, values and (millisecond) timestamps."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from controller_bundles import HEALTHY_DURATION, T0, Bundle, healthy
from profkit.bundle import open_bundle
from profkit.formats.openmetrics import series_labels
from profkit.formats.prometheus import parse_text

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (scripts/test.sh installs prometheus)")
DUMP_LINE = re.compile(r"^\{(?P<labels>.*)\} (?P<value>\S+) (?P<ms>-?\d+)$")
LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def recorded_scrapes(fixtures_dir: Path, b: Bundle) -> None:
    """The recorded controller-runtime /metrics, scraped three times 15 s apart with counters moving on."""
    parsed = parse_text((fixtures_dir / "controller-metrics.txt").read_text())
    b.writer.touch_instance(b.target, "pod-1", {"metric_types": parsed.types})
    for i in range(3):
        samples = [(name, dict(labels), value * (1 + i) if parsed.type_of(name) != "gauge" else value)
                   for name, labels, value in parsed.samples]
        b.writer.add_points(b.target, "pod-1", T0 + 15.0 * i + 0.123, samples)
    b.writer.add_points(b.target, "pod-1", T0 + 50, [
        ("odd_values", {"path": 'C:\\dir "x"\nnext'}, -0.5),
        ("odd_values", {"path": "inf"}, math.inf),
        ("up", {"job": "scraped-job", "instance": "scraped:8080"}, 1.0),  # labels a scrape would rename
    ])


def dump(tsdb: Path) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
    assert PROMTOOL is not None
    (tsdb / "wal").mkdir(exist_ok=True)  # promtool tsdb dump opens the WAL even of backfilled blocks
    out = subprocess.run([PROMTOOL, "tsdb", "dump", str(tsdb)], capture_output=True, text=True, timeout=300, check=True)
    series: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    for line in out.stdout.splitlines():
        m = DUMP_LINE.match(line)
        assert m, line
        labels = tuple(sorted((k, v.encode().decode("unicode_escape")) for k, v in LABEL.findall(m["labels"])))
        series.setdefault(labels, []).append((int(m["ms"]), float(m["value"])))
    return series


def test_export_loads_into_prometheus_tsdb_with_every_point_unchanged(tmp_path: Path, fixtures_dir: Path) -> None:
    b = healthy(tmp_path / "b")
    recorded_scrapes(fixtures_dir, b)
    view = b.view(HEALTHY_DURATION)
    out = tmp_path / "run.om"
    result = subprocess.run([sys.executable, "-m", "profkit.cli.main", "export", "openmetrics", str(b.path),
                             "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.endswith("# EOF\n")
    assert "# TYPE controller_runtime_reconcile_time_seconds histogram" in text
    assert "# TYPE controller_runtime_reconcile counter\ncontroller_runtime_reconcile_total{" in text
    assert "# TYPE workqueue_depth" in text and f"{T0 + 30.123:.3f}" in text  # seconds, millisecond precision
    tsdb = tmp_path / "tsdb"
    load = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(out), str(tsdb)],
                          capture_output=True, text=True, timeout=600)
    assert load.returncode == 0, load.stdout[-2000:] + load.stderr[-2000:]
    stored = dump(tsdb)
    expected = {}
    for s in open_bundle(b.path).series():
        labels = tuple(sorted({**series_labels(s), "__name__": s.name}.items()))
        expected[labels] = [(round(ts * 1000), v) for ts, v in s.points]
    assert set(stored) == set(expected)
    for labels, points in expected.items():
        got = stored[labels]
        assert [ms for ms, _ in got] == [ms for ms, _ in points], labels
        assert all(g == v or (math.isnan(g) and math.isnan(v)) for (_, g), (_, v) in zip(got, points)), labels
    assert (("__name__", "up"), ("exported_instance", "scraped:8080"), ("exported_job", "scraped-job"),
            ("instance", "pod-1"), ("job", "ctl")) in stored
    assert len(view.series()) == len(stored)


def test_export_of_a_missing_bundle_or_target_is_one_line_exit_2(tmp_path: Path) -> None:
    healthy(tmp_path / "b").view(HEALTHY_DURATION)
    for args in ([str(tmp_path / "nope")], [str(tmp_path / "b"), "--target", "other"],
                 [str(tmp_path / "b"), "-o", str(tmp_path / "no-dir" / "x.om")]):
        result = subprocess.run([sys.executable, "-m", "profkit.cli.main", "export", "openmetrics", *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
