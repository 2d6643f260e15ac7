"""Numbers in text have units and sensible precision; machine output keeps full precision."""

from __future__ import annotations

from profkit.compare.stats import EventCount, judge
from profkit.units import format_number, plural


def test_numbers_read_like_numbers() -> None:
    assert format_number(16 * 2**20, "bytes") == "16.0 MiB"  # was "1.67772e+07"
    assert format_number(29.6512) == "29.7"
    assert format_number(66.9) == "66.9" and format_number(3.0) == "3"
    assert format_number(0.05, "per_second") == "0.05/s"
    assert format_number(1796170000.123) == "1796170000"
    assert format_number(1.0, "cores") == "1 core" and format_number(2.0, "cores") == "2 cores"  # threshold labels
    assert format_number(0.8, "percent") == "80%"
    assert plural(1, "object") == "1 object" and plural(2, "object") == "2 objects"


def test_minimum_effect_reason_names_the_unit() -> None:
    verdict = judge(100e6, 101e6, [100e6] * 8, [101e6] * 8, 0.20, 16 * 2**20, unit="bytes")
    assert "16.0 MiB" in verdict.reason and "e+07" not in verdict.reason, verdict.reason
    rates = judge(1.0, 1.05, [], [], 0.25, 0.1, base_count=EventCount(6000, 6000), new_count=EventCount(6300, 6000),
                  unit="per_second")
    assert "e+" not in rates.reason
