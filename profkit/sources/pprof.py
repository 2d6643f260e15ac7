"""Go pprof collector: CPU profiles in consecutive windows plus heap and goroutine snapshots, stored raw."""

from __future__ import annotations

import gzip
import threading
import time
import zlib

from profkit.sources.backoff import Backoff
from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.sources.http import Fetcher, FetchError, first_line

REQUEST_SLACK = 15.0  # seconds added to the window for every request's timeout
CMDLINE_TIMEOUT = 5.0  # seconds for /debug/pprof/cmdline, asked at the start of the first windows
CMDLINE_TRIES = 3  # windows that ask it before giving up (an endpoint still starting answers later)
MIN_WINDOW = 1.0
SNAPSHOT_PATHS = {
    "heap": "/debug/pprof/heap",
    "goroutine": "/debug/pprof/goroutine?debug=0",
    "allocs": "/debug/pprof/allocs",
    "mutex": "/debug/pprof/mutex",
    "block": "/debug/pprof/block",
}


def check_pprof(body: bytes) -> str | None:
    """Why ``body`` is not a gzipped profile.proto (None when it looks like one).

    Catches what endpoints really send instead of a profile: HTML error pages, a 200 with a text
    message, truncated or empty downloads.
    """
    if not body:
        return "empty body"
    if body[:2] != b"\x1f\x8b":
        snippet = first_line(body, 100)
        looks = "an HTML page" if b"<html" in body[:512].lower() or b"<!doctype" in body[:512].lower() else "not gzip"
        return f"{looks}" + (f" ({snippet!r})" if snippet else "")
    try:
        raw = gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        return f"damaged gzip ({exc})"
    if not raw:
        return "empty profile"
    # profile.proto starts with a field key: wire types 0 (varint) or 2 (bytes) for fields 1..15.
    field, wire = raw[0] >> 3, raw[0] & 7
    if not 1 <= field <= 15 or wire not in (0, 2):
        return "gzip content is not a profile.proto message"
    return None


class PprofCollector(Collector):
    """Fetches ``/debug/pprof/profile?seconds=W`` back to back, and the snapshots after each window."""

    kind = "pprof"

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions, fetcher: Fetcher,
                 read_cmdline: bool = False) -> None:
        super().__init__(sink, target, instance, options)
        self.fetcher = fetcher
        self.read_cmdline = read_cmdline  # record the process's arguments (an --endpoint target has no pod spec)
        self.cmdline_tries = 0

    def describe(self) -> str:
        return f"pprof {self.fetcher.describe()}"

    def record_cmdline(self) -> None:
        """``/debug/pprof/cmdline`` (os.Args joined by NUL) into the target's ``args``, so fixes see its flags."""
        self.cmdline_tries += 1
        self.read_cmdline = self.cmdline_tries < CMDLINE_TRIES
        try:
            body = self.fetcher.fetch("/debug/pprof/cmdline", CMDLINE_TIMEOUT)
        except Exception:  # noqa: BLE001 - optional: not served, not up yet; the profiles still come
            return
        args = [a for a in body.decode(errors="replace").split("\0") if a]
        if args:
            self.sink.add_target_facts(self.target, {"args": args, "args_source": "/debug/pprof/cmdline"})
        self.read_cmdline = False

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            if self.read_cmdline:
                self.record_cmdline()
            window = self.window(stop)
            if window < MIN_WINDOW:
                return
            ok = True
            for kind in self.options.snapshots:  # snapshots open each window, so a stop never loses them
                if stop.is_set():
                    return
                path = SNAPSHOT_PATHS.get(kind, f"/debug/pprof/{kind}")
                ok = self._fetch_store(kind, path, REQUEST_SLACK, time.time(), 0.0, stop) and ok
            window = self.window(stop)
            if window < MIN_WINDOW or stop.is_set():
                return
            seconds = max(1, int(window + 0.5))  # overrunning the deadline by < 0.5 s keeps windows whole
            start = time.time()
            self.expected_done = start + seconds + 3.0
            ok = self._fetch_store("cpu", f"/debug/pprof/profile?seconds={seconds}", seconds + REQUEST_SLACK,
                                   start, float(seconds), stop) and ok
            self.expected_done = None
            if ok:
                backoff.reset()
            elif self.in_grace():
                stop.wait(0.5)  # the endpoint may still be starting
            elif time.time() - start < seconds / 2:
                # Failed fast (refused, 404): wait before trying again, up to one window.
                backoff.wait(stop, cap=max(window, 1.0))

    def _fetch_store(
        self, kind: str, path: str, timeout: float, start: float, duration: float, stop: threading.Event
    ) -> bool:
        try:
            body = self.fetcher.fetch(path, timeout)
        except FetchError as exc:
            if not stop.is_set() and not self.in_grace():
                self.error(f"{kind} profile: {exc}")
            return False
        problem = check_pprof(body)
        if problem is not None:
            self.error(f"{kind} profile from {self.fetcher.describe()}{path}: not a pprof profile: {problem}")
            return False
        self.answered = True
        if self.sink.add_profile(self.target, self.instance, kind, "pprof", body, start, duration) is not None:
            self.stats.profiles += 1
            self.sink.touch_instance(self.target, self.instance)
        return True
