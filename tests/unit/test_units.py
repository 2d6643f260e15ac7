"""Durations and sizes parse the way users type them; bad ones are one-line errors."""

import pytest

from profkit.errors import BadInput
from profkit.units import format_duration, parse_duration


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("12", 12)])
def test_parse_duration_accepts_kubectl_style_values(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "5m3"])
def test_parse_duration_rejects_garbage_naming_the_flag(text: str) -> None:
    with pytest.raises(BadInput, match="--duration"):
        parse_duration(text)


def test_format_duration_reads_naturally() -> None:
    assert format_duration(90) == "1m30s"
    assert format_duration(0.2) == "200ms"
    assert [format_duration(s) for s in (1e-8, 2.5e-5, 0.005)] == ["10ns", "25µs", "5ms"]  # histogram bounds
