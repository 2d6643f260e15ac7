"""/metrics collector: scrape the Prometheus text endpoint every interval and keep every series."""

from __future__ import annotations

import math
import threading
import time

from profkit.formats.prometheus import parse_text
from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.sources.http import Fetcher, FetchError

DEFAULT_PATH = "/metrics"


class MetricsCollector(Collector):
    """Scrapes ``path`` every ``scrape_interval`` seconds; malformed lines are skipped and reported."""

    kind = "metrics"

    def __init__(
        self, sink: Sink, target: str, instance: str, options: CaptureOptions, fetcher: Fetcher,
        path: str = DEFAULT_PATH,
    ) -> None:
        super().__init__(sink, target, instance, options)
        self.fetcher = fetcher
        self.path = path
        self.types: dict[str, str] = {}  # family -> TYPE, kept across scrapes (stored once in target meta)
        self._last_malformed: tuple[int, ...] = ()
        self._last_nan: tuple[str, ...] = ()
        self.nan_skipped = 0  # NaN samples seen and not stored (SQLite cannot hold NaN), over the capture

    def describe(self) -> str:
        return f"metrics {self.fetcher.describe()}{self.path}"

    def scrape_once(self, stop: threading.Event | None = None, quiet: bool = False) -> bool:
        """One scrape stored at the time it started; False when it failed (the error is recorded)."""
        interval = self.options.scrape_interval
        ts = time.time()
        try:
            body = self.fetcher.fetch(self.path, timeout=max(2 * interval, 5.0))
        except FetchError as exc:
            if not quiet and (stop is None or not stop.is_set()) and not self.in_grace():
                self.error(f"scrape: {exc}")
            return False
        parsed = parse_text(body)
        malformed = tuple(n for n, _ in parsed.malformed)
        if malformed and malformed != self._last_malformed:
            self.error(f"{self.fetcher.describe()}{self.path}: {parsed.error_summary()}")
        self._last_malformed = malformed
        if not parsed.samples and not parsed.types:
            self.error(f"{self.fetcher.describe()}{self.path}: no samples (is this a Prometheus endpoint?)")
            return False
        new_types = {k: v for k, v in parsed.types.items() if self.types.get(k) != v}
        if new_types:
            self.types.update(new_types)
            self.sink.touch_instance(self.target, self.instance, {"metric_types": dict(self.types)})
        self.answered = True
        nan = tuple(sorted({name for name, _, value in parsed.samples if math.isnan(value)}))
        stored = self.sink.add_points(self.target, self.instance, ts, parsed.samples)
        self.stats.scrapes += 1
        self.stats.points += stored
        if nan:
            count = sum(1 for _, _, value in parsed.samples if math.isnan(value))
            self.nan_skipped += count
            self.stats.points_skipped += count
            if nan != self._last_nan:
                self.info(f"{self.fetcher.describe()}{self.path}: {count} NaN samples not stored (NaN has no "
                          f"value to plot or rate; +Inf/-Inf are stored): {', '.join(nan[:5])}"
                          + (f" and {len(nan) - 5} more" if len(nan) > 5 else ""))
        self._last_nan = nan
        return True

    def run(self, stop: threading.Event) -> None:
        interval = self.options.scrape_interval
        next_at = last = time.time()
        ok = False
        while not stop.is_set():
            last = time.time()
            try:
                ok = self.scrape_once(stop)
            except Exception as exc:  # one bad scrape (a store error, a parser bug) must not end the run
                self.error(f"{self.describe()}: scrape not stored: {type(exc).__name__}: {exc}")
                ok = False
            next_at = max(next_at + interval, last + min(interval, 1.0))
            if not ok and self.in_grace():
                next_at = last + 0.5  # the endpoint may still be starting
            stop.wait(max(0.0, next_at - time.time()))
        if ok and time.time() - last > 1.0:
            self.scrape_once(None, quiet=True)  # a last scrape as the capture ends, so counters cover all of it
        if self.nan_skipped:
            self.info(f"{self.describe()}: {self.nan_skipped} NaN samples not stored over {self.stats.scrapes} scrapes")
