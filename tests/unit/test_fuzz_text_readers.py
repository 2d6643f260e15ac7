"""Fuzzing the text readers (Prometheus exposition, every log format, the line assembler) with hypothesis.

Seeds are recorded real inputs (tests/fixtures); each property is bounded by ``max_examples``
(PROFKIT_FUZZ_EXAMPLES scales them; the suite default keeps all of them well under 60 s). A crash
found here is kept in tests/fixtures/fuzz/ and replayed by test_recorded_fuzz_regressions.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profkit.formats.logs import LineAssembler, parse_line
from profkit.formats.prometheus import parse_text

FIXTURES = Path(__file__).parent.parent / "fixtures"
SCALE = float(os.environ.get("PROFKIT_FUZZ_EXAMPLES", "1"))
FUZZ = settings(max_examples=max(10, int(200 * SCALE)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

METRIC_SEEDS = [line for name in ("controller-metrics.txt", "keygen-server-metrics.txt")
                for line in (FIXTURES / name).read_text().split("\n")][:400]
METRIC_SEEDS += [line for line in (FIXTURES / "prometheus" / "edge_cases.py").read_text().split("\n")
                 if line.startswith('    ("')][:80]
LOG_SEEDS = [line for name in ("kopf-full.log", "kopf-json.log", "zap-time-encodings.jsonl", "zap-console.log",
                               "klog-structured.log") for line in (FIXTURES / "logs" / name).read_text().split("\n")
             if line]
LOG_SEEDS += [line for line in (FIXTURES / "controller-log.jsonl").read_text().split("\n") if line][:100]
LOG_SEEDS += [line for line in (FIXTURES / "klog-throttling.log").read_text().split("\n") if line][:50]
LOG_SEEDS += [f"2025-12-02T01:32:48.{i}Z stdout {'PF'[i % 2]} {line}" for i, line in enumerate(LOG_SEEDS[:40])]
LOG_SEEDS += [f"2025-12-02T01:32:48.498123456Z {line}" for line in LOG_SEEDS[:40]]

SPECIAL = st.sampled_from(list('{}",=\\\n\r\t #[]<>:/.+-eE0123456789') + ["\u2028", "\u0085", "\x0c", "\x1e", "\x00",
                                                                         "\udcff", "é", "✓", "NaN", "Inf", "=<"])
CHUNK = st.one_of(SPECIAL, st.text(max_size=4))


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    """A seed line with a few random insertions, deletions and replacements (and sometimes spliced with another)."""
    text = draw(st.sampled_from(seeds))
    if draw(st.booleans()):
        other = draw(st.sampled_from(seeds))
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + other[draw(st.integers(0, len(other))):]
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            text = text[:pos] + draw(CHUNK) + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 5)):]
        else:
            text = text[:pos] + draw(CHUNK) + text[pos + 1:]
    return text


def _check_parsed(text: str) -> None:
    parsed = parse_text(text)
    lines = text.split("\n")
    assert len(parsed.samples) == len(parsed.timestamps)
    assert len(parsed.malformed) == len(parsed.reasons) and all(parsed.reasons)
    numbers = [n for n, _ in parsed.malformed]
    assert numbers == sorted(set(numbers)) and all(1 <= n <= len(lines) for n in numbers)
    content = [line for line in lines if line.strip(" \t\r") and not line.lstrip(" \t").startswith("#")]
    # every sample line is read or counted as dropped; comment lines may be dropped too, never samples lost
    assert len(parsed.samples) + len(parsed.malformed) >= len(content)
    assert len(parsed.samples) <= len(content)
    for name, labels, value in parsed.samples:
        assert name and isinstance(value, float) and "__name__" not in labels
    for stamp in parsed.timestamps:
        assert stamp is None or math.isfinite(stamp)


@FUZZ
@given(st.lists(mutated(METRIC_SEEDS), min_size=1, max_size=8))
def test_fuzz_prometheus_text_from_real_lines(lines: list[str]) -> None:
    _check_parsed("\n".join(lines) + "\n")


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_prometheus_bytes(data: bytes) -> None:
    parsed = parse_text(data)
    assert len(parsed.samples) == len(parsed.timestamps)


LABEL_NAME = st.one_of(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True),
                       st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8))
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15).map(float))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'


def _plain(name: str, metric: bool) -> bool:
    import re
    return re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*" if metric else r"[a-zA-Z_][a-zA-Z0-9_]*", name) is not None


@FUZZ
@given(st.lists(st.tuples(LABEL_NAME, st.dictionaries(LABEL_NAME, st.text(st.characters(blacklist_categories=("Cs",)),
                                                                              max_size=10), max_size=3),
                          VALUES, st.one_of(st.none(), st.integers(-2**53, 2**53))), min_size=1, max_size=6))
def test_fuzz_exposition_round_trip(samples: list[tuple[str, dict[str, str], float, int | None]]) -> None:
    """Any samples written as expfmt writes them (quoted UTF-8 names where needed) read back the same."""
    rows = []
    for name, labels, value, stamp in samples:
        labels = {k: v for k, v in labels.items() if k != "__name__"}
        pairs = [f"{k if _plain(k, False) else _quote(k)}={_quote(v)}" for k, v in labels.items()]
        if _plain(name, True):
            head = name + ("{" + ",".join(pairs) + "}" if pairs else "")
        else:
            head = "{" + ",".join([_quote(name), *pairs]) + "}"
        number = "NaN" if math.isnan(value) else "+Inf" if value == math.inf else "-Inf" if value == -math.inf \
            else repr(value)
        rows.append(f"{head} {number}" + (f" {stamp}" if stamp is not None else ""))
    parsed = parse_text("\n".join(rows) + "\n")
    assert parsed.malformed == [], (rows, parsed.reasons)
    assert len(parsed.samples) == len(samples)
    for (name, labels, value, stamp), (got_name, got_labels, got_value), got_stamp in zip(
            samples, parsed.samples, parsed.timestamps):
        assert got_name == name and got_labels == {k: v for k, v in labels.items() if k != "__name__"}
        assert (math.isnan(value) and math.isnan(got_value)) or got_value == value
        assert (stamp is None and got_stamp is None) or got_stamp == stamp / 1000.0


@FUZZ
@given(mutated(LOG_SEEDS), st.floats(0, 4e9))
def test_fuzz_log_lines_from_real_lines(line: str, read_time: float) -> None:
    record = parse_line(line, target="t", instance="i", read_time=read_time)
    assert isinstance(record.ts, float) and math.isfinite(record.ts)
    assert isinstance(record.message, str) and isinstance(record.level, str) and isinstance(record.object_key, str)
    assert record.target == "t" and record.instance == "i"


@FUZZ
@given(st.text(max_size=300), st.floats(0, 4e9))
def test_fuzz_log_lines_from_any_text(line: str, read_time: float) -> None:
    record = parse_line(line, read_time=read_time)
    assert math.isfinite(record.ts)


@FUZZ
@given(st.lists(st.one_of(mutated(LOG_SEEDS), st.sampled_from(["\tvalue line", " >", ' > k="v"', "x=<", "\t"])),
                max_size=12))
def test_fuzz_assembler_keeps_every_line(lines: list[str]) -> None:
    """Without CRI partial lines, the assembled records hold exactly the physical lines, in order."""
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines if " stdout P " not in line
             and " stderr P " not in line]
    assembler = LineAssembler()
    out = [text for line in lines for text, _, _ in assembler.feed(line, now=0.0)]
    out += [text for text, _, _ in assembler.drain()]
    assert "\n".join(out) == "\n".join(lines)
    for text in out:
        parse_line(text, read_time=0.0)


def test_recorded_fuzz_regressions() -> None:
    """Inputs that once crashed a reader (kept in tests/fixtures/fuzz/) are read without an exception."""
    folder = FIXTURES / "fuzz"
    cases = sorted(folder.glob("*")) if folder.exists() else []
    for path in cases:
        data = path.read_bytes()
        if path.name.startswith("prometheus-"):
            _check_parsed(data.decode("utf-8", "surrogateescape"))
        else:
            for line in data.decode("utf-8", "replace").split("\n"):
                assert math.isfinite(parse_line(line, read_time=0.0).ts)
