"""A rate-limited, delaying work queue with client-go's semantics and metrics."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from typing import Hashable

from widgetctl.metrics import Metrics


class RateLimiter:
    """client-go's DefaultTypedControllerRateLimiter: max(per-item 5ms·2^n ≤ 1000s, bucket 10 qps / 100)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0, qps: float = 10.0, burst: int = 100) -> None:
        self.base, self.cap, self.qps, self.burst = base, cap, qps, burst
        self._failures: dict[Hashable, int] = {}
        self._tokens, self._last = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            n = self._failures.get(item, 0)
            self._failures[item] = n + 1
            per_item = min(self.base * (2 ** n), self.cap)
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1
            bucket = 0.0 if self._tokens >= 0 else -self._tokens / self.qps
            return max(per_item, bucket)

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)


class WorkQueue:
    """Deduplicating FIFO: an item is never processed by two workers at once (dirty/processing sets)."""

    def __init__(self, name: str, metrics: Metrics) -> None:
        self.name = name
        self.labels = {"name": name, "controller": name}
        self.metrics = metrics
        self.rate_limiter = RateLimiter()
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: dict[Hashable, float] = {}
        self._added_at: dict[Hashable, float] = {}
        self._cond = threading.Condition()
        self._shutdown = False
        self._waiting: list[tuple[float, int, Hashable]] = []
        self._seq = itertools.count()
        self._waker = threading.Condition()
        threading.Thread(target=self._delay_loop, name=f"{name}-delay", daemon=True).start()
        metrics.wq_depth.set(0, **self.labels)
        metrics.wq_adds.touch(**self.labels)
        metrics.wq_retries.touch(**self.labels)

    # -- basic queue -------------------------------------------------------
    def add(self, item: Hashable) -> None:
        with self._cond:
            if self._shutdown or item in self._dirty:
                return
            self.metrics.wq_adds.inc(**self.labels)
            self._dirty.add(item)
            self._added_at.setdefault(item, time.monotonic())
            if item in self._processing:
                return
            self._queue.append(item)
            self.metrics.wq_depth.set(len(self._queue), **self.labels)
            self._cond.notify()

    def get(self) -> Hashable | None:
        """Block for the next item; None once shut down."""
        with self._cond:
            while not self._queue and not self._shutdown:
                self._cond.wait()
            if not self._queue:
                return None
            item = self._queue.popleft()
            self.metrics.wq_depth.set(len(self._queue), **self.labels)
            now = time.monotonic()
            added = self._added_at.pop(item, now)
            self.metrics.wq_queue_duration.observe(now - added, **self.labels)
            self._processing[item] = now
            self._dirty.discard(item)
            return item

    def done(self, item: Hashable) -> None:
        with self._cond:
            started = self._processing.pop(item, None)
            if started is not None:
                self.metrics.wq_work_duration.observe(time.monotonic() - started, **self.labels)
            if item in self._dirty:
                self._queue.append(item)
                self.metrics.wq_depth.set(len(self._queue), **self.labels)
                self._cond.notify()

    def len(self) -> int:
        with self._cond:
            return len(self._queue)

    def update_processing_gauges(self) -> None:
        """unfinished_work / longest_running_processor, refreshed before each scrape."""
        now = time.monotonic()
        with self._cond:
            ages = [now - t for t in self._processing.values()]
        self.metrics.wq_unfinished.set(sum(ages), **self.labels)
        self.metrics.wq_longest.set(max(ages, default=0.0), **self.labels)

    # -- delaying and rate limiting ---------------------------------------------
    def add_after(self, item: Hashable, delay: float) -> None:
        if delay <= 0:
            self.add(item)
            return
        self.metrics.wq_retries.inc(**self.labels)  # client-go counts every delayed add as a retry
        with self._waker:
            heapq.heappush(self._waiting, (time.monotonic() + delay, next(self._seq), item))
            self._waker.notify()

    def add_rate_limited(self, item: Hashable) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Hashable) -> None:
        self.rate_limiter.forget(item)

    def _delay_loop(self) -> None:
        while True:
            with self._waker:
                while not self._shutdown:
                    now = time.monotonic()
                    if self._waiting and self._waiting[0][0] <= now:
                        break
                    timeout = self._waiting[0][0] - now if self._waiting else None
                    self._waker.wait(timeout)
                if self._shutdown:
                    return
                ready = []
                now = time.monotonic()
                while self._waiting and self._waiting[0][0] <= now:
                    ready.append(heapq.heappop(self._waiting)[2])
            for item in ready:
                self.add(item)

    def shut_down(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
        with self._waker:
            self._waker.notify_all()
