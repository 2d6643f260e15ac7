"""Prometheus text exposition (0.0.4) parser: samples, family types and help, malformed lines counted."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

Sample = tuple[str, dict[str, str], float]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
# name, optional {labels}, value, optional timestamp (ms). The label block is matched greedily up to
# the last '}' (values and timestamps never hold one) and then parsed strictly by _LABEL below.
_SAMPLE = re.compile(rf"\s*({_NAME})\s*(?:\{{(.*)\}})?\s*(\S+)(?:\s+(-?\d+))?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_META = re.compile(rf"#\s*(HELP|TYPE)\s+({_NAME})(?:\s+(.*))?$")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|inf|NaN|nan)$")
_ESCAPE = re.compile(r"\\(.)")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "gaugehistogram", "info", "stateset"}
_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("_sum", "_count", "_created"),
    "counter": ("_total", "_created"),
    "info": ("_info",),
}


@dataclass
class ParsedMetrics:
    """One parsed scrape. ``samples`` keep exposition order; ``timestamps`` is parallel to them."""

    samples: list[Sample] = field(default_factory=list)
    timestamps: list[float | None] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # family -> counter | gauge | histogram ...
    help: dict[str, str] = field(default_factory=dict)
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (1-based line number, line)

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
        """One line naming the malformed lines, for a capture error event ("" when none)."""
        if not self.malformed:
            return ""
        number, line = self.malformed[0]
        more = f" (and {len(self.malformed) - 1} more)" if len(self.malformed) > 1 else ""
        return f"malformed /metrics line {number} skipped{more}: {line[:120]!r}"


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_labels(text: str) -> dict[str, str] | None:
    """Labels inside ``{...}``, unescaped; None when the text is not a valid label set."""
    labels: dict[str, str] = {}
    pos, end = 0, len(text)
    while pos < end:
        match = _LABEL.match(text, pos)
        if match is None:
            return None if text[pos:].strip() else labels
        labels[match.group(1)] = _unescape(match.group(2))
        pos = match.end()
        if not match.group(3):  # no comma: must be the end
            return labels if not text[pos:].strip() else None
    return labels


def parse_value(text: str) -> float | None:
    """A sample value (``+Inf``, ``-Inf``, ``NaN`` included); None when it is not a number."""
    if not _FLOAT.match(text):
        return None
    return float(text)


def parse_text(text: str | bytes) -> ParsedMetrics:
    """Parse a whole exposition. Never raises on content: bad lines land in ``malformed``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    out = ParsedMetrics()
    samples, stamps = out.samples, out.timestamps
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.isspace():
            continue
        if line.lstrip().startswith("#"):
            meta = _META.match(line.strip())
            if meta is None:
                continue  # a plain comment
            kind, name, rest = meta.group(1), meta.group(2), (meta.group(3) or "").strip()
            if kind == "TYPE":
                if rest.lower() not in _TYPES:
                    out.malformed.append((number, line))
                    continue
                out.types[name] = rest.lower()
            else:
                out.help[name] = rest.replace("\\n", "\n").replace("\\\\", "\\")
            continue
        match = _SAMPLE.match(line)
        if match is None:
            out.malformed.append((number, line))
            continue
        name, label_text, value_text, stamp_text = match.groups()
        value = parse_value(value_text)
        if value is None:
            out.malformed.append((number, line))
            continue
        labels: dict[str, str] | None = {}
        if label_text is not None and label_text.strip():
            labels = parse_labels(label_text)
        if labels is None:
            out.malformed.append((number, line))
            continue
        samples.append((name, labels, value))
        stamps.append(int(stamp_text) / 1000.0 if stamp_text else None)
    return out


def is_finite(value: float) -> bool:
    return not (math.isinf(value) or math.isnan(value))
