"""Severity rules: every analyzer threshold with its default, and the ``--rules FILE.yaml`` loader.

This docstring is the one place the severity rules are written down
(``tests/unit/test_rules.py`` checks that every threshold below is listed here).

===========================  ==========================================================  ======================================================
finding id                   warning when                                                critical when
===========================  ==========================================================  ======================================================
requeue-storm-deleted        a deleted (or NotFound) key is reconciled                   ``critical_objects`` keys in the storm, or the storm
                             ``min_reconciles_after_delete`` times after                  reaches ``critical_per_minute`` reconciles/min
                             ``grace_seconds`` (log lines: ``notfound_min_repeats``
                             over ``notfound_min_span_seconds``); or, from metrics
                             alone, requeues go on at ``metric_min_rate`` /s with no
                             live object left; or an object stuck Terminating for
                             ``stuck_min_seconds`` is retried ``min_reconciles_after_delete``
                             times (log lines or watcher updates) after ``grace_seconds``
client-side-throttling       any throttling log line (client-go logs waits over 50 ms    a wait over ``critical_wait_seconds``, or the rate
                             at V(3), over 1 s at V(0)); rate limiter histogram mean     limiter histogram p99 over it
                             over ``warning_mean_wait_seconds``; inferred: requests
                             at >= ``pinned_ratio`` of QPS in ``pinned_share`` of the
                             scrapes while ``workqueue_depth`` grows
sync-budget-exhausted        periodic resync alone eats ``warning_share`` of the QPS      ... ``critical_share`` of it (info from ``info_share``;
                             budget                                                       always info when the object count is only estimated)
concurrency-saturation       active workers at the maximum in ``warning_saturated``       ... ``critical_saturated`` of the samples and the
                             of the samples and queued items waiting (depth above         queue keeps growing (``critical_depth_growth``
                             the workers, or queue wait p90 ``wait_ratio`` x work p90);   items, at least the workers) or its wait p90 is
                             info when the target is throttled client-side                ``critical_wait_ratio`` x the work p90
reconcile-errors             error share ``warning_error_share`` with at least            error share ``critical_error_share``, or any panic
                             ``min_errors`` errors (info below; without metrics the       (never from log lines alone)
                             share is unknown and ``min_errors`` lines are a warning);
                             info when most errors are the client rate limiter's wait,
                             or about objects stuck Terminating (requeue-storm-deleted)
slow-reconcile               reconcile p99 over ``warning_p99_seconds``, or a            p99 over ``critical_p99_seconds``, or a processor
                             processor running ``warning_longest_running_seconds``      running ``critical_longest_running_seconds``
memory-growth                growth not explained by the object count over               ... over ``critical_growth``
                             ``warning_growth`` of the start and ``min_growth_bytes``
goroutine-growth             the same with ``warning_growth`` and ``min_growth``          ... over ``critical_growth``
gc-pressure                  GC share of CPU samples over ``warning_share`` (or GC        ... over ``critical_share``
                             pauses ``warning_pause_share`` of wall time), with at
                             least ``min_samples`` CPU samples
repeated-key-generation      key generation over ``warning_share`` of CPU samples        ... over ``critical_share`` (thresholds:
                             (``KeyGenerationRules`` below)              ``KeyGenerationRules``)
cpu-hotspot                  one own function over ``warning_share`` of CPU while the    info from ``info_share``; never critical; nothing
                             process burns ``warning_min_cores`` (``CpuHotspotRules``)    when the function uses under ``min_cores`` cores
                             (idle waits - select, Condition.wait, gopark - are no CPU)
===========================  ==========================================================  ======================================================

Sizing and noise knobs (they shape recommendations and ignore short runs, not severities):
``demand_headroom`` (client-side-throttling: recommended QPS = observed demand x this, at least
twice the current QPS), ``target_share`` (sync-budget-exhausted and ``profkit plan``: recommended
QPS keeps resync under this share), ``headroom`` (concurrency-saturation: Little's law workers x
this), ``min_duration_seconds`` (memory-growth, goroutine-growth: shorter series are not judged).
Defaults are the dataclass fields below.

A rules file overrides any of these by finding id, e.g.::

    client-side-throttling:
      critical_wait_seconds: 2
    sync-budget-exhausted:
      warning_share: 0.6

Unknown ids or keys are an error (exit 2), so a typo never silently keeps a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from profkit.errors import BadInput
from profkit.fileio import load_yaml_file

@dataclass(frozen=True)
class KeyGenerationRules:
    """Thresholds of ``repeated-key-generation`` (share = fraction of the target's CPU samples)."""

    warning_share: float = 0.05  # key generation at 5 % of CPU is worth fixing
    critical_share: float = 0.20  # ... at 20 % it is the main consumer
    min_share: float = 0.01  # below 1 % nothing is reported, not even info
    min_samples: int = 20  # fewer CPU samples in the whole profile mean nothing
    # Absolute cost: under these many cores of key work, a share alone does not make a warning
    # (14 % of a controller that uses 2 % of one core is 0.003 cores) or a critical.
    warning_cores: float = 0.05
    critical_cores: float = 0.25
    # CPU cost of ONE RSA-2048 key, used to turn "keygen CPU per reconcile" into keys per reconcile.
    # Prime search is random and the cost moves with the machine's load (shared cores, caches), so
    # it is a range, backed by measurements of Go 1.26 crypto/rsa.GenerateKey(rand.Reader, 2048):
    #   41-50 ms per key on a quiet 2-core VM (issue 10), 148 ms mean over 40 keys (development),
    #   103 ms mean over 30 keys, single keys 16-264 ms, utime+stime, at load 16 on 2 cores (h6).
    # Python cryptography 48 rsa.generate_private_key(65537, 2048): 43 ms mean over 20 keys.
    go_rsa2048_key_seconds: float = 0.103
    go_rsa2048_key_seconds_low: float = 0.040
    go_rsa2048_key_seconds_high: float = 0.150
    python_cryptography_rsa2048_key_seconds: float = 0.043


@dataclass(frozen=True)
class CpuHotspotRules:
    """Thresholds of ``cpu-hotspot``."""

    info_share: float = 0.20  # one own function carrying 20 % of CPU is worth showing
    warning_share: float = 0.50  # ... half of all CPU is a hotspot ...
    warning_min_cores: float = 0.25  # ... when the process burns at least this many cores meanwhile
    min_cores: float = 0.01  # below this many cores (its share x the process's) a function is no hotspot
    pass_through_share: float = 0.80  # an own frame passing 80 % of its CPU on to own callees is boilerplate
    min_samples: int = 50
    top_functions: int = 10
    top_leaves: int = 5


@dataclass(frozen=True)
class RequeueStormRules:
    grace_seconds: float = 15.0  # a reconcile right after deletion is the normal final pass
    min_reconciles_after_delete: int = 3
    notfound_min_repeats: int = 3
    notfound_min_span_seconds: float = 20.0  # NotFound of the object itself, repeated over at least this long
    critical_objects: int = 10
    critical_per_minute: float = 60.0
    metric_min_rate: float = 0.05  # requeues per second with no live object left
    stuck_min_seconds: float = 30.0  # deletion requested this long ago and the object still there: stuck


@dataclass(frozen=True)
class ThrottlingRules:
    critical_wait_seconds: float = 1.0
    warning_mean_wait_seconds: float = 0.05
    pinned_ratio: float = 0.9  # request rate at this share of QPS counts as pinned
    pinned_share: float = 0.5  # ... in this share of the scrape intervals
    demand_headroom: float = 1.5  # recommended QPS = observed demand x this (at least 2 x current)


@dataclass(frozen=True)
class SyncBudgetRules:
    info_share: float = 0.25
    warning_share: float = 0.5
    critical_share: float = 0.8
    target_share: float = 0.5  # recommended flags keep resync under this share


@dataclass(frozen=True)
class ConcurrencyRules:
    warning_saturated: float = 0.5
    critical_saturated: float = 0.8
    wait_ratio: float = 5.0
    critical_wait_ratio: float = 20.0
    critical_depth_growth: float = 10.0  # queued items gained over the run (at least the worker count)
    headroom: float = 2.0  # Little's law workers x this


@dataclass(frozen=True)
class ReconcileErrorRules:
    min_errors: int = 10
    warning_error_share: float = 0.05
    critical_error_share: float = 0.25


@dataclass(frozen=True)
class SlowReconcileRules:
    warning_p99_seconds: float = 5.0
    critical_p99_seconds: float = 30.0
    warning_longest_running_seconds: float = 60.0
    critical_longest_running_seconds: float = 300.0


@dataclass(frozen=True)
class MemoryGrowthRules:
    warning_growth: float = 0.5  # of the fitted start value
    critical_growth: float = 1.0
    min_growth_bytes: float = 32 * 1024 * 1024
    min_duration_seconds: float = 120.0


@dataclass(frozen=True)
class GoroutineGrowthRules:
    warning_growth: float = 0.5
    critical_growth: float = 2.0
    min_growth: float = 200.0
    min_duration_seconds: float = 120.0


@dataclass(frozen=True)
class GcPressureRules:
    warning_share: float = 0.25
    critical_share: float = 0.5
    warning_pause_share: float = 0.05
    min_samples: int = 100  # CPU samples needed before a share means anything


@dataclass(frozen=True)
class Rules:
    """All thresholds, one group per finding id."""

    requeue_storm_deleted: RequeueStormRules = field(default_factory=RequeueStormRules)
    client_side_throttling: ThrottlingRules = field(default_factory=ThrottlingRules)
    sync_budget_exhausted: SyncBudgetRules = field(default_factory=SyncBudgetRules)
    concurrency_saturation: ConcurrencyRules = field(default_factory=ConcurrencyRules)
    reconcile_errors: ReconcileErrorRules = field(default_factory=ReconcileErrorRules)
    slow_reconcile: SlowReconcileRules = field(default_factory=SlowReconcileRules)
    memory_growth: MemoryGrowthRules = field(default_factory=MemoryGrowthRules)
    goroutine_growth: GoroutineGrowthRules = field(default_factory=GoroutineGrowthRules)
    gc_pressure: GcPressureRules = field(default_factory=GcPressureRules)
    repeated_key_generation: KeyGenerationRules = field(default_factory=KeyGenerationRules)
    cpu_hotspot: CpuHotspotRules = field(default_factory=CpuHotspotRules)


DEFAULT_RULES = Rules()


def rule_ids() -> list[str]:
    """Finding ids that have thresholds (``requeue-storm-deleted``, ...)."""
    return [f.name.replace("_", "-") for f in fields(Rules)]


def rules_from_mapping(raw: Any, source: str = "rules") -> Rules:
    """Defaults overridden by ``{finding-id: {threshold: value}}``; errors name the bad key."""
    if raw is None:
        return DEFAULT_RULES
    if not isinstance(raw, dict):
        raise BadInput(f"{source}: a rules file is a mapping of finding id to thresholds")
    rules = DEFAULT_RULES
    for finding_id, overrides in raw.items():
        attr = str(finding_id).replace("-", "_")
        if attr not in {f.name for f in fields(Rules)}:
            raise BadInput(f"{source}: unknown finding id {finding_id!r} (known: {', '.join(rule_ids())})")
        group = getattr(rules, attr)
        if not isinstance(overrides, dict):
            raise BadInput(f"{source}: {finding_id} must map threshold names to numbers")
        known = {f.name: f for f in fields(group)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise BadInput(f"{source}: {finding_id}: unknown threshold {key!r} (known: {', '.join(known)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadInput(f"{source}: {finding_id}.{key}: {value!r} is not a number")
            changes[key] = int(value) if known[key].type in (int, "int") else float(value)
        rules = replace(rules, **{attr: replace(group, **changes)})
    return rules


def load_rules(path: Path | str) -> Rules:
    """Read a ``--rules FILE.yaml``; a missing or malformed file is a one-line BadInput.

    Cached per path and modification time: every analyzer asks for the rules.
    """
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        mtime = -1.0
    return _load_rules(str(path), mtime)


@lru_cache(maxsize=8)
def _load_rules(path: str, mtime: float) -> Rules:
    return rules_from_mapping(load_yaml_file(Path(path), "--rules"), f"--rules {path}")


def rules_from(options: object) -> Rules:
    """The rules an analyzer should use, from whatever the options carry.

    Accepts ``options.rules`` as a Rules, a mapping or a path, or ``options.rules_file``;
    anything else means the defaults.
    """
    value = getattr(options, "rules", None)
    if isinstance(value, Rules):
        return value
    if isinstance(value, dict):
        return rules_from_mapping(value)
    if isinstance(value, (str, Path)):
        return load_rules(value)
    path = getattr(options, "rules_file", None)
    if isinstance(path, (str, Path)):
        return load_rules(path)
    return DEFAULT_RULES
