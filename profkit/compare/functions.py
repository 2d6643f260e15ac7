"""Functions whose CPU grew most between two runs, normalised per reconcile, from the merged CPU profiles.

Ranking is by growth of self (flat) CPU seconds per reconcile, as ``go tool pprof -top -diff_base``
ranks by flat: cumulative growth would put ``main`` and the worker loop first for every change.
Each function carries the path it is reached through in the NEW run (its heaviest stack), so a
leaf like ``bigmod.addMulVVW1024`` shows the ``crypto/rsa.GenerateKey`` and the controller's own
caller above it. When either run lacks reconcile counts, growth is per profiled second instead.

The share-normalised differential flame graph is ``profkit.render.flame_diff`` (shared with
``profkit flame --diff``); this module only ranks functions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from profkit.analyze.cpu_profiles import TargetCpu, reconciles_during
from profkit.analyze.frames import OWN, FrameClassifier, display_name
from profkit.bundle.reader import BundleView
from profkit.compare.model import FunctionGrowth, NormalisedPer
from profkit.model import FrameOrigin, Profile

PATH_FRAMES = 14  # frames of the path kept (nearest the function)
MIN_GROWTH_SHARE = 0.002  # growth under 0.2 % of NEW's CPU per reconcile is not listed
MIN_FUNCTION_SAMPLES = 3  # a function seen in fewer samples of NEW is noise


@dataclass
class _Totals:
    flat: dict[str, float]
    cumulative: dict[str, float]
    origins: dict[str, FrameOrigin]
    heaviest: dict[str, tuple[float, list[str], list[str]]]  # leaf -> (seconds, heaviest stack, origins)
    total: float


def _totals(profile: Profile, seconds_per_unit: float, own_code: tuple[str, ...]) -> _Totals:
    classifier = FrameClassifier(profile, own_code)
    names = [display_name(f, profile.language) for f in profile.frames]
    flat: dict[str, float] = {}
    cumulative: dict[str, float] = {}
    origins: dict[str, FrameOrigin] = {}
    heaviest: dict[str, tuple[float, list[str], list[str]]] = {}
    for stack, weight in zip(profile.stacks, profile.weights):
        if not stack:
            continue
        seconds = weight * seconds_per_unit
        leaf = names[stack[-1]]
        flat[leaf] = flat.get(leaf, 0.0) + seconds
        origins.setdefault(leaf, classifier.origin(stack[-1]))
        for name in {names[i] for i in stack}:
            cumulative[name] = cumulative.get(name, 0.0) + seconds
        if leaf not in heaviest or seconds > heaviest[leaf][0]:
            heaviest[leaf] = (seconds, [names[i] for i in stack], [classifier.origin(i) for i in stack])
    return _Totals(flat, cumulative, origins, heaviest, profile.total * seconds_per_unit)


def _all_windows(view: BundleView, cpu: TargetCpu) -> TargetCpu:
    """``cpu`` with every window of its kind, the empty ones too (an idle window still saw its reconciles)."""
    refs = view.profile_refs(cpu.target, cpu.profile.kind) or cpu.windows
    return replace(cpu, windows=refs, window_profiles=[cpu.profile] * len(refs))


def called_from(path: list[str], origins: list[str], own_frames: int = 2) -> list[str]:
    """Leaf first: the API the controller called (first frame below its own code) and its own callers above.

    ``[crypto/rsa.GenerateKey, ...newPrivateKey, ...generateClientCert]`` for a leaf deep in
    ``math/big``; the leaf itself when the controller's own code is not on the path.
    """
    out: list[str] = []
    for index in range(len(path) - 1, -1, -1):
        if origins[index] == OWN:
            if not out and index + 1 < len(path):
                out.append(path[index + 1])
            out.append(path[index])
            if sum(1 for i in range(index, len(path)) if origins[i] == OWN) >= own_frames:
                break
        elif out:
            break
    return out


def normaliser(view: BundleView, cpu: TargetCpu) -> tuple[float, NormalisedPer]:
    """Reconciles during all profile windows (``"reconcile"``), else profiled seconds (``"second"``)."""
    every = _all_windows(view, cpu)
    counted = reconciles_during(view, every)
    if counted is not None and counted.increase >= 1:
        return counted.increase, "reconcile"
    return max(every.profiled_seconds, 1e-9), "second"


def grown_functions(base_view: BundleView, base: TargetCpu, new_view: BundleView, new: TargetCpu,
                    limit: int = 10, own_code: tuple[str, ...] = ()) -> tuple[list[FunctionGrowth], NormalisedPer]:
    """The ``limit`` functions whose self CPU per reconcile (or per second) grew most, and the unit used."""
    base_n, base_unit = normaliser(base_view, base)
    new_n, new_unit = normaliser(new_view, new)
    per: NormalisedPer = "reconcile" if base_unit == new_unit == "reconcile" else "second"
    if per == "second":
        base_n = max(_all_windows(base_view, base).profiled_seconds, 1e-9)
        new_n = max(_all_windows(new_view, new).profiled_seconds, 1e-9)
    b = _totals(base.profile, base.seconds_per_unit, own_code)
    n = _totals(new.profile, new.seconds_per_unit, own_code)
    floor = MIN_GROWTH_SHARE * n.total / new_n
    sample = new.profile.period * new.seconds_per_unit or 0.01
    rows: list[FunctionGrowth] = []
    for name, new_flat in n.flat.items():
        growth = new_flat / new_n - b.flat.get(name, 0.0) / base_n
        if growth <= floor or new_flat < MIN_FUNCTION_SAMPLES * sample:
            continue
        _, path, origins = n.heaviest.get(name, (0.0, [name], [""]))
        rows.append(FunctionGrowth(
            function=name,
            origin=n.origins[name],  # every leaf in n.flat has its origin
            base_self=b.flat.get(name, 0.0) / base_n,
            new_self=new_flat / new_n,
            base_cumulative=b.cumulative.get(name, 0.0) / base_n,
            new_cumulative=n.cumulative.get(name, 0.0) / new_n,
            base_share=b.flat.get(name, 0.0) / b.total if b.total else 0.0,
            new_share=new_flat / n.total if n.total else 0.0,
            path=path[-PATH_FRAMES:],
            called_from=called_from(path, origins),
        ))
    rows.sort(key=lambda r: (-r.growth, r.function))
    return rows[:limit], per
