"""metrics_math follows Prometheus semantics: counter resets, histogram_quantile interpolation, summed rates."""

from __future__ import annotations

import math

import pytest

from profkit.analyze.metrics_math import (
    average_rate, bucket_increases, histogram_quantile, round_up_nice, summed_gauge, summed_rate, trend,
    unexplained_growth, with_labels,
)
from profkit.model import Series


def counter(points: list[tuple[float, float]], **labels: str) -> Series:
    return Series("x_total", labels, points)


def test_rate_survives_a_process_restart() -> None:
    s = counter([(0, 100), (10, 150), (20, 10), (30, 60)])  # reset between 10 and 20
    assert average_rate([s]) == pytest.approx((50 + 10 + 50) / 30)
    assert [v for _, v in summed_rate([s])] == pytest.approx([5.0, 1.0, 5.0])


def test_summed_rate_adds_label_sets_on_a_common_grid() -> None:
    a = counter([(0, 0), (10, 10), (20, 20)], code="200")
    b = counter([(0, 0), (10, 30), (20, 60)], code="409")
    assert summed_rate([a, b]) == [(10.0, 4.0), (20.0, 4.0)]


def test_histogram_quantile_matches_prometheus_interpolation() -> None:
    # 100 observations: 50 in (0, 0.1], 40 in (0.1, 1], 10 in (1, 10]
    buckets = [(0.1, 50.0), (1.0, 90.0), (10.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.9, buckets) == pytest.approx(1.0)
    assert histogram_quantile(0.99, buckets) == pytest.approx(1 + 9 * 0.9)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.1 + 0.9 * 25 / 40)
    assert histogram_quantile(0.99, [(1.0, 0.0), (math.inf, 5.0)]) == 1.0  # +Inf answers the largest bound
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))


def test_bucket_increases_sum_instances_per_le() -> None:
    a = Series("h_bucket", {"le": "0.5"}, [(0, 0), (10, 4)])
    b = Series("h_bucket", {"le": "0.5"}, [(0, 0), (10, 6)], instance="pod-1")
    inf = Series("h_bucket", {"le": "+Inf"}, [(0, 0), (10, 12)])
    assert bucket_increases([a, b, inf]) == [(0.5, 10.0), (math.inf, 12.0)]


def test_summed_gauge_holds_last_values() -> None:
    a = Series("g", {}, [(0, 1), (10, 3)])
    b = Series("g", {}, [(5, 10)])
    assert summed_gauge([a, b]) == [(0.0, 1.0), (5.0, 11.0), (10.0, 13.0)]


def test_trend_and_unexplained_growth() -> None:
    points = [(float(t), 100.0 + t) for t in range(0, 100, 10)]
    t = trend(points)
    assert t is not None and t.slope == pytest.approx(1.0) and t.growth == pytest.approx(90.0)
    flat = [(0.0, 50.0)]
    assert unexplained_growth(points, flat)[0] == pytest.approx(90.0)
    following = [(float(x), float(x) / 10) for x in range(0, 100, 10)]  # objects grow in step with time
    assert unexplained_growth(points, following)[0] == 0.0


def test_round_up_nice_and_label_filter() -> None:
    assert [round_up_nice(v) for v in (0.5, 7, 11, 26.7, 53.3, 120, 999)] == [1, 8, 15, 30, 60, 150, 1000]
    s = [Series("workqueue_depth", {"name": "widget"}), Series("workqueue_depth", {"name": "other"})]
    assert with_labels(s, name="widget") == s[:1]
