"""The comparison result model: metric changes, finding changes, grown functions, budget results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from profkit.model import Finding, FrameOrigin, Severity

# Status of one metric of one target (documented in docs/compare-json.md).
MetricStatus = Literal["regressed", "improved", "changed", "unchanged", "untested", "missing"]
REGRESSED: MetricStatus = "regressed"
IMPROVED: MetricStatus = "improved"
CHANGED: MetricStatus = "changed"
UNCHANGED: MetricStatus = "unchanged"
UNTESTED: MetricStatus = "untested"
MISSING: MetricStatus = "missing"

MetricUnit = Literal["seconds", "bytes", "cores", "per_second", "ratio", "items", "goroutines", "requests"]
Better = Literal["lower", "higher", "none"]
FindingStatus = Literal["new", "grown", "persisting", "reduced", "resolved"]
# Status of one finding id on one target.
NEW: FindingStatus = "new"
GROWN: FindingStatus = "grown"
PERSISTING: FindingStatus = "persisting"
REDUCED: FindingStatus = "reduced"
RESOLVED: FindingStatus = "resolved"
NormalisedPer = Literal["reconcile", "second", ""]  # "": no CPU profiles


@dataclass(frozen=True)
class MetricDef:
    """A compared metric: its id, title, unit, which direction is better and its minimum effect."""

    id: str
    title: str
    unit: MetricUnit
    better: Better
    min_relative: float  # minimum |relative change| to be significant
    min_absolute: float  # minimum |absolute change|, in ``unit``
    description: str = ""


@dataclass
class MetricValue:
    """One run's value of a metric for a target: the headline value and the per-window samples."""

    value: float | None
    samples: list[float] = field(default_factory=list)
    source: str = ""  # where it came from (metric name, "profile", "logs", "objects")
    events: float | None = None  # counter rates: events over the whole capture (judged with the rate test)
    seconds: float | None = None  # ... and the seconds of capture they were counted in


@dataclass
class MetricChange:
    """One metric of one target in both runs, with the verdict."""

    metric: MetricDef
    target: str
    base: MetricValue
    new: MetricValue
    status: MetricStatus
    severity: Severity | None = None  # for regressions: warning, or critical when the value at least doubled
    p_value: float | None = None
    reason: str = ""

    @property
    def change(self) -> float | None:
        if self.base.value is None or self.new.value is None:
            return None
        return self.new.value - self.base.value

    @property
    def relative(self) -> float | None:
        if self.base.value is None or self.new.value is None or self.base.value == 0:
            return None
        return (self.new.value - self.base.value) / abs(self.base.value)


@dataclass
class FindingChange:
    """One finding id on one target: how it moved between the runs."""

    id: str
    target: str
    status: FindingStatus
    base_severity: Severity | None
    new_severity: Severity | None
    title: str
    finding: Finding  # the NEW run's finding, or the base's when resolved


@dataclass
class FunctionGrowth:
    """A function whose CPU (self time) per reconcile grew, with the path it is reached through."""

    function: str
    origin: FrameOrigin
    base_self: float  # CPU seconds per unit of normalisation (reconcile or second)
    new_self: float
    base_cumulative: float
    new_cumulative: float
    base_share: float  # self share of all CPU samples of the run
    new_share: float
    path: list[str] = field(default_factory=list)  # root first, the new run's heaviest stack to it
    called_from: list[str] = field(default_factory=list)  # leaf first: the API called, the own callers above

    @property
    def growth(self) -> float:
        return self.new_self - self.base_self


PairedBy = Literal["same name", "--pair", "same Deployment", "one target each side"]


@dataclass(frozen=True)
class TargetPair:
    """A target of BASE compared with a target of NEW, and why they are taken as the same controller."""

    base: str
    new: str
    paired_by: PairedBy


@dataclass
class TargetComparison:
    """Everything compared for one target present in both runs (``target`` is NEW's name)."""

    target: str
    base_target: str = ""  # BASE's name of the target when it differs ("" : the same name)
    paired_by: PairedBy = "same name"
    metrics: list[MetricChange] = field(default_factory=list)
    functions: list[FunctionGrowth] = field(default_factory=list)
    normalised_per: NormalisedPer = ""
    context: dict[str, Any] = field(default_factory=dict)  # CPU seconds, reconciles, durations per run

    def metric(self, metric_id: str) -> MetricChange | None:
        return next((m for m in self.metrics if m.metric.id == metric_id), None)


@dataclass(frozen=True)
class BudgetEntry:
    """One line of ``--budget FILE.yaml``: a metric may grow at most this much on a target."""

    metric: str
    target: str = "*"  # "*": every target
    max_increase_pct: float | None = None
    max_increase: float | None = None
    severity: str = "warning"


@dataclass
class BudgetResult:
    """One budget entry applied to one target."""

    entry: BudgetEntry
    target: str
    base: float | None
    new: float | None
    breached: bool
    message: str


@dataclass
class RunInfo:
    """Which bundle a side of the comparison is, and when it was captured."""

    directory: str
    started: float
    duration: float
    status: str
    targets: list[str]


@dataclass
class Comparison:
    """The whole result of ``compare_bundles``: input of the table, JSON, JUnit and HTML outputs."""

    base: RunInfo
    new: RunInfo
    window_seconds: float
    targets: list[TargetComparison] = field(default_factory=list)
    findings: list[FindingChange] = field(default_factory=list)
    budgets: list[BudgetResult] = field(default_factory=list)
    only_in_base: list[str] = field(default_factory=list)
    only_in_new: list[str] = field(default_factory=list)
    alpha: float = 0.01
    pairs: list[TargetPair] = field(default_factory=list)

    def regressions(self) -> list[MetricChange]:
        return [m for t in self.targets for m in t.metrics if m.status == REGRESSED]
