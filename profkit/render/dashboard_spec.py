"""Dashboard specs: load and validate the YAML that drives both the HTML dashboard and the Grafana export."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from profkit.errors import BadInput
from profkit.fileio import parse_yaml

PANEL_TYPES = ("timeseries", "stat", "table", "heatmap", "flamegraph", "findings")
SOURCES = ("metrics", "objects", "logs", "findings", "pods")
TRANSFORMS = {
    "metrics": ("gauge", "rate", "quantile", "buckets"),
    "objects": ("created", "ready", "deleted", "existing", "time_to_ready", "state"),
    "logs": ("count", "throttling"),
    "findings": ("timeline",),
    "pods": ("table",),
}
AGGREGATES = ("sum", "max", "min", "avg")
REDUCERS = ("last", "mean", "max", "min", "increase")
STYLES = ("solid", "dashed", "points", "bars")
UNITS = ("", "cores", "bytes", "seconds", "percent", "per_second", "count", "items", "workers")
PROFILE_KINDS = ("cpu", "heap", "allocs", "goroutine", "mutex", "block", "wall")
SCOPES = ("target", "capture")
GRID_COLUMNS = 24
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class SeriesSpec:
    """What one panel line draws: metric alternatives, label filters, transform, grouping and legend."""

    metrics: tuple[str, ...] = ()  # alternatives: the first with data is drawn; PromQL joins them with `or`
    source: str = "metrics"
    labels: tuple[tuple[str, str], ...] = ()  # exact value, or "~regex"
    transform: str = "gauge"
    by: tuple[str, ...] = ()
    aggregate: str = "sum"
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.99)
    divide_by: str = ""
    legend: str = ""
    style: str = "solid"
    match: str = ""  # logs: "throttling" or a substring of the message
    promql: str = ""  # Grafana export: use this expression instead of the generated one


THRESHOLD_OF = ("", "cpu_limit")  # what a threshold's value may be a multiple of (the target's pod spec)


@dataclass(frozen=True)
class Threshold:
    """A colour from ``value`` upwards (``None``: the base colour).

    With ``of`` (``cpu_limit``), ``value`` is a multiple of that quantity, known per target from its pod
    spec; a target whose limit is unknown has no such threshold. ``label`` names the line on the chart.
    """

    value: float | None
    color: str
    of: str = ""
    label: str = ""


@dataclass(frozen=True)
class PanelSpec:
    """One panel of the grid."""

    title: str
    type: str = "timeseries"
    series: tuple[SeriesSpec, ...] = ()
    unit: str = ""
    width: int = 12
    height: int = 8
    thresholds: tuple[Threshold, ...] = ()
    reduce: str = "last"
    profile: str = "cpu"
    description: str = ""

    @property
    def metric_names(self) -> list[str]:
        """Every Prometheus metric the panel draws (histograms by their base name)."""
        names = [m for s in self.series if s.source == "metrics" for m in s.metrics]
        names += [s.divide_by for s in self.series if s.divide_by]
        return names


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True)
class DashboardSpec:
    """A named dashboard: rows of panels, drawn once per target or once for the capture."""

    name: str
    title: str
    rows: tuple[RowSpec, ...]
    scope: str = "target"
    description: str = ""
    source: str = ""

    @property
    def panels(self) -> list[PanelSpec]:
        return [p for row in self.rows for p in row.panels]


@dataclass
class _Where:
    source: str
    path: list[str] = field(default_factory=list)

    def at(self, part: str) -> _Where:
        return _Where(self.source, self.path + [part])

    def fail(self, message: str) -> BadInput:
        where = ".".join(self.path).replace(".[", "[")
        return BadInput(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")


def _one_of(raw: dict[str, Any], key: str, allowed: tuple[str, ...], default: str, where: _Where) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise where.at(key).fail(f"{value!r} is not one of {', '.join(a or repr(a) for a in allowed)}")
    return value


def _text(raw: dict[str, Any], key: str, where: _Where, default: str = "", required: bool = False) -> str:
    value = raw.get(key, default)
    if required and not value:
        raise where.at(key).fail("missing")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise where.at(key).fail(f"expected text, got {type(value).__name__}")
    return str(value)


def _names(raw: Any, where: _Where, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise where.fail(f"expected a {what} or a list of them")
    for item in items:
        if not pattern.match(item):
            raise where.fail(f"{item!r} is not a valid {what}")
    return tuple(items)


def _mapping(raw: Any, where: _Where, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise where.fail(f"{what} is a YAML mapping, got {type(raw).__name__}")
    return raw


def _series(raw: Any, where: _Where) -> SeriesSpec:
    raw = _mapping(raw, where, "a series")
    unknown = set(raw) - {f for f in SeriesSpec.__dataclass_fields__ if f != "metrics"} - {"metric"}
    if unknown:
        raise where.at(sorted(unknown)[0]).fail("unknown field")
    source = _one_of(raw, "source", SOURCES, "metrics", where)
    transform = _one_of(raw, "transform", TRANSFORMS[source], TRANSFORMS[source][0], where)
    metrics: tuple[str, ...] = ()
    if source == "metrics":
        if "metric" not in raw:
            raise where.at("metric").fail("missing (a metric name, or a list of alternatives)")
        metrics = _names(raw["metric"], where.at("metric"), _NAME, "metric name")
    labels = _mapping(raw.get("labels") or {}, where.at("labels"), "labels")
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL.match(key) or not isinstance(value, (str, int)):
            raise where.at("labels").at(str(key)).fail("expected label: value")
        if isinstance(value, str) and value.startswith("~"):
            try:
                re.compile(value[1:])
            except re.error as exc:
                raise where.at("labels").at(key).fail(f"bad regular expression ({exc})") from None
    quantiles = raw.get("quantiles", [0.5, 0.9, 0.99])
    if (not isinstance(quantiles, list) or not quantiles
            or not all(isinstance(q, (int, float)) and 0 < q < 1 for q in quantiles)):
        raise where.at("quantiles").fail("expected a list of numbers between 0 and 1")
    divide_by = _text(raw, "divide_by", where)
    if divide_by and not _NAME.match(divide_by):
        raise where.at("divide_by").fail(f"{divide_by!r} is not a valid metric name")
    return SeriesSpec(
        metrics=metrics, source=source, transform=transform,
        labels=tuple((k, str(v)) for k, v in labels.items()),
        by=_names(raw.get("by", []), where.at("by"), _LABEL, "label name"),
        aggregate=_one_of(raw, "aggregate", AGGREGATES, "sum", where),
        quantiles=tuple(float(q) for q in quantiles), divide_by=divide_by,
        legend=_text(raw, "legend", where), style=_one_of(raw, "style", STYLES, "solid", where),
        match=_text(raw, "match", where), promql=_text(raw, "promql", where),
    )


def _thresholds(raw: Any, where: _Where) -> tuple[Threshold, ...]:
    if not isinstance(raw, list):
        raise where.fail("expected a list of {value, color}")
    out: list[Threshold] = []
    for index, item in enumerate(raw):
        at = where.at(f"[{index}]")
        item = _mapping(item, at, "a threshold")
        value = item.get("value")
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise at.at("value").fail("expected a number or null")
        of = _one_of(item, "of", THRESHOLD_OF, "", at)
        if of and value is None:
            raise at.at("value").fail(f"a threshold of {of} needs a number (a multiple of {of})")
        out.append(Threshold(None if value is None else float(value), _text(item, "color", at, required=True), of,
                             _text(item, "label", at)))
    return tuple(out)


def _int(raw: dict[str, Any], key: str, default: int, low: int, high: int, where: _Where) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise where.at(key).fail(f"expected a whole number from {low} to {high}, got {value!r}")
    return value


def _panel(raw: Any, where: _Where) -> PanelSpec:
    raw = _mapping(raw, where, "a panel")
    unknown = set(raw) - set(PanelSpec.__dataclass_fields__)
    if unknown:
        raise where.at(sorted(unknown)[0]).fail("unknown field")
    kind = _one_of(raw, "type", PANEL_TYPES, "timeseries", where)
    series_raw = raw.get("series", [])
    if not isinstance(series_raw, list):
        raise where.at("series").fail("expected a list")
    series = tuple(_series(s, where.at(f"series[{i}]")) for i, s in enumerate(series_raw))
    if kind in ("timeseries", "stat", "table", "heatmap") and not series:
        raise where.at("series").fail(f"a {kind} panel needs at least one series")
    for index, s in enumerate(series):
        at = where.at(f"series[{index}]")
        if (s.transform == "buckets") != (kind == "heatmap"):
            raise (at.at("transform").fail("a heatmap panel draws a histogram's buckets (transform: buckets)")
                   if kind == "heatmap" else at.at("transform").fail("buckets is drawn by a heatmap panel only"))
        if s.source == "pods" and (kind != "table" or len(series) != 1):
            raise at.at("source").fail("pods is drawn by a table panel of that one series")
    if kind == "heatmap" and len(series) != 1:
        raise where.at("series").fail("a heatmap panel draws one histogram (one series)")
    return PanelSpec(
        title=_text(raw, "title", where, required=True), type=kind, series=series,
        unit=_one_of(raw, "unit", UNITS, "", where),
        width=_int(raw, "width", 24 if kind in ("flamegraph", "findings") else 12, 1, GRID_COLUMNS, where),
        height=_int(raw, "height", 8, 2, 40, where),
        thresholds=_thresholds(raw.get("thresholds", []), where.at("thresholds")),
        reduce=_one_of(raw, "reduce", REDUCERS, "last", where),
        profile=_one_of(raw, "profile", PROFILE_KINDS, "cpu", where),
        description=_text(raw, "description", where),
    )


def parse_dashboard(text: str, source: str) -> DashboardSpec:
    """Validate one dashboard YAML document; errors name the file and the field."""
    where = _Where(source)
    raw = _mapping(parse_yaml(text, source), where, "a dashboard")
    rows_raw = raw.get("rows")
    if not isinstance(rows_raw, list) or not rows_raw:
        raise where.at("rows").fail("missing (a list of rows, each with panels)")
    rows: list[RowSpec] = []
    for index, row in enumerate(rows_raw):
        at = where.at(f"rows[{index}]")
        row = _mapping(row, at, "a row")
        panels = row.get("panels")
        if not isinstance(panels, list) or not panels:
            raise at.at("panels").fail("missing (a list of panels)")
        rows.append(RowSpec(_text(row, "title", at),
                            tuple(_panel(p, at.at(f"panels[{i}]")) for i, p in enumerate(panels))))
    name = _text(raw, "name", where, default=Path(source).stem)
    return DashboardSpec(name=name, title=_text(raw, "title", where, default=name), rows=tuple(rows),
                         scope=_one_of(raw, "scope", SCOPES, "target", where),
                         description=_text(raw, "description", where), source=source)


def builtin_dashboards() -> dict[str, DashboardSpec]:
    """The dashboards shipped with profkit, by name."""
    out: dict[str, DashboardSpec] = {}
    for entry in sorted(resources.files("profkit.dashboards").iterdir(), key=lambda p: p.name):
        if entry.name.endswith((".yaml", ".yml")):
            spec = parse_dashboard(entry.read_text(encoding="utf-8"), f"dashboards/{entry.name}")
            out[spec.name] = spec
    return out


DEFAULT_DASHBOARDS = ("scale-run", "controller")


def load_dashboard(name_or_path: str) -> DashboardSpec:
    """A built-in dashboard by name, or a user's YAML file (``--dashboard FILE``)."""
    builtin = builtin_dashboards()
    if name_or_path in builtin:
        return builtin[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise BadInput(f"--dashboard {name_or_path}: no such file or built-in dashboard "
                       f"(built-in: {', '.join(sorted(builtin))})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--dashboard {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_dashboard(text, str(path))
