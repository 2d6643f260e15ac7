"""The Grafana export on a real Prometheus: every panel query of `profkit report --grafana`, evaluated on the
Prometheus that scraped the demo controller, returns data exactly where profkit's own panel has data for a
direct capture of the same run, and its numbers agree with profkit's panel within the tolerances below."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from profkit.bundle import open_bundle
from profkit.render.dashboard_spec import builtin_dashboards
from profkit.render.grafana import series_queries
from profkit.render.panel_data import _bound, _quantile_rows, heatmaps, legend_text, metric_lines
from profkit.sources.prometheus import PrometheusClient
from tests.integration.capture_helpers import profkit, start_demo_controller, stop
from tests.integration.prometheus_server import PROMETHEUS, PrometheusServer, start_prometheus

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (scripts/test.sh installs it)")
SECONDS = 40
# Grafana's $__rate_interval at a 1 s scrape interval and 1 s step: max(4 x scrape, step + scrape).
RATE_INTERVAL = "4s"
WARM_UP = 6.0  # the first rate/quantile windows are not full yet
# Mean of a panel line over the run, Prometheus vs profkit. Rates: profkit takes per-scrape differences, PromQL
# rate() over 4 s windows that extrapolate at the edges; quantiles interpolate inside the same buckets.
# Gauges: the two scrapers sample a fluctuating value (queue depth, active workers) at instants up to 1 s apart.
TOLERANCE = {"rate": 0.15, "quantile": 0.10, "gauge": 0.25, "increase": 0.15}
# Heatmaps: observations in each bucket over the run, from the rate() per 1 s step of Prometheus' heatmap query
# (de-cumulated over le, as Grafana's format heatmap does) vs the sum of profkit's per-step bucket increases.
# Totals as rates; single buckets (those holding at least 10 % of the observations) get more room, as an
# observation near a scrape edge can land in the window on one side and not the other.
HEATMAP_TOTAL, HEATMAP_BUCKET, HEATMAP_SIGNIFICANT = 0.15, 0.25, 0.10
ABSOLUTE = {"cores": 0.02, "percent": 0.05, "items": 1.0, "workers": 0.25}


@pytest.fixture(scope="module")
def scraped_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, Path]]:
    tmp = tmp_path_factory.mktemp("grafana")
    demo = start_demo_controller(tmp, "--objects", "30", "--workers", "2", "--keygen-per-reconcile", "1",
                                 "--key-bits", "512")
    # job as profkit names the target (the scale-run dashboard sums by job)
    job = f"127.0.0.1:{demo.port}"
    server = start_prometheus(tmp, [{"job_name": job, "static_configs": [{"targets": [job]}]}])
    try:
        server.wait_for_samples(f'up{{job="{job}"}}', 2)
        direct = tmp / "direct"
        result = profkit("capture", "--out", str(direct), "--endpoint", f"{demo.url}/metrics",
                         "--duration", f"{SECONDS}s", "--scrape-interval", "1s", timeout=240)
        assert result.returncode == 0, result.stderr
        server.wait_for_samples(f'up{{job="{job}"}}', SECONDS + 2)
        yield server, direct
    finally:
        stop(demo.proc)
        server.stop()


def _grafana_exprs(tmp: Path) -> set[str]:
    out = tmp / "grafana.json"
    result = profkit("report", "--grafana", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    panels = json.loads(out.read_text())["panels"]
    return {t["expr"] for p in panels for t in p.get("targets", [])}


def _concrete(expr: str, range_seconds: float) -> str:
    """The query as Grafana sends it: variables at All (.*), $__rate_interval and $__range filled in."""
    return (expr.replace("$namespace", ".*").replace("$pod", ".*").replace("$__rate_interval", RATE_INTERVAL)
            .replace("$__range", f"{int(range_seconds)}s"))


def _mean(times: np.ndarray, values: np.ndarray, start: float, end: float) -> float:
    keep = (times >= start) & (times <= end) & ~np.isnan(values)
    return float(np.mean(values[keep])) if keep.any() else math.nan


def test_every_grafana_query_returns_data_and_agrees_with_profkits_panel(
        scraped_run: tuple[PrometheusServer, Path], tmp_path: Path) -> None:
    server, direct_dir = scraped_run
    view = open_bundle(direct_dir)
    (target,) = [t.name for t in view.targets()]
    start, end = view.time_range()
    window = (start + WARM_UP, end - 1.0)
    client = PrometheusClient(server.url)
    exported = _grafana_exprs(tmp_path)
    seen: set[str] = set()
    compared: list[str] = []
    empty: list[str] = []
    for dashboard in builtin_dashboards().values():
        for row in dashboard.rows:
            for panel in row.panels:
                increase = panel.type == "table" and panel.reduce == "increase"
                for spec in panel.series:
                    queries = series_queries(spec, increase)
                    if not queries:
                        continue  # objects, logs, findings: drawn only in the HTML report
                    mine = metric_lines(view, spec, target)
                    for index, (expr, legend) in enumerate(queries):
                        seen.add(expr)
                        where = f"{dashboard.name}/{panel.title}: {expr}"
                        if spec.transform == "buckets":
                            if _heatmap_agrees(client, view, spec, target, expr, window, where):
                                compared.append(where)
                            else:
                                empty.append(where)
                            continue
                        if spec.transform == "quantile":
                            # Per-window quantiles of a bursty run diverge with the window's phase (4 s vs 4
                            # scrapes); the panel's query over the whole run and profkit's quantile over the whole
                            # run read the same buckets and must agree. The time series must still return data.
                            has_data = bool(client.query_range(_concrete(expr, 0), start, end, 1.0))
                            whole = expr.replace("$__rate_interval", f"{int(end - start)}s")
                            answer = client.query(_concrete(whole, 0), end)["result"]
                            theirs = {json.dumps(r["metric"], sort_keys=True): (np.array([end]),
                                                                                np.array([float(r["value"][1])]))
                                      for r in answer}
                        elif increase:
                            answer = client.query(_concrete(expr, end - start), end)["result"]
                            has_data = bool(answer)
                            theirs = {json.dumps(r["metric"], sort_keys=True): (np.array([end]),
                                                                                np.array([float(r["value"][1])]))
                                      for r in answer}
                        else:
                            result = client.query_range(_concrete(expr, 0), start, end, 1.0)
                            theirs = {json.dumps(dict(k), sort_keys=True): (np.array([t for t, _ in v]),
                                                                             np.array([x for _, x in v]))
                                      for k, v in result.items()}
                            has_data = bool(theirs)
                        # profkit draws each group's quantiles in order; the export has one query per quantile
                        picked = mine[index::len(queries)] if spec.transform == "quantile" else mine
                        lines = [m for m in picked if not np.isnan(m.values).all()]
                        assert has_data == bool(lines), (where, "Prometheus has data" if has_data else
                                                             "Prometheus has no data", [m.name for m in lines])
                        if not lines:
                            empty.append(where)
                            continue
                        named = {_legend(legend, json.loads(k)): v for k, v in theirs.items()}
                        for line in lines:
                            if len(lines) == 1 and len(named) == 1:
                                times, values = next(iter(named.values()))
                            else:
                                assert line.name in named, (where, line.name, sorted(named))
                                times, values = named[line.name]
                            kind = "increase" if increase else spec.transform if spec.transform in TOLERANCE \
                                else "gauge"
                            if spec.transform == "quantile":
                                members = [x for x in view.series(line.metric + "_bucket", target=target)
                                           if all(x.labels.get(k) == v for k, v in
                                                  zip(spec.by, _group_of(line.name, spec.legend, spec.by)))]
                                grid = np.array([members[0].points[0][0], members[0].points[-1][0]])
                                expected = float(_quantile_rows(members, grid, [spec.quantiles[index]])[0][-1])
                                got = float(values[0])
                            elif increase:
                                steps = np.diff(line.values)
                                expected = float(np.sum(np.where(steps >= 0, steps, line.values[1:])))
                                got = float(values[0])
                            else:
                                expected = _mean(line.times, line.values, *window)
                                got = _mean(times, values, *window)
                            if math.isnan(expected) and math.isnan(got):
                                continue
                            print(f"{kind:9} {panel.unit:10} profkit {expected:12.5g} prometheus {got:12.5g}  "
                                  f"{where} [{line.name}]")
                            slack = ABSOLUTE.get(panel.unit, 1e-9)
                            if kind == "gauge":
                                # two scrapers sample a fluctuating gauge at different instants: their means
                                # differ by sampling error, so allow three standard errors of profkit's mean
                                finite = line.values[np.isfinite(line.values)]
                                if len(finite) > 1:
                                    slack = max(slack, 3 * float(np.std(finite)) / math.sqrt(len(finite)))
                            assert got == pytest.approx(expected, rel=TOLERANCE[kind], abs=slack), (where, line.name)
                            compared.append(where)
    assert seen == exported  # the test evaluated exactly the export's queries
    # The demo is a Python process: Go runtime and rate limiter panels are empty in both; everything else compared.
    assert len(set(compared)) >= 12, (sorted(set(compared)), empty)
    assert any("histogram_quantile" in w for w in compared) and any("process_cpu_seconds_total" in w
                                                                     for w in compared)
    heatmap_panels = {w.split(":")[0] for w in compared if "sum by (le)" in w}
    assert {"controller/Reconcile time heatmap", "controller/Queue duration heatmap (time waiting)"} <= heatmap_panels


def _heatmap_agrees(client: PrometheusClient, view: object, spec: object, target: str, expr: str,
                    window: tuple[float, float], where: str) -> bool:
    """The heatmap query returns data exactly when profkit draws a heatmap, and per bucket the same observations."""
    start, end = window
    drawn = heatmaps(view, spec, target)  # type: ignore[arg-type]
    result = client.query_range(_concrete(expr, 0), start - WARM_UP, end + 1.0, 1.0)
    assert bool(result) == bool(drawn), (where, "Prometheus has data" if result else "Prometheus has no data")
    if not drawn:
        return False
    (heat,) = drawn
    cumulative: dict[float, dict[float, float]] = {}
    for labels, points in result.items():
        cumulative[_bound(dict(labels)["le"])] = {t: x for t, x in points if start <= t <= end}
    bounds = sorted(cumulative)
    steps = sorted(set().union(*(cumulative[b].keys() for b in bounds)))
    matrix = np.array([[cumulative[b].get(t, 0.0) for t in steps] for b in bounds])
    theirs = dict(zip(bounds, np.diff(matrix, axis=0, prepend=0.0).sum(axis=1) * 1.0))  # rate x 1 s steps
    keep = (heat.times > start) & (heat.times <= end)
    mine = dict(zip(heat.bounds.tolist(), heat.counts[:, keep].sum(axis=1)))
    # Each of Prometheus' 1 s steps rates over the last RATE_INTERVAL, so observations within one rate interval
    # of either end of the window count partly (those before it too); profkit counts each once, inside it.
    reach = float(RATE_INTERVAL.rstrip("s"))
    near_edges = ((heat.times > start - reach) & (heat.times <= start)) | ((heat.times > end - reach) & (heat.times <= end))
    edge = dict(zip(heat.bounds.tolist(), heat.counts[:, near_edges].sum(axis=1)))
    total = sum(mine.values())
    print(f"heatmap   total      profkit {total:12.5g} prometheus {sum(theirs.values()):12.5g}  {where}")
    assert abs(sum(theirs.values()) - total) <= HEATMAP_TOTAL * total + sum(edge.values()), where
    for bound, count in mine.items():
        if count >= HEATMAP_SIGNIFICANT * total:
            allowed = HEATMAP_BUCKET * count + edge[bound]
            print(f"heatmap   le={bound:<8g} profkit {count:12.5g} prometheus {theirs.get(bound, 0.0):12.5g}"
                  f"  (± {allowed:.3g}, {edge[bound]:.3g} of them near the window's ends)")
            assert abs(theirs.get(bound, 0.0) - count) <= allowed, (where, bound, count, theirs.get(bound), allowed)
    return True


def _legend(template: str, labels: dict[str, str]) -> str:
    return legend_text(re.sub(r"\{\{(\w+)\}\}", r"{\1}", template), labels, "")


def _group_of(name: str, legend: str, by: tuple[str, ...]) -> tuple[str, ...]:
    """The ``by`` label values of a profkit quantile line, read back from its legend (``p99 widget``)."""
    pattern = re.escape(legend)
    for key in by:
        pattern = pattern.replace(re.escape("{" + key + "}"), f"(?P<{key}>.*?)")
    pattern = pattern.replace(re.escape("{quantile}"), r"[0-9.]+")
    m = re.fullmatch(pattern, name)
    assert m, (name, legend)
    return tuple(m.group(k) for k in by)
