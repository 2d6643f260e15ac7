"""Prometheus text exposition parser (0.0.4, UTF-8 names): samples, family types and help; bad lines counted.

The grammar follows prometheus/common's ``expfmt.TextParser`` (UTF-8 validation scheme), line by
line: where the reference stops the whole parse at the first error, profkit drops that one line,
records it in ``malformed`` with the reason, and goes on. Deliberate leniencies (the reference
refuses these; a scrape loses nothing by accepting them): trailing blanks after the value or
timestamp, a ``\\r`` before the ``\\n``, a last line without ``\\n``, and OpenMetrics' extra TYPE
names (``unknown``, ``info``, ``stateset``, ``gaugehistogram``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

Sample = tuple[str, dict[str, str], float]

# Go's strconv.ParseFloat, decimal form only: expfmt refuses 'p', 'P' and '_' (hex floats and
# digit separators), so hex never parses. Python's float() would also take '1_0', '+nan' and
# non-ASCII digits, which Go refuses.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITY = re.compile(r"[+-]?(?:inf|infinity)", re.IGNORECASE)
_NAN = re.compile(r"nan", re.IGNORECASE)
_INT64 = re.compile(r"[+-]?[0-9]+")
_BLANKS = re.compile(r"[ \t]*")
_UNTIL_BLANK = re.compile(r"[^ \t]*")
_METRIC_RUN = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RUN = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_QUOTED_PLAIN = re.compile(r'[^"\\]*')  # the part of a quoted string up to a quote or backslash
_SURROGATE = re.compile("[\udc80-\udcff]")
# The common shape of a sample line (plain names, label values without escapes), read in one match;
# anything else goes through the full scanner, which gives the same result for these lines.
_PLAIN_LABEL = r'[ \t]*[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"[^"\\]*"[ \t]*'
_PLAIN_SAMPLE = re.compile(
    rf"[ \t]*([a-zA-Z_:][a-zA-Z0-9_:]*)(?:[ \t]*\{{((?:{_PLAIN_LABEL},)*(?:{_PLAIN_LABEL})?[ \t]*)\}}|(?=[ \t]))"
    r"[ \t]*([^ \t]+)(?:[ \t]+([^ \t]+))?[ \t]*"
)
_PLAIN_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\]*)"')  # bytes that were not UTF-8 (decoded with surrogateescape)
_NAME_ESCAPES = {"\\": "\\", "n": "\n", '"': '"'}
_INT64_MAX = 2**63 - 1
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "gaugehistogram", "info", "stateset"}
_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("_sum", "_count", "_created"),
    "counter": ("_total", "_created"),
    "info": ("_info",),
}


class _LineError(Exception):
    """Why one exposition line was dropped (the reference parser's words where it has them)."""


@dataclass
class ParsedMetrics:
    """One parsed scrape. ``samples`` keep exposition order; ``timestamps`` is parallel to them."""

    samples: list[Sample] = field(default_factory=list)
    timestamps: list[float | None] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # family -> counter | gauge | histogram ...
    help: dict[str, str] = field(default_factory=dict)
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (1-based line number, line)
    reasons: list[str] = field(default_factory=list)  # parallel to ``malformed``: why the line was dropped

    @property
    def dropped(self) -> Counter[str]:
        """How many lines were dropped for each reason."""
        return Counter(self.reasons)

    def family_of(self, sample_name: str) -> str:
        """The family a sample belongs to (``x_bucket`` of histogram ``x`` -> ``x``)."""
        if sample_name in self.types:
            return sample_name
        for family_type, suffixes in _SUFFIXES.items():
            for suffix in suffixes:
                if sample_name.endswith(suffix):
                    base = sample_name[: -len(suffix)]
                    if self.types.get(base) == family_type:
                        return base
        return sample_name

    def type_of(self, sample_name: str) -> str:
        """``counter``, ``gauge``, ``histogram``, ``summary`` or ``untyped`` for a sample name."""
        return self.types.get(self.family_of(sample_name), "untyped")

    def error_summary(self) -> str:
        """One line naming the dropped lines and why, for a capture error event ("" when none)."""
        if not self.malformed:
            return ""
        number, line = self.malformed[0]
        reason = self.reasons[0] if self.reasons else "malformed"
        more = f" (and {len(self.malformed) - 1} more)" if len(self.malformed) > 1 else ""
        return f"malformed /metrics line {number} skipped ({reason}){more}: {line[:120]!r}"


def parse_value(text: str) -> float | None:
    """A sample value as Go's strconv.ParseFloat reads it (``Inf``, ``+Infinity``, ``NaN`` in any case);
    None when it is not a number or overflows float64 (Go: "value out of range")."""
    if _DECIMAL.fullmatch(text):
        value = float(text)
        return None if math.isinf(value) else value
    if _INFINITY.fullmatch(text):
        return -math.inf if text[0] == "-" else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    return None


def _quoted(line: str, pos: int, escapes: dict[str, str], what: str) -> tuple[str, int]:
    """The string after the opening quote at ``pos - 1``, and the position after its closing quote."""
    parts: list[str] = []
    end = len(line)
    while True:
        plain = _QUOTED_PLAIN.match(line, pos)
        assert plain is not None  # the pattern matches the empty string
        parts.append(plain.group())
        pos = plain.end()
        if pos >= end:
            raise _LineError(f"{what} contains unescaped new-line")
        if line[pos] == '"':
            return "".join(parts), pos + 1
        escaped = line[pos + 1] if pos + 1 < end else "\n"
        if escaped not in escapes:
            raise _LineError(f"invalid escape sequence '\\{escaped}'")
        parts.append(escapes[escaped])
        pos += 2


def _name(line: str, pos: int, run: re.Pattern[str], what: str) -> tuple[str, int]:
    """A metric or label name: an unquoted run, optionally continued by one quoted part that ends it."""
    token = ""
    plain = run.match(line, pos)
    if plain is not None:
        token, pos = plain.group(), plain.end()
    if pos < len(line) and line[pos] == '"':
        quoted, pos = _quoted(line, pos + 1, _NAME_ESCAPES, what)
        token += quoted
    if _SURROGATE.search(token):
        raise _LineError(f"{what} {token!r} is not valid UTF-8")
    return token, pos


def _blanks(line: str, pos: int) -> int:
    match = _BLANKS.match(line, pos)
    assert match is not None
    return match.end()


class _Parser:
    """Per-scrape state the reference keeps across lines: which families have a TYPE, HELP or samples."""

    def __init__(self, out: ParsedMetrics) -> None:
        self.out = out
        self.typed: set[str] = set()  # families with a TYPE line or samples (a later TYPE is refused)
        self.helped: set[str] = set()
        self.undecodable = False  # the scrape held bytes that are not UTF-8

    def family(self, name: str) -> str:
        """The family a sample name joins, as expfmt's setOrCreateCurrentMF picks it."""
        types = self.out.types
        if name in self.typed or name in self.helped:
            return name
        for suffix in ("_count", "_sum", "_bucket"):
            if name.endswith(suffix) and len(name) > len(suffix):
                base = name[: -len(suffix)]
                if types.get(base) == "histogram" or (suffix != "_bucket" and types.get(base) == "summary"):
                    return base
        return name

    def comment(self, line: str, pos: int) -> None:
        pos = _blanks(line, pos + 1)
        keyword_match = _UNTIL_BLANK.match(line, pos)
        assert keyword_match is not None
        keyword, pos = keyword_match.group(), keyword_match.end()
        if keyword not in ("HELP", "TYPE") or pos >= len(line):
            return  # a plain comment
        pos = _blanks(line, pos)
        name, pos = _name(line, pos, _METRIC_RUN, "metric name")
        if pos >= len(line):
            return
        if line[pos] not in " \t":
            raise _LineError("invalid metric name in comment")
        if not name:
            raise _LineError('invalid metric name ""')
        pos = _blanks(line, pos)
        if pos >= len(line):
            return
        rest = line[pos:]
        if keyword == "HELP":
            if name in self.helped:
                raise _LineError(f"second HELP line for metric name {name!r}")
            text = _help_text(rest) if "\\" in rest else rest
            self.helped.add(name)
            self.out.help[name] = _SURROGATE.sub("\ufffd", text)
            return
        if name in self.typed:
            raise _LineError(f"second TYPE line for metric name {name!r}, or TYPE reported after samples")
        kind = rest.rstrip(" \t").lower()
        kind = "gaugehistogram" if kind == "gauge_histogram" else kind
        if kind not in _TYPES:
            raise _LineError(f"unknown metric type {rest!r}")
        self.typed.add(name)
        self.out.types[name] = kind

    def plain_sample(self, line: str) -> tuple[str, dict[str, str], float, float | None] | None:
        """The fast path for a common line; None when the line needs the full scanner (or is bad)."""
        match = _PLAIN_SAMPLE.fullmatch(line)
        if match is None or (self.undecodable and _SURROGATE.search(line)):
            return None
        name, label_text, value_text, stamp_text = match.groups()
        pairs = _PLAIN_PAIR.findall(label_text) if label_text else []
        labels = dict(pairs)
        if len(labels) != len(pairs) or "__name__" in labels:
            return None
        family = self.family(name)
        family_type = self.out.types.get(family)
        special = "quantile" if family_type == "summary" else "le" if family_type == "histogram" else ""
        if special in labels and parse_value(labels[special]) is None:
            return None
        value = parse_value(value_text)
        if value is None:
            return None
        stamp: float | None = None
        if stamp_text is not None:
            if not _INT64.fullmatch(stamp_text) or abs(int(stamp_text)) > _INT64_MAX:
                return None
            stamp = int(stamp_text) / 1000.0
        self.typed.add(family)
        return name, labels, value, stamp

    def sample(self, line: str, pos: int) -> tuple[str, dict[str, str], float, float | None]:
        labels: dict[str, str] = {}
        name = ""
        inside_braces = line[pos] == "{"
        if not inside_braces:
            name, pos = _name(line, pos, _METRIC_RUN, "metric name")
            if not name:
                raise _LineError("invalid metric name")
            if pos < len(line) and line[pos] in " \t":
                pos = _blanks(line, pos)
        family = self.family(name) if name else ""
        if pos < len(line) and line[pos] == "{":
            name, family, pos = self.labels(line, pos + 1, name, family, inside_braces, labels)
        value_match = _UNTIL_BLANK.match(line, pos)
        assert value_match is not None
        value_text, pos = value_match.group(), value_match.end()
        value = parse_value(value_text)
        if value is None:
            raise _LineError(f"expected float as value, got {value_text!r}")
        stamp: float | None = None
        pos = _blanks(line, pos)
        if pos < len(line):
            stamp_match = _UNTIL_BLANK.match(line, pos)
            assert stamp_match is not None
            stamp_text, pos = stamp_match.group(), stamp_match.end()
            if not _INT64.fullmatch(stamp_text) or abs(int(stamp_text)) > _INT64_MAX:
                raise _LineError(f"expected integer as timestamp, got {stamp_text!r}")
            stamp = int(stamp_text) / 1000.0
            if _blanks(line, pos) < len(line):
                raise _LineError(f"spurious string after timestamp: {line[pos:]!r}")
        self.typed.add(family)
        return name, labels, value, stamp

    def labels(self, line: str, pos: int, name: str, family: str, inside_braces: bool,
               labels: dict[str, str]) -> tuple[str, str, int]:
        """Read ``label="value", ...}`` (and a quoted metric name inside the braces); position after ``}``."""
        end = len(line)
        while True:
            pos = _blanks(line, pos)
            if pos >= end:
                raise _LineError("unexpected end of label set")
            if line[pos] == "}":
                break
            label, pos = _name(line, pos, _LABEL_RUN, "label name")
            if not label:
                raise _LineError(f"invalid label name for metric {name!r}")
            pos = _blanks(line, pos)
            if pos >= end or line[pos] != "=":
                if inside_braces and pos < end and line[pos] in ",}":
                    if name:
                        raise _LineError(f"multiple metric names for metric {name!r}")
                    name, family = label, self.family(label)
                    if line[pos] == ",":
                        pos += 1
                        continue
                    break
                raise _LineError(f"expected '=' after label name {label!r}")
            if label == "__name__":
                raise _LineError('label name "__name__" is reserved')
            pos = _blanks(line, pos + 1)
            if pos >= end or line[pos] != '"':
                raise _LineError(f"expected '\"' at start of label value of {label!r}")
            value, pos = _quoted(line, pos + 1, _NAME_ESCAPES, "label value")
            if _SURROGATE.search(value):
                raise _LineError(f"label value of {label!r} is not valid UTF-8")
            family_type = self.out.types.get(family)
            special = (family_type == "summary" and label == "quantile") or (
                family_type == "histogram" and label == "le")
            if special and parse_value(value) is None:
                raise _LineError(f"expected float as value for {label!r} label, got {value!r}")
            if label in labels and not special:
                raise _LineError(f"duplicate label names for metric {name!r}")
            labels[label] = value
            pos = _blanks(line, pos)
            if pos < end and line[pos] == ",":
                pos += 1
                continue
            if pos < end and line[pos] == "}":
                break
            raise _LineError(f"unexpected end of label value {value!r}")
        if not name:
            raise _LineError("invalid metric name")
        return name, family, _blanks(line, pos + 1)


def _help_text(text: str) -> str:
    """HELP docstring escapes: ``\\\\`` -> backslash, ``\\n`` -> newline, ``\\"`` -> quote; others refused."""
    parts: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        slash = text.find("\\", pos)
        if slash < 0:
            parts.append(text[pos:])
            break
        parts.append(text[pos:slash])
        escaped = text[slash + 1] if slash + 1 < end else "\n"
        if escaped not in _NAME_ESCAPES:
            raise _LineError(f"invalid escape sequence '\\{escaped}'")
        parts.append(_NAME_ESCAPES[escaped])
        pos = slash + 2
    return "".join(parts)


def parse_text(text: str | bytes) -> ParsedMetrics:
    """Parse a whole exposition. Never raises on content: dropped lines land in ``malformed`` with a reason."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    out = ParsedMetrics()
    parser = _Parser(out)
    parser.undecodable = _SURROGATE.search(text) is not None
    plain_sample = parser.plain_sample
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        try:
            plain = plain_sample(line)
            if plain is not None:
                name, labels, value, stamp = plain
            else:
                pos = _blanks(line, 0)
                if pos >= len(line):
                    continue
                if line[pos] == "#":
                    parser.comment(line, pos)
                    continue
                name, labels, value, stamp = parser.sample(line, pos)
        except _LineError as exc:
            out.malformed.append((number, _SURROGATE.sub("\ufffd", line)))
            out.reasons.append(str(exc))
            continue
        out.samples.append((name, labels, value))
        out.timestamps.append(stamp)
    return out
