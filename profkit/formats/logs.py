"""Controller log lines -> LogRecord: zap JSON and console, klog text and JSON, Python logging and kopf, CRI, plain.

Lines that belong together (klog's multi-line ``key=<`` ... `` >`` values, CRI partial lines) are joined
by ``LineAssembler`` before they are parsed.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import time
from datetime import datetime
from typing import Any, Literal

from profkit.model import LogRecord

_CRI = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (stdout|stderr) ([FP]) ?(.*)$", re.S)
_KLOG = re.compile(r"([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s+(\d+) ([^\]\s]+?)(?::(\d+))?\] ?(.*)$", re.S)
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_KUBECTL_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (.*)$", re.S)
# zap's console encoder (kubebuilder's Development: true): TIME \t LEVEL \t [LOGGER \t] [CALLER \t] MSG [\t {json}]
_ZAP_CONSOLE = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?|\d{9,}(?:\.\d+)?)\t"
    r"(DEBUG|INFO|WARN|ERROR|DPANIC|PANIC|FATAL|debug|info|warn|error|dpanic|panic|fatal)\t(.*)$", re.S)
_CALLER = re.compile(r"\S+\.go:\d+$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PY_LEVELS = "DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|NOTSET"
_PY_STAMP = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
# Python logging: kopf's "[%(asctime)s] %(name)-20.20s [%(levelname)-8.8s] %(message)s" (with kopf's
# "[ns/name] " object prefix), basicConfig's "%(levelname)s:%(name)s:%(message)s", and the common
# "%(asctime)s - %(name)s - %(levelname)s - %(message)s" / "%(asctime)s %(levelname)s %(name)s %(message)s".
_PY_FORMATS = [
    re.compile(rf"\[(?P<ts>{_PY_STAMP})\] (?P<logger>\S+)\s+\[(?P<level>{_PY_LEVELS})\s*\] (?P<msg>.*)$", re.S),
    re.compile(rf"(?P<ts>{_PY_STAMP}) - (?P<logger>\S+) - (?P<level>{_PY_LEVELS}) - (?P<msg>.*)$", re.S),
    re.compile(rf"(?P<ts>{_PY_STAMP})\s+(?:\[(?P<level2>{_PY_LEVELS})\]|(?P<level>{_PY_LEVELS}))\s+"
               r"(?:\[?(?P<logger>[A-Za-z_][\w.]*)\]?:?\s+)?(?P<msg>.*)$", re.S),
    re.compile(rf"(?P<level>{_PY_LEVELS}):(?P<logger>[^:\s]+):(?P<msg>.*)$", re.S),
]
_KOPF_OBJECT = re.compile(r"\[([a-z0-9][-a-z0-9.]*(?:/[a-z0-9][-a-z0-9.]*)?)\] ")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|[+-]\d\d:?\d\d)?$")
_KEY = re.compile(r"[a-z0-9][-a-z0-9.]*(?:/[a-z0-9][-a-z0-9.]*)?$")
_KLOG_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "fatal"}
# JSON keys that become LogRecord attributes instead of staying in ``fields``.
_STANDARD = {"ts", "time", "timestamp", "level", "severity", "logger", "msg", "message", "caller", "v",
             "T", "L", "N", "M", "C", "@timestamp", "asctime", "levelname"}
# Zoned ISO timestamps already parsed: zap's RFC 3339 stamps repeat for every line of the same second.
_STAMPS: dict[str, float] = {}
_STAMPS_MAX = 4096


def parse_timestamp(value: Any) -> float | None:
    """Unix seconds from an epoch number (s or ms) or an ISO 8601 / RFC 3339 string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _epoch(value)
    if not isinstance(value, str):
        return None
    cached = _STAMPS.get(value)
    if cached is not None:
        return cached
    match = _ISO.match(value.strip())
    if match is None:
        if not _NUMBER.fullmatch(value.strip()):
            return None
        return _epoch(int(value) if value.strip().lstrip("-").isdigit() else float(value))
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not _real_time(year, month, day, hour, minute, min(second, 59)):
        return None
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    ts = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + fraction
    zone = match.group(8)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    elif zone is None:
        return _local(year, month, day, hour, minute, second, fraction)  # local time: not cached
    if len(_STAMPS) >= _STAMPS_MAX:
        _STAMPS.clear()
    _STAMPS[value] = ts
    return ts


def _epoch(value: float) -> float | None:
    """Seconds from an epoch number in s, ms, µs or ns (zap's --zap-time-encoding=epoch|millis|micros|nanos).

    The unit is told by the size: seconds of the years 1973-5138 are 1e8..1e11, so ms are 1e11..1e14,
    µs 1e14..1e17 and ns above. Integers are divided exactly (a float64 of ns would lose the µs).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    size = abs(value)
    for limit, divisor in ((1e17, 10**9), (1e14, 10**6), (1e11, 10**3)):
        if size >= limit:
            if size >= 1e20:
                return None
            return value / divisor if isinstance(value, float) else (value // divisor) + (value % divisor) / divisor
    return float(value)


def _real_time(year: int, month: int, day: int, hour: int, minute: int, second: int) -> bool:
    try:
        datetime(year, month, day, hour, minute, second)
    except (ValueError, OverflowError):
        return False
    return True


def _local(year: int, month: int, day: int, hour: int, minute: int, second: int, fraction: float) -> float | None:
    """A local wall-clock time as Unix seconds; None when it is no real time."""
    if not _real_time(year, month, day, hour, minute, min(second, 59)):
        return None
    try:
        return time.mktime((year, month, day, hour, minute, second, 0, 0, -1)) + fraction
    except (OverflowError, ValueError):
        return None


# Keys that name the reconciled object by its kind, in the normal Kubernetes style (klog's KObj under a
# lower-case key, controller-runtime <= 0.12 loggers under the lower-case kind).
_KIND_KEYS = {
    "pod", "node", "namespace_object", "deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob",
    "service", "endpoints", "endpointslice", "configmap", "secret", "ingress", "pvc", "persistentvolumeclaim",
    "persistentvolume", "pv", "serviceaccount", "lease", "cluster", "machine", "machineset", "machinedeployment",
    "machinepool", "machinehealthcheck", "kubeadmcontrolplane", "kubeadmconfig", "baremetalhost",
    "hostfirmwaresettings", "hostfirmwarecomponents", "firmwareschema", "preprovisioningimage", "bmceventsubscription",
    "dataimage", "metal3machine", "metal3cluster", "metal3data", "ippool", "ipclaim", "widget",
}
_KIND_NAME = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$")  # Widget, HostFirmwareSettings; not ID, URL


def _key_from(value: Any) -> str:
    """ns/name from a string ``ns/name`` or ``name`` or a ``{name, namespace}`` object; "" otherwise."""
    if isinstance(value, str):
        return value if _KEY.match(value) else ""
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]:
        ns = value.get("namespace")
        return f"{ns}/{value['name']}" if isinstance(ns, str) and ns else str(value["name"])
    return ""


def object_key_of(fields: dict[str, Any], logger: str = "") -> str:
    """namespace/name of the reconciled object from the fields controllers log.

    controller-runtime writes ``namespace``/``name`` and ``"Widget": {"name", "namespace"}``; its
    <= 0.12 loggers and BMO write the lower-case kind (``"hostfirmwaresettings": "metal3/host-7"``);
    klog's KObj writes ``pod="default/nginx"`` or ``Widget="demo/w-1"``; kopf writes
    ``"object": {...}``; some loggers write ``request``/``object``/``key`` strings. Keys that are not
    a kind (``ID``, ``URL``) never give the object.
    """
    name, namespace = fields.get("name"), fields.get("namespace")
    if isinstance(name, str) and name:
        return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name
    kinds = {str(fields[k]).lower() for k in ("controller", "controllerKind", "reconciler kind", "kind")
             if isinstance(fields.get(k), str)}
    if logger:  # controllers.HostFirmwareSettings logs its object under "hostfirmwaresettings"
        kinds.add(logger.rsplit(".", 1)[-1].lower())
    named = [k for k in fields if k.lower() in kinds or k in _KIND_KEYS]
    for key in named:
        found = _key_from(fields[key])
        if found:
            return found
    for value in fields.values():
        if isinstance(value, dict):
            found = _key_from(value)
            if found:
                return found
    for key in ["request", "object", "key"] + [k for k in fields if _KIND_NAME.match(k)]:
        value = fields.get(key)
        if isinstance(value, str) and _KEY.match(value):
            return value
    return ""


def _from_json(data: dict[str, Any], line: str, read_time: float) -> LogRecord:
    ts = None
    for key in ("ts", "time", "timestamp", "T", "@timestamp", "asctime"):
        if key in data:
            ts = parse_timestamp(data[key])
            if ts is not None:
                break
    message = data.get("msg", data.get("message", data.get("M", "")))
    level = data.get("level", data.get("severity", data.get("L", "")))
    if not level and "err" in data and "v" not in data:
        level = "error"  # Kubernetes components' JSON: errors carry "err" and no verbosity
    elif not level and isinstance(data.get("v"), int):
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
        logger=str(data.get("logger", data.get("N", ""))),
        controller=controller if isinstance(controller, str) else "",
        object_key=object_key_of(fields, str(data.get("logger", data.get("N", "")))),
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


# A klog key: anything up to '=' outside parentheses, so odd keys (``%!s(int=1)``, ``{name}``) are read too.
_KLOG_KEY = re.compile(r"\s*((?:[^\s=(\"]|\([^)\s]*\))+)=")
_KLOG_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_KLOG_MULTILINE = re.compile(r"<\n((?:\t[^\n]*\n)*?) >", re.S)


def _balanced(text: str, pos: int) -> int:
    """End of a ``{...}`` or ``[...]`` value starting at ``pos`` (brackets nest); -1 when unclosed."""
    depth = 0
    for index in range(pos, len(text)):
        char = text[index]
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
        elif char == "\n":
            return -1
    return -1


def parse_klog_kv(text: str) -> dict[str, Any]:
    """``key="value" key2=value2 key3=<`` multi-line `` >`` pairs of structured klog; values unquoted.

    A token that is no ``key=value`` is skipped, not the end of the fields.
    """
    fields: dict[str, Any] = {}
    pos, end = 0, len(text)
    while pos < end:
        match = _KLOG_KEY.match(text, pos)
        if match is None:
            skip = re.compile(r"\s*\S+").match(text, pos)  # not a key: skip one token and go on
            if skip is None:
                break
            pos = skip.end()
            continue
        key, pos = match.group(1), match.end()
        value: str
        if text.startswith('"', pos):
            quoted = _KLOG_QUOTED.match(text, pos)
            if quoted is None:
                value, pos = text[pos:], end
            else:
                value, pos = _go_unquote(quoted.group()), quoted.end()
        elif text.startswith("<\n", pos) and (multi := _KLOG_MULTILINE.match(text, pos)) is not None:
            value = "\n".join(line[1:] for line in multi.group(1).split("\n")[:-1])
            pos = multi.end()
        elif text.startswith(("{", "["), pos) and (close := _balanced(text, pos)) > 0:
            value, pos = text[pos:close], close
        else:
            bare = re.compile(r"\S*").match(text, pos)
            assert bare is not None
            value, pos = bare.group(), bare.end()
        fields[key] = value
    return fields


def _klog_year(month: int, day: int, reference: float) -> int:
    """klog omits the year: take the reference time's, or the previous one across New Year."""
    ref = time.localtime(reference)
    return ref.tm_year - 1 if (month, day) > (ref.tm_mon, ref.tm_mday + 1) else ref.tm_year


def _from_klog(match: re.Match[str], line: str, reference: float) -> LogRecord:
    sev, month, day, hour, minute, second, micros, thread, source, lineno, rest = match.groups()
    year = _klog_year(int(month), int(day), reference)
    stamp = _local(year, int(month), int(day), int(hour), int(minute), int(second),
                   float("0." + micros) if micros else 0.0)
    ts = stamp if stamp is not None else reference
    fields: dict[str, Any] = {"source": f"{source}:{lineno}" if lineno else source, "thread": int(thread)}
    message = rest.rstrip("\n")
    if message.startswith('"') and _KLOG_QUOTED.match(message) is not None:
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


def _from_zap_console(match: re.Match[str], line: str, read_time: float) -> LogRecord:
    stamp, level, rest = match.groups()
    parts = rest.split("\t")
    fields: dict[str, Any] = {}
    if len(parts) > 1 and parts[-1].startswith("{"):
        try:
            data = json.loads(parts[-1])
        except ValueError:
            data = None
        if isinstance(data, dict):
            fields = data
            parts = parts[:-1]
    callers = [p for p in parts[:-1] if _CALLER.match(p)]
    if callers:
        fields["caller"] = callers[0]
        parts = [p for p in parts if p is not callers[0]]
    logger = parts[0] if len(parts) > 1 else ""
    message = "\t".join(parts[1:] if len(parts) > 1 else parts)
    ts = parse_timestamp(stamp)
    controller = fields.get("controller", "")
    return LogRecord(ts=ts if ts is not None else read_time, target="", instance="", message=message,
                     level=level.lower(), logger=logger, controller=controller if isinstance(controller, str) else "",
                     object_key=object_key_of(fields), fields=fields, raw=line)


def _from_python(match: re.Match[str], line: str, read_time: float) -> LogRecord:
    groups = match.groupdict()
    message = groups["msg"].rstrip("\n")
    fields: dict[str, Any] = {}
    object_key = ""
    head, found, trace = message.partition("\nTraceback (most recent call last):")
    if found:  # an exception logged with its traceback (joined by LineAssembler)
        message, fields["traceback"] = head, found.lstrip("\n") + trace
    prefix = _KOPF_OBJECT.match(message)
    if prefix is not None:  # kopf's object prefix "[ns/name] "
        object_key, message = prefix.group(1), message[prefix.end():]
    ts = parse_timestamp(groups["ts"]) if groups.get("ts") else None
    level = (groups.get("level") or groups.get("level2") or "").lower()
    level = {"warn": "warning", "critical": "fatal"}.get(level, level)
    return LogRecord(ts=ts if ts is not None else read_time, target="", instance="", message=message,
                     level=level, logger=(groups.get("logger") or "").strip(), object_key=object_key,
                     fields=fields, raw=line)


def _parse(text: str, now: float) -> LogRecord | None:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _from_json(data, text, now)
    klog = _KLOG.match(stripped)
    if klog is not None:
        return _from_klog(klog, text, now)
    plain = _ANSI.sub("", stripped) if "\x1b[" in stripped else stripped
    zap = _ZAP_CONSOLE.match(plain)
    if zap is not None:
        return _from_zap_console(zap, text, now)
    for pattern in _PY_FORMATS:
        python = pattern.match(plain)
        if python is not None:
            return _from_python(python, text, now)
    return None


def parse_line(line: str, *, target: str = "", instance: str = "", read_time: float | None = None) -> LogRecord:
    """One log line (or one assembled multi-line record) as a LogRecord.

    Never raises; unknown formats become plain text at ``read_time`` (or the CRI / ``kubectl logs
    --timestamps`` prefix's time).
    """
    now = time.time() if read_time is None else read_time
    text = line.rstrip("\r\n")
    stream = ""
    prefixed = False
    cri = _CRI.match(text)
    if cri is not None:
        stamp = parse_timestamp(cri.group(1))
        now = stamp if stamp is not None else now
        stream, text = cri.group(2), cri.group(4)
    else:
        kubectl = _KUBECTL_STAMP.match(text)
        if kubectl is not None and (stamp := parse_timestamp(kubectl.group(1))) is not None:
            now, text, prefixed = stamp, kubectl.group(2), True
    try:
        record = _parse(text, now)
    except Exception:  # a format this reader gets wrong must still give a record, never a crash
        record = None
    if record is None:
        record = LogRecord(ts=now, target="", instance="", message=text, raw=text)
    if cri is not None:
        record.fields["stream"] = stream
    if (cri is not None or prefixed) and record.ts == 0:
        record.ts = now
    record.target, record.instance = target, instance
    return record


class LineAssembler:
    """Joins the physical lines of one log record before parsing.

    klog writes a multi-line value (also ``klog.Format`` output) as ``key=<`` then one line per value
    line starting with a tab, then `` >``; a CRI runtime splits a long line into ``P`` parts ending
    with an ``F`` part; Python logging (kopf's text format too) writes an exception's traceback on
    the lines after the record. ``feed`` returns the records that are complete; ``drain`` the rest
    (at the end of a stream, or when a record waited longer than ``hold`` seconds for its next line).
    """

    def __init__(self, hold: float = 1.0, max_lines: int = 10_000) -> None:
        self.hold = hold
        self.max_lines = max_lines
        self._open: list[str] = []  # physical lines of the record being assembled
        self._context: tuple[float | None, dict[str, str] | None] = (None, None)
        self._partial = False  # the open record ends in a CRI "P" part
        self._python: _Traceback = "none"  # where a Python record's traceback is
        self._since = 0.0

    def feed(self, line: str, stamp: float | None = None, fields: dict[str, str] | None = None,
             now: float | None = None) -> list[tuple[str, float | None, dict[str, str] | None]]:
        """Add one physical line; the records it completes, as ``(text, stamp, fields)``."""
        now = time.monotonic() if now is None else now
        text = line.rstrip("\r\n")
        out: list[tuple[str, float | None, dict[str, str] | None]] = []
        cri = _CRI.match(text)
        body = cri.group(4) if cri is not None else text
        if self._open:
            if self._partial and cri is not None:
                self._open[-1] += body
                self._partial = cri.group(3) == "P"
                self._since = now
                if not self._partial and not self._waits_for_more():
                    out.extend(self.drain())
                return out
            if self._python != "none" and self._traceback_line(body):
                self._open.append(body)
                self._since = now
                if len(self._open) >= self.max_lines:
                    out.extend(self.drain())
                return out
            if self._python == "none" and (body.startswith("\t") or body.startswith(" >")):
                self._open.append(body)
                self._since = now
                if body.startswith(" >") and not self._waits_for_more() or len(self._open) >= self.max_lines:
                    out.extend(self.drain())
                return out
            out.extend(self.drain())
        self._open = [text]
        self._context = (stamp, fields)
        self._since = now
        self._partial = cri is not None and cri.group(3) == "P"
        stripped = body.lstrip()
        self._python = "maybe" if (not stripped.startswith("{") and _KLOG.match(stripped) is None
                                   and any(p.match(stripped) for p in _PY_FORMATS)) else "none"
        if not self._partial and not self._waits_for_more() and self._python == "none":
            out.extend(self.drain())
        return out

    def _traceback_line(self, body: str) -> bool:
        """Whether ``body`` continues the open Python record's traceback (and advance the state)."""
        if self._python == "maybe":
            if body == "Traceback (most recent call last):":
                self._python = "frames"
                return True
            return False
        if self._python == "frames":
            if body.startswith(" "):
                return True
            if _starts_record(body):
                return False
            self._python = "raised"  # the exception line ends the traceback
            return True
        if body.startswith(("During handling of the above exception", "The above exception was the direct cause")):
            self._python = "maybe"
            return True
        return False

    def _waits_for_more(self) -> bool:
        """True while the open record's last line opens a klog multi-line value (``key=<``)."""
        last = self._open[-1]
        return last.endswith("=<") and (len(self._open) > 1 or _KLOG.match(_CRI.sub(r"\4", last).lstrip()) is not None)

    def stale(self, now: float | None = None) -> bool:
        """A record has been waiting for its next line longer than ``hold`` seconds."""
        now = time.monotonic() if now is None else now
        return bool(self._open) and now - self._since >= self.hold

    def drain(self) -> list[tuple[str, float | None, dict[str, str] | None]]:
        """The open record, complete or not (nothing when none is open)."""
        if not self._open:
            return []
        text = "\n".join(self._open)
        stamp, fields = self._context
        self._open, self._partial, self._python = [], False, "none"
        return [(text, stamp, fields)]


_Traceback = Literal["none", "maybe", "frames", "raised"]


def _starts_record(body: str) -> bool:
    """Whether a line starts a log record of a known format (so it is no exception line)."""
    stripped = body.lstrip()
    return (stripped.startswith("{") or _KLOG.match(stripped) is not None or _ZAP_CONSOLE.match(stripped) is not None
            or _CRI.match(body) is not None or any(p.match(stripped) for p in _PY_FORMATS))
