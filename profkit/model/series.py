"""Series: one metric time series (name, labels, points) as scraped from a target."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Series:
    """Points ``(unix seconds, value)`` of one metric with one label set, in time order."""

    name: str
    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)
    target: str = ""
    instance: str = ""

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self.points]

    def label_text(self) -> str:
        """Labels as ``k="v",...`` sorted by key, for display and stable ids."""
        return ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))

    def increase(self) -> float:
        """Counter increase over the series, tolerating resets (process restarts)."""
        total = 0.0
        previous: float | None = None
        for _, value in self.points:
            if previous is not None:
                total += value - previous if value >= previous else value
            previous = value
        return total

    def rate(self) -> list[tuple[float, float]]:
        """Per-second rate between consecutive points of a counter (resets handled)."""
        out: list[tuple[float, float]] = []
        for (t0, v0), (t1, v1) in zip(self.points, self.points[1:]):
            if t1 <= t0:
                continue
            delta = v1 - v0 if v1 >= v0 else v1
            out.append((t1, delta / (t1 - t0)))
        return out
