"""Client-go throttling waits in controller logs (both log formats) and whether a target is throttled.

A helper module (it registers no analyzer): client-side-throttling, concurrency-saturation,
slow-reconcile, the summary, compare and the report's throttling panel read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from profkit.analyze.metrics_math import fraction, series_of, summed_rate
from profkit.bundle.reader import BundleView
from profkit.model import LogRecord
from profkit.model.metric_names import REST_CLIENT_REQUESTS

# client-go <= 0.32 (klog text, request.go):
#   Waited for 1.18s due to client-side throttling, not priority and fairness, request: GET:https://...
OLD_LINE = re.compile(
    r"Waited for (?P<delay>[0-9.]+[µa-z]+) due to (?P<reason>client-side throttling[^,]*(?:, not priority and fairness)?)"
    r"(?:, request: (?P<verb>[A-Z]+):(?P<url>\S+))?")
# client-go >= 0.33 (structured): "Waited before sending request" delay="1.18s" reason="client-side ..." verb="GET" URL="..."
NEW_MESSAGE = "Waited before sending request"
KV = re.compile(r'\b(delay|reason|verb|URL)="([^"]*)"')
GO_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Wait:
    """One throttled request as client-go logged it."""

    ts: float
    delay: float
    verb: str
    url: str
    line: str


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration string (``1.18s``, ``512.3ms``, ``1m2.5s``, ``850µs``), None if not one."""
    text = text.strip()
    pos, total = 0, 0.0
    for m in GO_DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos else None


def parse_wait(r: LogRecord) -> Wait | None:
    """A throttling wait from a log record in either client-go format, or None."""
    line = r.raw or r.message
    m = OLD_LINE.search(r.message) or OLD_LINE.search(line)
    delay: float | None
    if m:
        delay = go_duration(m.group("delay"))
        if delay is not None:
            return Wait(r.ts, delay, m.group("verb") or "", m.group("url") or "", line)
    if NEW_MESSAGE not in r.message and NEW_MESSAGE not in line:
        return None
    values = {k: str(v) for k, v in r.fields.items() if k in ("delay", "reason", "verb", "URL", "url")}
    if not values.keys() >= {"delay", "reason", "verb", "URL"}:  # structured zap lines have them all as fields
        for key, value in KV.findall(line):
            values.setdefault(key, value)
    reason = values.get("reason", "client-side throttling")
    if "throttl" not in reason:
        return None
    raw_delay = r.fields.get("delay")
    if isinstance(raw_delay, (int, float)) and not isinstance(raw_delay, bool):
        # zap encodes a time.Duration as float seconds (production) or integer nanoseconds.
        delay = raw_delay / 1e9 if isinstance(raw_delay, int) and raw_delay > 100_000 else float(raw_delay)
    else:
        delay = go_duration(values.get("delay", ""))
    if delay is None:
        return None
    return Wait(r.ts, delay, values.get("verb", ""), values.get("URL", values.get("url", "")), line)


def is_throttled(view: BundleView, target: str, qps: float, pinned_ratio: float = 0.9, pinned_share: float = 0.5
                 ) -> bool:
    """Whether the target's API calls wait on client-side throttling (log lines, or requests pinned at QPS).

    Other analyzers use it to say "workers are blocked on the rate limiter" instead of
    blaming concurrency or slow code for what the QPS limit causes.
    """
    for needle in ("client-side throttling", NEW_MESSAGE):
        for r in view.logs(target=target, contains=needle):
            if parse_wait(r) is not None:
                return True
    if qps <= 0:
        return False
    rates = summed_rate(series_of(view, REST_CLIENT_REQUESTS, target=target))
    return bool(rates) and fraction(rates, lambda v: v >= pinned_ratio * qps) >= pinned_share
