"""cpu-hotspot: the controller's own functions that carry most of its CPU, with the leaf functions under them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from profkit.analyze import AnalyzeOptions, CpuHotspotRules, analyzer, rules_group
from profkit.analyze.cpu_profiles import (
    PROCESS_CPU,
    TargetCpu,
    cores_during,
    cpu_profiles,
    process_cpu_increase,
    reconciles_during,
)
from profkit.analyze.frames import FrameClassifier, base_name, display_name
from profkit.analyze.keygen_frames import KEYGEN_ID, keygen_mask
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Profile, Severity
from profkit.model.metric_names import CONTAINER_CPU_SECONDS, PROCESS_CPU_SECONDS, RECONCILE_TOTAL

ID = "cpu-hotspot"
# Entry frames of one's own program that sit on (almost) every stack and say nothing.
ENTRY_FUNCTIONS = {"main.main", "<module>", "main"}
KEYGEN_EXPLAINS = 0.5  # a hotspot at least half key generation is left to repeated-key-generation


@dataclass
class OwnCodeProfile:
    """Cumulative and flat weight of each own function, its own callees and the leaves under it."""

    total: float  # weight of the stacks that are CPU (idle waits left out)
    idle_weight: float = 0.0  # weight of stacks whose leaf is a wait (select, Condition.wait, gopark)
    own_weight: float = 0.0  # weight of the stacks that run any own code
    cumulative: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    flat: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    callees: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    leaves: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    callers: dict[str, dict[tuple[str, ...], float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    keygen: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def own_code_profile(profile: Profile, own_code: tuple[str, ...] = ()) -> OwnCodeProfile:
    """Aggregate a profile over the controller's own functions (recursion counted once per stack).

    Stacks that end in an idle wait are not CPU: they count in neither the own code nor the total.
    """
    classifier = FrameClassifier(profile, own_code)
    names = [display_name(f, profile.language) for f in profile.frames]
    keygen = keygen_mask(profile)
    out = OwnCodeProfile(profile.total)
    for stack, weight, is_keygen in zip(profile.stacks, profile.weights, keygen):
        if classifier.is_idle(stack):
            out.idle_weight += weight
            out.total -= weight
            continue
        own = [names[i] for i in stack if classifier.is_own(i)]
        if not own:
            continue
        out.own_weight += weight
        leaf = names[stack[-1]]
        if classifier.is_own(stack[-1]):
            out.flat[leaf] += weight
        seen: set[str] = set()
        for depth, name in enumerate(own):
            if name in seen:
                continue
            seen.add(name)
            out.cumulative[name] += weight
            out.leaves[name][leaf] += weight
            if is_keygen:
                out.keygen[name] += weight
            callee = next((n for n in own[depth + 1:] if n != name), None)
            if callee is not None:
                out.callees[name][callee] += weight
            out.callers[name][tuple(reversed(own[max(0, depth - 4):depth]))] += weight
    return out


def hot_functions(own: OwnCodeProfile, rules: CpuHotspotRules) -> list[str]:
    """Own functions by cumulative weight, leaving out entry frames and pass-through frames.

    A pass-through frame hands at least ``pass_through_share`` of its weight on to own callees
    (``main.main`` -> ``(*Worker).run`` -> ``processItem`` -> helpers): the callees name the work
    better. What such a frame spends itself (flat, or in library calls it makes) is its own work.
    """
    kept: list[str] = []
    for name, cum in sorted(own.cumulative.items(), key=lambda kv: (-kv[1], kv[0])):
        if name in ENTRY_FUNCTIONS or base_name(name) == "main" and name.startswith("main."):
            continue
        callees = own.callees.get(name, {})
        if callees and sum(callees.values()) >= rules.pass_through_share * cum:
            continue
        kept.append(name)
    return kept


def _share(weight: float, total: float) -> float:
    return round(weight / total, 4) if total else 0.0


def _function_evidence(own: OwnCodeProfile, name: str, cpu: TargetCpu, rules: CpuHotspotRules) -> dict[str, Any]:
    leaves = sorted(own.leaves[name].items(), key=lambda kv: -kv[1])[: rules.top_leaves]
    callers = sorted(own.callers[name].items(), key=lambda kv: -kv[1])
    return {
        "function": name,
        "cum_share": _share(own.cumulative[name], own.total),
        "flat_share": _share(own.flat.get(name, 0.0), own.total),
        "cpu_seconds": round(own.cumulative[name] * cpu.seconds_per_unit, 3),
        "leaves": [{"function": leaf, "share": _share(w, own.total)} for leaf, w in leaves],
        "called_from": list(callers[0][0]) if callers else [],
        "key_generation_share": _share(own.keygen.get(name, 0.0), own.cumulative[name]),
    }


def cpu_per_reconcile(view: BundleView, cpu: TargetCpu) -> dict[str, Any]:
    """CPU seconds per reconcile: over the profile windows, and over the whole capture from metrics."""
    out: dict[str, Any] = {}
    reconciles = reconciles_during(view, cpu)
    if reconciles is not None and reconciles.increase > 0:
        out["reconciles_in_profiles"] = round(reconciles.increase, 1)
        covered = reconciles.coverage or 1.0
        out["profile_cpu_seconds_per_reconcile"] = round(cpu.cpu_seconds * covered / reconciles.increase, 4)
    cpu_series = view.series(PROCESS_CPU, target=cpu.target)
    reconcile_series = view.series(RECONCILE_TOTAL, target=cpu.target)
    total_reconciles = sum(s.increase() for s in reconcile_series)
    if cpu_series and total_reconciles > 0:
        out["reconciles_in_capture"] = round(total_reconciles, 1)
        out["process_cpu_seconds_per_reconcile"] = round(process_cpu_increase(cpu_series) / total_reconciles, 4)
    return out


def _recommendation(name: str, leaves: list[dict[str, Any]], keygen_share: float, path: list[str]) -> str:
    under = ", ".join(f"`{leaf['function']}`" for leaf in leaves[:3])
    route = " -> ".join([*reversed(path), name])
    if keygen_share >= KEYGEN_EXPLAINS:
        return (f"Most of `{name}`'s CPU is key generation: see the {KEYGEN_ID} finding for the fix "
                f"(generate the key once and cache it). Path: {route}.")
    return (
        f"`{name}` carries most of the controller's CPU (path: {route}); the time under it is spent in {under}. "
        "Check whether it repeats work on every reconcile that could be cached, skipped when nothing changed, "
        "or moved out of the hot path; compare the flame graph in the report before and after the change."
    )


@analyzer(ID, series=(CONTAINER_CPU_SECONDS, PROCESS_CPU_SECONDS), profile_kind="cpu")
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Name the own function that dominates each target's CPU profile, with CPU per reconcile."""
    rules = rules_group(options, ID, options.cpu_hotspot, CpuHotspotRules())
    findings: list[Finding] = []
    for cpu in cpu_profiles(view):
        if cpu.sample_count < rules.min_samples or cpu.profile.total <= 0:
            continue
        own = own_code_profile(cpu.profile, options.own_code)
        ranked = hot_functions(own, rules)
        if not ranked or own.total <= 0:
            continue
        top = ranked[0]
        share = own.cumulative[top] / own.total
        if share < rules.info_share:
            continue
        cores, cores_source = cores_during(view, cpu)
        # The profile's CPU share of the process's cores (idle samples, when recorded, are no CPU).
        cpu_fraction = own.total / cpu.profile.total if cpu.profile.total else 0.0
        function_cores = share * cores * (cpu_fraction if cores_source == "profile" else 1.0)
        if function_cores < rules.min_cores:
            continue  # nothing at 0.00 cores is a hotspot
        functions = [_function_evidence(own, name, cpu, rules) for name in ranked[: rules.top_functions]]
        keygen_share = functions[0]["key_generation_share"]
        severity: Severity = "info"
        if share >= rules.warning_share and cores >= rules.warning_min_cores and keygen_share < KEYGEN_EXPLAINS:
            severity = "warning"
        evidence: dict[str, Any] = {
            "function": top,
            "cpu_share": round(share, 4),
            "cpu_seconds": round(own.cumulative[top] * cpu.seconds_per_unit, 3),
            "profile_cpu_seconds": round(cpu.cpu_seconds, 3),
            "cpu_seconds_estimated_from_samples": cpu.seconds_estimated,
            "cores": round(cores, 3),
            "function_cores": round(function_cores, 3),
            "cores_source": cores_source,
            "idle_share_left_out": _share(own.idle_weight, cpu.profile.total),
            "own_code_share": _share(own.own_weight, own.total),
            "hot_path": functions[0]["called_from"],
            "functions": functions,
            "windows": cpu.window_evidence(),
            "skipped_windows": [r.path for r in cpu.skipped],
        }
        evidence.update(cpu_per_reconcile(view, cpu))
        per = evidence.get("process_cpu_seconds_per_reconcile", evidence.get("profile_cpu_seconds_per_reconcile"))
        title = (f"{top} carries {share:.0%} of CPU ({function_cores:.2f} of {cores:.2f} cores)"
                 + (f", {per * 1000:.0f} ms CPU per reconcile" if per is not None else ""))
        findings.append(Finding(ID, severity, cpu.target, title, evidence,
                                _recommendation(top, functions[0]["leaves"], keygen_share, functions[0]["called_from"]),
                                profiles=cpu.paths))
    return findings
