"""Parsing and printing of durations, byte sizes and CPU amounts as users type and read them."""

from __future__ import annotations

import re

from profkit.errors import BadInput

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str, *, flag: str = "duration") -> float:
    """Seconds in ``30s``, ``5m``, ``1h30m``, ``250ms`` or a bare number of seconds."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        number, unit = float(match.group(1)), match.group(2)
        total += number * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        pos = match.end()
    if pos != len(value) or not value:
        raise BadInput(f"--{flag} {text!r}: not a duration (use e.g. 30s, 5m, 1h)")
    return total


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; short values keep milliseconds (µs and ns below a millisecond)."""
    if 0 < seconds < 1e-6:
        return f"{seconds * 1e9:.3g}ns"
    if 0 < seconds < 1e-3:
        return f"{seconds * 1e6:.3g}µs"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def format_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{value:.0f} B"
        value /= 1024
    return f"{value:.1f} GiB"


def format_number(value: float, unit: str = "") -> str:
    """A number as text people read: sensible precision, and the unit (``bytes`` as KiB/MiB,
    ``seconds`` as a duration, ``per_second`` as /s). Machine output keeps full precision instead."""
    if unit == "bytes":
        return format_bytes(value)
    if unit == "seconds":
        return format_duration(value)
    if unit == "percent":
        return f"{value:.0%}"
    if unit == "cores" and value == 1:
        return "1 core"
    magnitude = abs(value)
    if value == int(value) and magnitude < 1e15:
        text = f"{int(value)}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 1:
        text = f"{value:.3g}" if magnitude < 10 else f"{value:.1f}"
    else:
        text = f"{value:.2g}"
    suffix = {"per_second": "/s", "cores": " cores", "ratio": "", "": ""}.get(unit, f" {unit}")
    return text + suffix


def plural(count: float, singular: str, plural_form: str | None = None) -> str:
    """``1 object``, ``3 objects`` (``plural_form`` for irregular words)."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{format_number(count)} {word}"
