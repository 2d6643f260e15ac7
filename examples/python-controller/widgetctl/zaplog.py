"""JSON logs in the shape zap writes for controller-runtime (level, ts, logger, msg, fields)."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

_LEVELS = {"debug": 0, "info": 1, "error": 2}


class Logger:
    """A tiny structured logger: one JSON object per line, like zap's production encoder."""

    def __init__(self, name: str = "", fields: dict[str, Any] | None = None,
                 stream: TextIO | None = None, level: str = "info",
                 lock: threading.Lock | None = None) -> None:
        self.name = name
        self.fields = dict(fields or {})
        self.stream = stream or sys.stderr
        self.level = level
        self._lock = lock or threading.Lock()

    def named(self, name: str) -> "Logger":
        full = f"{self.name}.{name}" if self.name else name
        return Logger(full, self.fields, self.stream, self.level, self._lock)

    def with_values(self, **fields: Any) -> "Logger":
        return Logger(self.name, {**self.fields, **fields}, self.stream, self.level, self._lock)

    def _write(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < _LEVELS[self.level]:
            return
        record: dict[str, Any] = {"level": level, "ts": time.time()}
        if self.name:
            record["logger"] = self.name
        record["msg"] = msg
        record.update(self.fields)
        record.update(fields)
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def debug(self, msg: str, **fields: Any) -> None:
        self._write("debug", msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        self._write("info", msg, fields)

    def error(self, msg: str, err: BaseException | str | None = None, **fields: Any) -> None:
        if err is not None:
            fields = {"error": str(err), **fields}
        self._write("error", msg, fields)


def go_duration(seconds: float) -> str:
    """Format seconds like Go's time.Duration.String(): 1.5s, 250ms, 2m0s."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"
    if seconds < 60:
        return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:.0f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes)}m{rest:.0f}s"


def parse_duration(text: str) -> float:
    """Parse a Go duration (``10m``, ``1h30m``, ``500ms``, ``0s``) or plain seconds into seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in units else ch
        if unit not in units or not num:
            raise ValueError(f"invalid duration {text!r}")
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    if num:
        raise ValueError(f"invalid duration {text!r}: missing unit")
    return total
