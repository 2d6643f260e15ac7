"""repeated-key-generation: CPU spent generating private keys, primes and signing certificates, and who calls it."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from profkit.analyze import AnalyzeOptions, KeyGenerationRules, analyzer, rules_group
from profkit.analyze.cpu_profiles import TargetCpu, cpu_profiles, reconciles_during
from profkit.analyze.frames import FrameClassifier, base_name, display_name
from profkit.analyze.keygen_frames import KEYGEN_ID, CryptoCall, crypto_call
from profkit.bundle.reader import BundleView
from profkit.model import Finding, Profile, Severity
from profkit.model.metric_names import CONTAINER_CPU_SECONDS, PROCESS_CPU_SECONDS
from profkit.units import format_number

ID = KEYGEN_ID
MAX_CHAINS = 5
CHAIN_DEPTH = 5
MAX_LEAVES = 5

# Own functions that only wrap key or certificate creation: the fix belongs in their caller.
_KEY_HELPER = re.compile(r"(?i)(key|cert|prime|sign)")


@dataclass
class KeygenUse:
    """Key generation found in one profile: total weight and its breakdowns."""

    weight: float = 0.0
    by_call: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    chains: dict[tuple[str, ...], float] = field(default_factory=lambda: defaultdict(float))
    fix_sites: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    leaves: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, CryptoCall] = field(default_factory=dict)
    site_callers: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))


def find_keygen(profile: Profile, own_code: tuple[str, ...] = ()) -> KeygenUse:
    """Weight of the stacks that generate keys, by crypto call, own caller chain and leaf function."""
    language = profile.language
    calls = [crypto_call(f, language) for f in profile.frames]
    names = [display_name(f, language) for f in profile.frames]
    classifier = FrameClassifier(profile, own_code)
    use = KeygenUse()
    for stack, weight in zip(profile.stacks, profile.weights):
        outer = next((pos for pos, i in enumerate(stack) if calls[i] is not None), None)
        if outer is None:
            continue
        use.weight += weight
        call_name = names[stack[outer]]
        use.by_call[call_name] += weight
        call = calls[stack[outer]]
        assert call is not None
        use.calls[call_name] = call
        use.leaves[names[stack[-1]]] += weight
        above = [i for i in reversed(stack[:outer]) if classifier.is_own(i)]  # nearest caller first
        chain = tuple(names[i] for i in above[:CHAIN_DEPTH])
        use.chains[chain] += weight
        position = next((k for k, i in enumerate(above) if not _KEY_HELPER.search(base_name(names[i]))), 0)
        if above:
            site = names[above[position]]
            use.fix_sites[site] += weight
            caller = names[above[position + 1]] if position + 1 < len(above) else ""
            use.site_callers[(site, caller)] += weight
    return use


def _top(weights: dict[Any, float], total: float, seconds: float, count: int) -> list[tuple[Any, float, float]]:
    items = sorted(weights.items(), key=lambda kv: -kv[1])[:count]
    return [(key, round(w / total, 4) if total else 0.0, round(w * seconds, 3)) for key, w in items]


def _two_digits(value: float) -> float:
    """Two significant digits: a fraction of a key per reconcile stays a fraction (0.043), not 0.0."""
    return float(f"{value:.2g}")


def _keys_per_reconcile(cpu: TargetCpu, use: KeygenUse, rules: KeyGenerationRules,
                        reconciles: float) -> dict[str, Any]:
    """Keygen CPU per reconcile, and keys per reconcile where one key's cost is known."""
    per_reconcile = use.weight * cpu.seconds_per_unit / reconciles
    out: dict[str, Any] = {"keygen_cpu_seconds_per_reconcile": round(per_reconcile, 4)}
    rsa_keygen = {name: call for name, call in use.calls.items()
                  if call.what == "key generation" and call.algorithm == "RSA"}
    implementations = {c.implementation for c in rsa_keygen.values()}
    low = high = 0.0
    if implementations == {"go"}:
        cost, source = rules.go_rsa2048_key_seconds, "Go crypto/rsa RSA-2048, 40-150 ms per key measured for profkit"
        low, high = rules.go_rsa2048_key_seconds_low, rules.go_rsa2048_key_seconds_high
    elif implementations == {"cryptography"}:
        cost, source = (rules.python_cryptography_rsa2048_key_seconds,
                        "Python cryptography RSA-2048, 43 ms mean measured for profkit")
    else:
        return out  # none, mixed, or pure-Python RSA whose cost depends on a key size the profile does not show
    rsa_seconds = sum(use.by_call[name] for name in rsa_keygen) * cpu.seconds_per_unit / reconciles
    out["rsa_keygen_cpu_seconds_per_reconcile"] = round(rsa_seconds, 4)
    out["estimated_keys_per_reconcile"] = _two_digits(rsa_seconds / cost)
    if low > 0 and high > low:  # the range the measured per-key cost spans
        out["estimated_keys_per_reconcile_range"] = [_two_digits(rsa_seconds / high), _two_digits(rsa_seconds / low)]
    out["assumed_key_cpu_seconds"] = cost
    out["assumed_key_cost_source"] = source + " (assumes 2048-bit keys; an order-of-magnitude estimate)"
    return out


def _framework(profile: Profile) -> str:
    """``cluster-api``, ``kopf`` or ``""``: which controller story a fix text may tell."""
    files = " ".join(f"{f.name} {f.file}" for f in profile.frames[:5000])
    if "sigs.k8s.io/cluster-api" in files:
        return "cluster-api"
    if "kopf/" in files or "kopf." in files:
        return "kopf"
    return ""


def _recommendation(site: str, chain: tuple[str, ...], first_call: str, language: str, what: str,
                    framework: str) -> str:
    """The fix for what was found (key generation, prime generation or certificate signing), in the
    terms of the controller's language and framework (the Cluster API story only for Cluster API)."""
    path = " -> ".join([*reversed(chain), first_call]) if chain else first_call
    where = f"`{site}`" if site else "the caller of the crypto call"
    python = language == "python"
    if what == "certificate signing":
        return (f"{where} signs a certificate every time it runs ({path}), with a key it already holds. Keep the "
                "signed certificate and re-issue it only when it nears expiry or its subject changes: "
                + ("store it with its expiry in the operator's memory per object or issuer, or in the Secret "
                   "it belongs to." if python else
                   "cache it per object (e.g. in a sync.Map keyed by namespace/name) or read it back from the "
                   "Secret that holds it."))
    action = "searches for new primes" if what == "prime generation" else "generates a new private key"
    text = (f"{where} {action} every time it runs ({path}). Generate the key once and reuse it: ")
    if python:
        text += ("cache it per object or per issuer in the operator's memory (a dict keyed by the object's "
                 "namespace/name, or functools.lru_cache on the issuer), or store it in a Secret and read it "
                 "back on the next reconcile" + (" (kopf: in a handler, keep it in memo or the object's Secret)."
                                                 if framework == "kopf" else "."))
        return text
    text += ("cache it per object (e.g. in a sync.Map keyed by namespace/name), or read it from the Secret "
             "that already holds it.")
    if framework == "cluster-api":
        text += (" Cluster API's KubeadmControlPlane had exactly this bug (4 RSA keys per reconcile in "
                 "Management.GetWorkloadCluster, issue 8602) and fixed it by caching one key per cluster (PR 8617).")
    return text


@analyzer(ID, series=(CONTAINER_CPU_SECONDS, PROCESS_CPU_SECONDS), profile_kind="cpu")
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """Flag targets whose CPU profiles spend a notable share generating keys or signing certificates."""
    rules = rules_group(options, ID, options.key_generation, KeyGenerationRules())
    findings: list[Finding] = []
    for cpu in cpu_profiles(view):
        profile = cpu.profile
        if len(profile.weights) == 0 or profile.total <= 0:
            continue
        if cpu.sample_count < rules.min_samples:
            continue
        use = find_keygen(profile, options.own_code)
        share = use.weight / profile.total
        if share < rules.min_share:
            continue
        severity: Severity = "critical" if share >= rules.critical_share else "warning" if share >= rules.warning_share else "info"
        # Absolute cost weighs too: 14 % of a controller using 2 % of one core is no warning.
        wall = cpu.profiled_seconds
        cores = use.weight * cpu.seconds_per_unit / wall if wall > 0 else 0.0
        if cores < rules.warning_cores and severity != "info":
            severity = "info"
        elif cores < rules.critical_cores and severity == "critical":
            severity = "warning"
        seconds = cpu.seconds_per_unit
        calls = _top(use.by_call, profile.total, seconds, MAX_CHAINS)
        chains = _top(use.chains, profile.total, seconds, MAX_CHAINS)
        top_sites = _top(use.fix_sites, profile.total, seconds, 1)
        site = top_sites[0][0] if top_sites else ""
        top_chain: tuple[str, ...] = chains[0][0] if chains else ()
        first_call = calls[0][0]
        evidence: dict[str, Any] = {
            "cpu_share": round(share, 4),
            "cpu_seconds": round(use.weight * seconds, 3),
            "cores": round(cores, 4),
            "profile_cpu_seconds": round(cpu.cpu_seconds, 3),
            "cpu_seconds_estimated_from_samples": cpu.seconds_estimated,
            "language": profile.language,
            "caller": site,
            "caller_chain": list(top_chain),
            "crypto_calls": [{"function": n, "what": use.calls[n].what,
                              "algorithm": use.calls[n].algorithm, "cpu_share": s, "cpu_seconds": c}
                             for n, s, c in calls],
            "callers": [{"chain": list(ch), "cpu_share": s, "cpu_seconds": c} for ch, s, c in chains],
            # Distinct own functions calling the fix site: when each runs once per reconcile, each is
            # one key per reconcile (KCP: 4 callers of GetWorkloadCluster, 4 keys per reconcile).
            "caller_call_sites": [{"function": caller, "cpu_share": s}
                                  for (at, caller), s, _ in _top(use.site_callers, profile.total, seconds, 20)
                                  if at == site and caller],
            "hot_leaves": [{"function": n, "cpu_share": s, "cpu_seconds": c}
                           for n, s, c in _top(use.leaves, profile.total, seconds, MAX_LEAVES)],
            "windows": cpu.window_evidence(lambda p: find_keygen(p, options.own_code).weight / p.total
                                           if p.total else 0.0),
            "skipped_windows": [r.path for r in cpu.skipped],
        }
        reconciles = reconciles_during(view, cpu)
        if reconciles is not None and reconciles.increase > 0:
            evidence["reconciles"] = round(reconciles.increase, 1)
            evidence["reconcile_coverage"] = round(reconciles.coverage, 3)
            evidence.update(_keys_per_reconcile(cpu, use, rules, reconciles.increase))
        # The title names what dominates (key generation, prime generation or certificate signing).
        by_what: dict[str, float] = defaultdict(float)
        for name, weight in use.by_call.items():
            by_what[use.calls[name].what] += weight
        what = max(by_what.items(), key=lambda kv: kv[1])[0]
        evidence["cpu_share_by_operation"] = {k: round(v / profile.total, 4) for k, v in sorted(by_what.items())}
        algorithms = {use.calls[n].algorithm for n in use.by_call if use.calls[n].what == what}
        algo = f"{algorithms.pop()} " if len(algorithms) == 1 and "" not in algorithms else ""
        per = ""
        if "estimated_keys_per_reconcile_range" in evidence:
            few, many = evidence["estimated_keys_per_reconcile_range"]
            per = f", {format_number(few)}-{format_number(many)} RSA keys per reconcile"
        elif "estimated_keys_per_reconcile" in evidence:
            per = f", ~{format_number(evidence['estimated_keys_per_reconcile'])} keys per reconcile"
        call_sites = len(evidence["caller_call_sites"])
        first_call = max((n for n in use.by_call if use.calls[n].what == what), key=lambda n: use.by_call[n])
        title = (f"{algo}{what} takes {share:.0%} of CPU, {cores:.2f} cores ({first_call}"
                 + (f" called from {site}" if site else "")
                 + (f" by {call_sites} callers" if call_sites > 1 else "") + f"){per}")
        findings.append(Finding(ID, severity, cpu.target, title, evidence,
                                _recommendation(site, top_chain, first_call, profile.language, what,
                                                _framework(profile)), profiles=cpu.paths))
    return findings
