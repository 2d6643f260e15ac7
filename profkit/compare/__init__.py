"""Comparison of two runs (bundles): per-window metrics, significance, findings and functions that grew, CI gate."""

from profkit.compare.engine import CompareOptions, compare_bundles
from profkit.compare.gate import GateResult, gate
from profkit.compare.metrics import METRIC_IDS, METRICS
from profkit.compare.model import Comparison, MetricChange, TargetComparison

__all__ = [
    "METRICS",
    "METRIC_IDS",
    "CompareOptions",
    "Comparison",
    "GateResult",
    "MetricChange",
    "TargetComparison",
    "compare_bundles",
    "gate",
]
