"""profkit's Prometheus text parser reads every edge case as prometheus/common's expfmt does (recorded output)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from profkit.formats.prometheus import ParsedMetrics, parse_text
from tests.fixtures.prometheus.edge_cases import canonical

REFERENCE = json.loads((Path(__file__).parent.parent / "fixtures" / "prometheus" / "expfmt-reference.json").read_text())


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return repr(value)


def profkit_rows(parsed: ParsedMetrics) -> list[list[object]]:
    return canonical([(name, labels, _value(value), None if ts is None else round(ts * 1000))
                      for (name, labels, value), ts in zip(parsed.samples, parsed.timestamps)])


def assert_agrees(parsed: ParsedMetrics, expfmt: dict[str, Any]) -> None:
    """Where expfmt accepts the text, the same samples, help and types; where it refuses a line,
    profkit drops exactly that line (with a reason) and reads the rest as expfmt reads it without it."""
    if expfmt["error"]:
        assert [n for n, _ in parsed.malformed] == [expfmt["error_line"]], (parsed.reasons, expfmt["error"])
        assert parsed.reasons[0]
        expfmt = expfmt["without_error_line"]
        assert not expfmt["error"]
    else:
        assert parsed.malformed == [], parsed.reasons
    assert profkit_rows(parsed) == [[n, [tuple(p) for p in labels], v, ts] for n, labels, v, ts in expfmt["samples"]]
    for family, text in expfmt["help"].items():
        assert parsed.help.get(family) == text
    for family, kind in expfmt["types"].items():
        assert parsed.types.get(family, "untyped") == kind


@pytest.mark.parametrize("case", [c for c in REFERENCE if not c.startswith("lenient:")])
def test_parser_agrees_with_prometheus_common(case: str) -> None:
    entry = REFERENCE[case]
    assert_agrees(parse_text(entry["text"]), entry["expfmt"])


@pytest.mark.parametrize("case", [c for c in REFERENCE if c.startswith("lenient:")])
def test_lines_expfmt_refuses_for_form_only_are_read(case: str) -> None:
    """Trailing blanks and a CR before the newline: expfmt refuses the line; profkit keeps the sample."""
    entry = REFERENCE[case]
    assert entry["expfmt"]["error"]
    parsed = parse_text(entry["text"])
    assert parsed.malformed == []
    assert [(n, v) for n, _, v in parsed.samples] == [("ok", 1.0), ("a", 1.0)]


def test_nan_and_infinities_in_every_spelling_go_accepts() -> None:
    text = "\n".join(f"v{i} {s}" for i, s in enumerate(
        ["NaN", "nan", "NAN", "Inf", "+Inf", "-Inf", "inf", "INF", "Infinity", "+infinity", "-INFINITY"]))
    values = [v for _, _, v in parse_text(text).samples]
    assert len(values) == 11
    assert all(math.isnan(v) for v in values[:3])
    assert values[3:] == [math.inf, math.inf, -math.inf, math.inf, math.inf, math.inf, math.inf, -math.inf]


def test_split_on_newline_only_keeps_label_values_whole() -> None:
    parsed = parse_text('a{x="one\u2028two\u0085three\x0cfour\rfive\x1esix"} 1\nb 2\n')
    assert parsed.malformed == []
    assert parsed.samples[0][1] == {"x": "one\u2028two\u0085three\x0cfour\rfive\x1esix"}
    assert [n for n, _, _ in parsed.samples] == ["a", "b"]


def test_help_backslash_n_is_backslash_and_n() -> None:
    parsed = parse_text("# HELP a \\\\n\n# HELP b line\\nbreak\na 1\nb 1\n")
    assert parsed.help["a"] == "\\n"
    assert parsed.help["b"] == "line\nbreak"


def test_dropped_lines_are_counted_by_reason() -> None:
    parsed = parse_text('ok 1\na{x="1",x="2"} 1\nb{__name__="c"} 1\nc{x="\\t"} 1\nd 1 1.5\ne{x="\\q"} 2\n')
    assert [n for n, _ in parsed.malformed] == [2, 3, 4, 5, 6]
    assert parsed.dropped == {
        'duplicate label names for metric \'a\'': 1, 'label name "__name__" is reserved': 1,
        "invalid escape sequence '\\t'": 1, "expected integer as timestamp, got '1.5'": 1,
        "invalid escape sequence '\\q'": 1,
    }
    assert "duplicate label" in parsed.error_summary() and "4 more" in parsed.error_summary()


def test_invalid_utf8_in_label_value_drops_the_line_only() -> None:
    parsed = parse_text(b'ok 1\na{x="\xff"} 1\n# HELP ok caf\xc3\xa9 \xfe\nb 2\n')
    assert [n for n, _, _ in parsed.samples] == ["ok", "b"]
    assert [n for n, _ in parsed.malformed] == [2]
    assert parsed.help["ok"] == "caf\u00e9 \ufffd"
