"""The client-side rate budget model: what periodic resync costs, where the knee is, and which flags hold N objects.

Pure arithmetic, shared by the ``sync-budget-exhausted`` analyzer and ``profkit plan``.

* Periodic resync re-reconciles every object once per sync period, so it issues
  ``objects / sync_period * calls_per_reconcile`` API requests per second.
* The REST client's token bucket allows ``qps`` requests per second sustained
  (``burst`` only absorbs short spikes), so resync alone eats
  ``resync_rps / qps`` of the budget, and event-driven work (creating clusters,
  reacting to status changes) gets the rest.
* The knee is the object count where resync alone takes the whole budget:
  ``qps * sync_period / calls_per_reconcile``. Past it the workqueue only grows.
* Little's law: workers busy on average = arrival rate x reconcile time.

Worked example (Cluster API at 600 clusters): 600 objects / 600 s x 8 calls = 8
req/s = 80 % of 10 QPS; 2 req/s are left for events; the knee is at 750 objects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from profkit.analyze.metrics_math import round_up_nice

# Flag values are chosen so that resync alone stays under this share of the budget.
DEFAULT_TARGET_SHARE = 0.5
# Burst relative to QPS, as Cluster API ships it (20/30 → 100/200 in v1.13).
DEFAULT_BURST_RATIO = 2.0
# Workers are sized for this multiple of the average busy workers (bursts, skew).
DEFAULT_WORKER_HEADROOM = 2.0


@dataclass(frozen=True)
class BudgetInput:
    """What the model needs; ``event_reconciles_per_s`` is reconcile demand beyond resync (0 if unknown)."""

    objects: float
    sync_period: float  # seconds
    qps: float  # <= 0 means no client-side limit
    burst: float
    calls_per_reconcile: float
    concurrency: int | None = None
    reconcile_time: float | None = None  # seconds per reconcile
    event_reconciles_per_s: float = 0.0


@dataclass(frozen=True)
class FlagValues:
    """Values that hold ``objects`` with resync under ``target_share`` of the budget."""

    objects: float
    qps: int
    burst: int
    concurrency: int | None
    resync_rps: float
    share_at_current_qps: float


@dataclass(frozen=True)
class BudgetPlan:
    """The model's answer for one input."""

    input: BudgetInput
    resync_reconciles_per_s: float
    resync_rps: float
    share: float  # of the QPS budget eaten by periodic resync alone (inf when qps is 0)
    left_rps: float  # requests per second left for event-driven work (may be negative)
    left_reconciles_per_s: float
    knee_objects: float  # objects at which resync alone takes 100 % of the QPS budget
    burst_seconds: float  # how long the burst bucket covers resync when the tokens run dry (0 if no deficit)
    total_reconciles_per_s: float
    busy_workers: float | None  # Little's law: arrival rate x reconcile time
    workers_needed: int | None
    worker_utilisation: float | None  # busy workers / concurrency
    throughput_cap_reconciles_per_s: float  # what the QPS limit allows at this calls-per-reconcile
    holds: list[FlagValues] = field(default_factory=list)

    @property
    def limited(self) -> bool:
        return self.input.qps > 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (infinities, meaning "no limit", become null)."""
        cleaned = _finite(asdict(self))
        assert isinstance(cleaned, dict)
        return cleaned


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def resync_rps(objects: float, sync_period: float, calls_per_reconcile: float) -> float:
    """API requests per second caused by periodic resync alone."""
    if sync_period <= 0:
        return 0.0
    return objects / sync_period * calls_per_reconcile


def knee_objects(qps: float, sync_period: float, calls_per_reconcile: float) -> float:
    """Object count at which resync alone takes the whole QPS budget (inf without a limit)."""
    if qps <= 0 or calls_per_reconcile <= 0:
        return math.inf
    return qps * sync_period / calls_per_reconcile


def workers_for(arrival_per_s: float, reconcile_time: float, headroom: float = DEFAULT_WORKER_HEADROOM) -> int:
    """Workers that keep up with ``arrival_per_s`` reconciles of ``reconcile_time`` s (Little's law x headroom)."""
    return max(1, math.ceil(arrival_per_s * reconcile_time * headroom - 1e-9))


def flags_for(
    objects: float, inp: BudgetInput, target_share: float = DEFAULT_TARGET_SHARE,
    burst_ratio: float = DEFAULT_BURST_RATIO, headroom: float = DEFAULT_WORKER_HEADROOM,
) -> FlagValues:
    """QPS/burst (and workers when the reconcile time is known) that hold ``objects``.

    QPS is sized so resync stays under ``target_share`` of the budget and event-driven
    reconciles seen so far still fit; it never goes below the current QPS.
    """
    resync = resync_rps(objects, inp.sync_period, inp.calls_per_reconcile)
    scale = objects / inp.objects if inp.objects > 0 else 1.0
    events_rps = inp.event_reconciles_per_s * scale * inp.calls_per_reconcile
    needed = max(resync / target_share if target_share > 0 else resync, resync + events_rps)
    qps = max(round_up_nice(needed), int(math.ceil(inp.qps)) if inp.qps > 0 else 0)
    burst = max(int(math.ceil(qps * burst_ratio)), int(math.ceil(inp.burst)))
    workers: int | None = None
    if inp.reconcile_time is not None and inp.reconcile_time > 0:
        arrival = objects / inp.sync_period + inp.event_reconciles_per_s * scale if inp.sync_period > 0 else 0.0
        workers = max(workers_for(arrival, inp.reconcile_time, headroom), inp.concurrency or 1)
    share = resync / inp.qps if inp.qps > 0 else 0.0
    return FlagValues(objects, qps, burst, workers, resync, share)


def plan(
    inp: BudgetInput, for_objects: Sequence[float] = (), target_share: float = DEFAULT_TARGET_SHARE,
    headroom: float = DEFAULT_WORKER_HEADROOM,
) -> BudgetPlan:
    """Evaluate the budget at ``inp.objects`` and the flag values for each count in ``for_objects``."""
    if inp.objects < 0 or inp.sync_period <= 0 or inp.calls_per_reconcile < 0:
        raise ValueError("objects >= 0, sync_period > 0 and calls_per_reconcile >= 0 are required")
    resync_rec = inp.objects / inp.sync_period
    resync = resync_rec * inp.calls_per_reconcile
    limited = inp.qps > 0
    share = resync / inp.qps if limited else 0.0
    left = inp.qps - resync if limited else math.inf
    left_rec = left / inp.calls_per_reconcile if limited and inp.calls_per_reconcile > 0 else math.inf
    total_rec = resync_rec + inp.event_reconciles_per_s
    deficit = resync + inp.event_reconciles_per_s * inp.calls_per_reconcile - inp.qps if limited else 0.0
    busy = total_rec * inp.reconcile_time if inp.reconcile_time is not None else None
    needed = workers_for(total_rec, inp.reconcile_time, headroom) if inp.reconcile_time else None
    utilisation = busy / inp.concurrency if busy is not None and inp.concurrency else None
    cap = inp.qps / inp.calls_per_reconcile if limited and inp.calls_per_reconcile > 0 else math.inf
    return BudgetPlan(
        input=inp,
        resync_reconciles_per_s=resync_rec,
        resync_rps=resync,
        share=share,
        left_rps=left,
        left_reconciles_per_s=left_rec,
        knee_objects=knee_objects(inp.qps, inp.sync_period, inp.calls_per_reconcile),
        burst_seconds=inp.burst / deficit if deficit > 0 else 0.0,
        total_reconciles_per_s=total_rec,
        busy_workers=busy,
        workers_needed=needed,
        worker_utilisation=utilisation,
        throughput_cap_reconciles_per_s=cap,
        holds=[flags_for(n, inp, target_share, headroom=headroom) for n in for_objects],
    )


def default_for_objects(objects: float) -> list[float]:
    """Counts to size flags for when the user names none: twice the current count and 2000 when below it."""
    counts = [max(1.0, 2 * objects)]
    if objects < 2000 and 2000 not in counts:
        counts.append(2000.0)
    return sorted(counts)
