"""Controller log lines -> LogRecord: zap/controller-runtime JSON, klog text (plain and structured), CRI, plain."""

from __future__ import annotations

import calendar
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from profkit.model import LogRecord

_CRI = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (stdout|stderr) ([FP]) ?(.*)$", re.S)
_KLOG = re.compile(r"([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s+(\d+) ([^\]\s]+?)(?::(\d+))?\] ?(.*)$", re.S)
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|[+-]\d\d:?\d\d)?$")
_KV = re.compile(r'\s*([A-Za-z_][\w./-]*)=("(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\[\]]*\]|\S*)')
_KEY = re.compile(r"[a-z0-9][-a-z0-9.]*(?:/[a-z0-9][-a-z0-9.]*)?$")
_KLOG_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "fatal"}
# JSON keys that become LogRecord attributes instead of staying in ``fields``.
_STANDARD = {"ts", "time", "timestamp", "level", "severity", "logger", "msg", "message", "caller", "v"}
# Zoned ISO timestamps already parsed: zap's RFC 3339 stamps repeat for every line of the same second.
_STAMPS: dict[str, float] = {}
_STAMPS_MAX = 4096


def parse_timestamp(value: Any) -> float | None:
    """Unix seconds from an epoch number (s or ms) or an ISO 8601 / RFC 3339 string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        ts = float(value)
        return ts / 1000.0 if ts > 1e11 else ts  # klog's JSON logger and some zap configs write ms
    if not isinstance(value, str):
        return None
    cached = _STAMPS.get(value)
    if cached is not None:
        return cached
    match = _ISO.match(value.strip())
    if match is None:
        try:
            return parse_timestamp(float(value))
        except ValueError:
            return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    ts = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + fraction
    zone = match.group(8)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    elif zone is None:
        return time.mktime((year, month, day, hour, minute, second, 0, 0, -1)) + fraction  # local: not cached
    if len(_STAMPS) >= _STAMPS_MAX:
        _STAMPS.clear()
    _STAMPS[value] = ts
    return ts


def object_key_of(fields: dict[str, Any]) -> str:
    """namespace/name of the reconciled object from the fields controllers log.

    controller-runtime writes ``namespace``/``name`` and ``"Widget": {"name", "namespace"}``;
    BMO writes lowercase kinds (``"hostfirmwaresettings": {...}``); klog's KObj writes
    ``Widget="demo/w-1"``; some loggers write ``request``/``object``/``key`` strings.
    """
    name, namespace = fields.get("name"), fields.get("namespace")
    if isinstance(name, str) and name:
        return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name
    for value in fields.values():
        if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]:
            ns = value.get("namespace")
            return f"{ns}/{value['name']}" if isinstance(ns, str) and ns else str(value["name"])
    for key in ["request", "object", "key"] + [k for k in fields if k[:1].isupper()]:
        value = fields.get(key)
        if isinstance(value, str) and _KEY.match(value):
            return value
    return ""


def _from_json(data: dict[str, Any], line: str, read_time: float) -> LogRecord:
    ts = None
    for key in ("ts", "time", "timestamp"):
        if key in data:
            ts = parse_timestamp(data[key])
            if ts is not None:
                break
    message = data.get("msg", data.get("message", ""))
    level = data.get("level", data.get("severity", ""))
    if not level and isinstance(data.get("v"), int):
        level = "info"  # klog JSON writes the verbosity, not a level, for info lines
    fields = {k: v for k, v in data.items() if k not in _STANDARD}
    if "caller" in data:
        fields["caller"] = data["caller"]
    controller = fields.get("controller", "")
    return LogRecord(
        ts=ts if ts is not None else read_time,
        target="",
        instance="",
        message=str(message),
        level=str(level).lower(),
        logger=str(data.get("logger", "")),
        controller=controller if isinstance(controller, str) else "",
        object_key=object_key_of(fields),
        fields=fields,
        raw=line,
    )


def _go_unquote(text: str) -> str:
    """Undo Go's %q quoting of a klog value (good enough for messages and values)."""
    try:
        value = json.loads(text)
        return value if isinstance(value, str) else text
    except ValueError:
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def parse_klog_kv(text: str) -> dict[str, Any]:
    """``key="value" key2=value2`` pairs of structured klog; values unquoted."""
    fields: dict[str, Any] = {}
    pos = 0
    while pos < len(text):
        match = _KV.match(text, pos)
        if match is None or match.end() == pos:
            break
        key, value = match.group(1), match.group(2)
        fields[key] = _go_unquote(value) if value.startswith('"') else value
        pos = match.end()
    return fields


def _klog_year(month: int, day: int, reference: float) -> int:
    """klog omits the year: take the reference time's, or the previous one across New Year."""
    ref = time.localtime(reference)
    return ref.tm_year - 1 if (month, day) > (ref.tm_mon, ref.tm_mday + 1) else ref.tm_year


def _from_klog(match: re.Match[str], line: str, reference: float) -> LogRecord:
    sev, month, day, hour, minute, second, micros, thread, source, lineno, rest = match.groups()
    year = _klog_year(int(month), int(day), reference)
    ts = time.mktime((year, int(month), int(day), int(hour), int(minute), int(second), 0, 0, -1))
    ts += float("0." + micros) if micros else 0.0
    fields: dict[str, Any] = {"source": f"{source}:{lineno}" if lineno else source, "thread": int(thread)}
    message = rest.rstrip("\n")
    if message.startswith('"'):
        # Structured klog: "msg" key="value" ...; the message is a Go-quoted string.
        end = 1
        while end < len(message):
            if message[end] == "\\":
                end += 2
                continue
            if message[end] == '"':
                break
            end += 1
        quoted, tail = message[: end + 1], message[end + 1:]
        message = _go_unquote(quoted)
        fields.update(parse_klog_kv(tail))
    controller = fields.get("controller", "")
    return LogRecord(
        ts=ts,
        target="",
        instance="",
        message=message,
        level=_KLOG_LEVELS[sev],
        logger=str(fields.get("logger", "")),
        controller=controller if isinstance(controller, str) else "",
        object_key=object_key_of(fields),
        fields=fields,
        raw=line,
    )


def parse_line(line: str, *, target: str = "", instance: str = "", read_time: float | None = None) -> LogRecord:
    """One log line as a LogRecord. Never raises; unknown formats become plain text at ``read_time``."""
    now = time.time() if read_time is None else read_time
    text = line.rstrip("\r\n")
    stream = ""
    cri = _CRI.match(text)
    if cri is not None:
        stamp = parse_timestamp(cri.group(1))
        now = stamp if stamp is not None else now
        stream, text = cri.group(2), cri.group(4)
    record: LogRecord | None = None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            record = _from_json(data, text, now)
    if record is None:
        klog = _KLOG.match(stripped)
        if klog is not None:
            record = _from_klog(klog, text, now)
    if record is None:
        record = LogRecord(ts=now, target="", instance="", message=text, raw=text)
    if cri is not None:
        record.fields["stream"] = stream
        if record.ts == 0:
            record.ts = now
    record.target, record.instance = target, instance
    return record


def iso(ts: float) -> str:
    """An RFC 3339 UTC string with microseconds (for tests and CRI-style output)."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
