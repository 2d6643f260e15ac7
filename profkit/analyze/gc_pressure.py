"""gc-pressure: the Go garbage collector's share of CPU (mark workers, assists, sweeping) and GC pauses."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.analyze.growth import key_frame
from profkit.analyze.metrics_math import average_rate, series_of
from profkit.analyze.rules import GcPressureRules, rules_from
from profkit.bundle.reader import BundleView
from profkit.errors import BadInput
from profkit.model import Finding, Profile, Severity
from profkit.model.metric_names import CONTAINER_CPU_SECONDS, PROCESS_CPU_SECONDS

ID = "gc-pressure"
# Background marking, assists charged to allocating goroutines, sweeping and scavenging. Matched as
# prefixes: Go versions add suffixes (runtime.gcBgMarkWorker.func2, runtime.gcDrainMarkWorkerIdle).
GC_PREFIXES = (
    "runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.gcDrain", "runtime.markroot",
    "runtime.scanobject", "runtime.scanblock", "runtime.scanstack", "runtime.greyobject",
    "runtime.bgsweep", "runtime.sweepone", "runtime.bgscavenge", "runtime.gcStart", "runtime.gcMark",
    "runtime.gcSweep", "runtime.(*gcWork)", "runtime.(*sweepLocked)", "runtime.(*mspan).sweep",
)
ASSIST_PREFIXES = ("runtime.gcAssistAlloc",)
ALLOC_PREFIXES = ("runtime.mallocgc",)  # also runtime.mallocgcSmallNoscan and friends (Go >= 1.24)
TOP = 5


def gc_shares(profile: Profile) -> dict[str, Any]:
    """GC, assist and allocation shares of a CPU profile, and the code that allocates most."""
    kinds = [(f.name.startswith(GC_PREFIXES), f.name.startswith(ASSIST_PREFIXES), f.name.startswith(ALLOC_PREFIXES))
             for f in profile.frames]
    names = [f.name for f in profile.frames]
    total = profile.total
    gc = assist = alloc = 0.0
    allocators: dict[str, float] = defaultdict(float)
    for stack, weight in zip(profile.stacks, profile.weights):
        if any(kinds[i][0] for i in stack):
            gc += weight
        if any(kinds[i][1] for i in stack):
            assist += weight
        cut = next((pos for pos, i in enumerate(stack) if kinds[i][2]), None)
        if cut is not None:
            alloc += weight
            allocators[key_frame([names[i] for i in stack[:cut]]) if cut else "?"] += weight
    samples = total / profile.period if profile.period else float(len(profile.stacks))
    top = sorted(allocators.items(), key=lambda kv: -kv[1])[:TOP]
    return {
        "gc_share": gc / total if total else 0.0,
        "assist_share": assist / total if total else 0.0,
        "malloc_share": alloc / total if total else 0.0,
        "samples": samples,
        "top_allocators": [{"function": name, "share": round(w / total, 4)} for name, w in top if total],
        "window": [profile.start, profile.start + profile.duration],
    }


def _profile_evidence(view: BundleView, target: str) -> dict[str, Any] | None:
    try:
        merged = view.merged_profile(target, "cpu")
    except (BadInput, ValueError, OSError):
        return None
    if merged is None or merged.language != "go" or merged.total <= 0:
        return None
    return gc_shares(merged)


@analyzer(ID, series=("go_memstats_heap_alloc_bytes", CONTAINER_CPU_SECONDS,
                        PROCESS_CPU_SECONDS), profile_kind="cpu")
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag Go targets spending a large share of CPU in the garbage collector."""
    rules: GcPressureRules = rules_from(options).gc_pressure
    names = {ref.target for ref in view.profile_refs(kind="cpu")}
    names |= {s.target for s in series_of(view, "go_gc_duration_seconds_sum")}
    findings: list[Finding] = []
    for target in sorted(names):
        evidence: dict[str, Any] = {}
        severity: Severity | None = None
        how: list[str] = []
        window: tuple[float, float] | None = None
        shares = _profile_evidence(view, target)
        if shares is not None and shares["samples"] >= rules.min_samples:
            evidence.update({k: round(v, 4) if isinstance(v, float) else v for k, v in shares.items()})
            window = (float(shares["window"][0]), float(shares["window"][1]))
            if shares["gc_share"] >= rules.critical_share:
                severity = "critical"
            elif shares["gc_share"] >= rules.warning_share:
                severity = "warning"
            how.append(f"GC {shares['gc_share']:.0%} of CPU samples (assists {shares['assist_share']:.0%}, "
                       f"mallocgc {shares['malloc_share']:.0%})")
        sums = series_of(view, "go_gc_duration_seconds_sum", target=target)
        counts = series_of(view, "go_gc_duration_seconds_count", target=target)
        if sums:
            pause_share = average_rate(sums) / max(1, len({s.instance for s in sums}))
            cycles = average_rate(counts) * 60
            evidence["gc_pause_share"] = round(pause_share, 5)
            evidence["gc_cycles_per_min"] = round(cycles, 1)
            evidence["series"] = ["go_gc_duration_seconds_sum", "go_gc_duration_seconds_count"]
            if pause_share >= rules.warning_pause_share and severity is None:
                severity = "warning"
                how.append(f"stop-the-world pauses {pause_share:.1%} of wall time ({cycles:.0f} cycles/min)")
        if severity is None:
            continue
        top = evidence.get("top_allocators") or []
        culprit = f" Most allocating code: {top[0]['function']}." if top else ""
        findings.append(Finding(
            id=ID, severity=severity, target=target,
            title="GC pressure: " + "; ".join(how),
            evidence=evidence,
            recommendation=(
                "Allocate less on the hot path (reuse buffers, avoid deep copies of cached objects, list from the "
                "cache instead of the API, use a transform on informers to drop managedFields), or trade memory for "
                "CPU with GOGC=200 and a GOMEMLIMIT near the container limit." + culprit
            ),
            series=("go_gc_duration_seconds_sum", "go_gc_duration_seconds_count") if "series" in evidence else (),
            window=window,
        ))
    return findings
