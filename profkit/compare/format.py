"""Human formatting of metric values by unit (ms, MiB, cores, /s) for the table, JUnit and HTML."""

from __future__ import annotations

import math


def format_value(value: float | None, unit: str) -> str:
    """A value with its unit, compactly: ``3.5 ms``, ``44.1 MiB``, ``0.12 cores``, ``2.5/s``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "seconds":
        if abs(value) < 1:
            return f"{value * 1000:.3g} ms"
        return f"{value:.3g} s"
    if unit == "bytes":
        return f"{value / 2**20:.1f} MiB"
    if unit == "cores":
        return f"{value:.3g} cores"
    if unit == "per_second":
        return f"{value:.3g}/s"
    if unit == "ratio":
        return f"{value:.3g} s/s"
    return f"{value:.3g}"


def format_change(relative: float | None, change: float | None, unit: str) -> str:
    """``+25.3%``, or the absolute change when the base was 0."""
    if relative is not None:
        return f"{relative:+.1%}"
    if change is None:
        return "-"
    if change == 0:
        return "0"
    return "+" + format_value(change, unit) if change > 0 else format_value(change, unit)


def format_p(p_value: float | None) -> str:
    return "-" if p_value is None else f"{p_value:.2g}"
