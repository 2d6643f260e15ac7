"""A tiny Prometheus registry for the demo controller: counters, gauges and histograms in text format."""

from __future__ import annotations

import math
import threading
from typing import Callable, Sequence, TypeVar

LabelValues = tuple[str, ...]
M = TypeVar("M", bound="Metric")
_INF = 'le="+Inf"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[LabelValues, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self.values[labels] = self.values.get(labels, 0.0) + amount

    def touch(self, *labels: str) -> None:
        """Make the series exist at 0, as client_golang does for pre-initialised label values."""
        with self._lock:
            self.values.setdefault(labels, 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self.values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Gauge(Counter):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (),
                 func: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_text, labels)
        self.func = func

    def set(self, value: float, *labels: str) -> None:
        with self._lock:
            self.values[labels] = value

    def lines(self) -> list[str]:
        if self.func is not None:
            self.set(self.func())
        return super().lines()


class CounterFunc(Gauge):
    """A counter read from a function at scrape time (process_cpu_seconds_total)."""

    kind = "counter"


class Histogram(Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self.series: dict[LabelValues, tuple[list[int], list[float]]] = {}  # counts per bucket, [sum, count]

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            counts, totals = self.series.setdefault(labels, ([0] * len(self.buckets), [0.0, 0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            totals[0] += value
            totals[1] += 1

    def lines(self) -> list[str]:
        out: list[str] = []
        with self._lock:
            items = sorted((k, (list(c), list(t))) for k, (c, t) in self.series.items())
        for labels, (counts, (total, count)) in items:
            for bound, n in zip(self.buckets, counts):
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, labels, le)} {n}")
            out.append(f"{self.name}_bucket{_labels(self.label_names, labels, _INF)} {int(count)}")
            out.append(f"{self.name}_sum{_labels(self.label_names, labels)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, labels)} {int(count)}")
        return out


class Registry:
    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def register(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def exposition(self) -> str:
        lines: list[str] = []
        for metric in self.metrics:
            body = metric.lines()
            if body:
                lines += metric.header() + body
        return "\n".join(lines) + "\n"


def exponential_buckets(start: float, factor: float, count: int) -> list[float]:
    return [start * factor**i for i in range(count)]
