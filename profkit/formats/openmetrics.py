"""OpenMetrics text writer: a bundle's series with their types and timestamps, as promtool create-blocks-from reads it."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Iterable, Literal, TextIO

from profkit.model import Series

FamilyType = Literal["counter", "gauge", "histogram", "summary", "unknown"]
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "counter": ("_total", "_created"),
}
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]")


def infer_types(names: Iterable[str], declared: dict[str, str]) -> dict[str, str]:
    """The declared TYPEs, plus histograms recognised by name (``x_bucket`` next to ``x_count``) where none was declared."""
    names = set(names)
    types = dict(declared)
    for name in names:
        base = name[: -len("_bucket")]
        if name.endswith("_bucket") and base + "_count" in names and base not in types:
            types[base] = "histogram"
    return types


def family_of(name: str, types: dict[str, str], names: frozenset[str] = frozenset()) -> tuple[str, FamilyType]:
    """The OpenMetrics family of a sample name and its type.

    ``types`` are the TYPE lines the scrapes declared (family -> type). A counter is
    written as a counter only when its samples end in ``_total`` (OpenMetrics requires
    the suffix; renaming would change the series Prometheus stores), otherwise as a gauge;
    anything else undeclared is ``unknown`` under its own name.
    """
    for kind in ("histogram", "summary"):
        for suffix in _SUFFIXES[kind]:
            base = name[: -len(suffix)]
            if name.endswith(suffix) and types.get(base) == kind:
                return base, "histogram" if kind == "histogram" else "summary"
    declared = types.get(name)
    if declared == "summary":  # its quantile samples carry the family name
        return name, "summary"
    base = name[: -len("_total")]
    if (name.endswith("_total") and declared in (None, "counter") and types.get(base) in (None, "counter")
            and base not in names):
        return base, "counter"
    if declared in ("gauge", "counter"):
        return name, "gauge"
    return name, "unknown"


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def series_labels(s: Series) -> dict[str, str]:
    """The labels Prometheus would store for a scraped series: its own, plus job (target) and instance."""
    labels = {}
    for key, value in s.labels.items():
        labels[f"exported_{key}" if key in ("job", "instance") else key] = value
    labels["job"] = s.target
    labels["instance"] = s.instance
    return labels


def label_text(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items()))


def write_openmetrics(out: TextIO, series: Iterable[Series], declared: dict[str, str]) -> int:
    """Write families (``# TYPE``, then every series' points in time order, seconds) and ``# EOF``; returns points."""
    renamed = [Series(_INVALID_NAME.sub("_", s.name), s.labels, s.points, s.target, s.instance) for s in series]
    names = frozenset(s.name for s in renamed)
    types = infer_types(names, declared)
    grouped: dict[tuple[str, FamilyType], list[Series]] = defaultdict(list)
    for s in renamed:
        grouped[family_of(s.name, types, names)].append(s)
    written = 0
    for (family, kind), members in sorted(grouped.items()):
        out.write(f"# TYPE {family} {kind}\n")
        for s in sorted(members, key=lambda m: (m.name, label_text(series_labels(m)))):
            prefix = f"{s.name}{{{label_text(series_labels(s))}}} "
            last_ms: int | None = None
            for ts, value in sorted(s.points):
                ms = round(ts * 1000)
                if ms == last_ms:
                    continue  # Prometheus keeps milliseconds; two points in one would be out of order
                last_ms = ms
                out.write(f"{prefix}{format_value(value)} {ms / 1000:.3f}\n")
                written += 1
    out.write("# EOF\n")
    return written
