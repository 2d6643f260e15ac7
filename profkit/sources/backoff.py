"""Retry delays for collectors: doubling from a first delay up to a cap, with jitter, back to the first after a success."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Callable

FIRST = 1.0
CAP = 10.0
JITTER = 0.2  # a delay is shortened by up to this fraction, so collectors that failed together do not retry together


@dataclass
class Backoff:
    """``wait(stop)`` after a failure, ``reset()`` after a success; ``cap`` may be lowered per call (a profile window)."""

    first: float = FIRST
    cap: float = CAP
    jitter: float = JITTER
    uniform: Callable[[], float] = field(default=random.random, repr=False)  # in [0, 1); tests pass their own
    current: float = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.first

    def next(self, cap: float | None = None) -> float:
        """The delay to wait now; the one after it is twice as long, up to the cap."""
        limit = self.cap if cap is None else cap
        delay = min(self.current, limit)
        self.current = min(self.current * 2, limit)
        return delay * (1.0 - self.jitter * self.uniform())

    def reset(self) -> None:
        self.current = self.first

    def wait(self, stop: threading.Event, cap: float | None = None) -> bool:
        """Sleep the next delay, or less if ``stop`` is set meanwhile; True when it was."""
        return stop.wait(self.next(cap))
