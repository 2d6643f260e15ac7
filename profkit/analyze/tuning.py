"""The tuning flags of a captured target and their configured values: catalog defaults overridden by its args."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from profkit.catalog import CollectorSpec, builtin_catalog
from profkit.errors import BadInput
from profkit.model import Target
from profkit.units import format_duration, parse_duration

# controller-runtime's GetConfig (v0.14 .. v0.20) and Cluster API managers before v1.13.
GENERIC_QPS, GENERIC_BURST, GENERIC_SYNC = 20.0, 30.0, 600.0


@dataclass(frozen=True)
class Tuning:
    """Flag names and values for one target. ``sources`` says where each value came from."""

    alias: str
    qps_flag: str
    burst_flag: str
    sync_flag: str
    concurrency_flags: tuple[str, ...]
    qps: float
    burst: float
    sync_period: float
    concurrency: int | None
    known: bool  # True when the flags come from the catalog rather than generic names
    sources: dict[str, str] = field(default_factory=dict)

    def concurrency_flag_for(self, controller: str) -> str:
        """The concurrency flag of one controller (``cluster`` -> ``--cluster-concurrency``), else the first."""
        wanted = re.sub(r"[^a-z0-9]", "", controller.lower())
        for flag in self.concurrency_flags:
            name = re.sub(r"[^a-z0-9]", "", flag.lower().removeprefix("--").removesuffix("-concurrency"))
            if wanted and name == wanted:
                return flag
        for flag in self.concurrency_flags:
            name = re.sub(r"[^a-z0-9]", "", flag.lower())
            if wanted and wanted in name:
                return flag
        return self.concurrency_flags[0] if self.concurrency_flags else "--concurrency"

    def qps_burst_flags(self, qps: float, burst: float) -> str:
        return f"{self.qps_flag}={qps:g} {self.burst_flag}={burst:g}"

    def describe(self) -> str:
        return (f"{self.qps_flag}={self.qps:g} ({self.sources.get('qps', '?')}), "
                f"{self.burst_flag}={self.burst:g} ({self.sources.get('burst', '?')}), "
                f"{self.sync_flag}={format_duration(self.sync_period)} ({self.sources.get('sync_period', '?')})")


def catalog_spec(target: Target | None, name: str = "") -> CollectorSpec | None:
    """The catalog entry for a target: by alias/collector/deployment in its spec, else by its name."""
    catalog = builtin_catalog()
    candidates: list[str] = []
    if target is not None:
        for key in ("alias", "collector", "catalog", "deployment"):
            value = target.spec.get(key)
            if isinstance(value, str):
                candidates.append(value)
        candidates.append(target.name)
    if name:
        candidates.append(name)
    for candidate in candidates:
        if candidate in catalog:
            return catalog[candidate]
        for spec in catalog.values():
            if spec.deployment == candidate:
                return spec
    return None


def target_args(target: Target | None) -> list[str]:
    """Container or command arguments recorded in the target's spec, if any."""
    if target is None:
        return []
    for key in ("args", "container_args", "command", "cmd"):
        value = target.spec.get(key)
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, str):
            return value.split()
    return []


def arg_value(args: Sequence[str], flag: str) -> str | None:
    """The value of ``--flag=V`` or ``--flag V`` in an argument list (last one wins)."""
    found: str | None = None
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            found = arg[len(flag) + 1:]
        elif arg == flag and i + 1 < len(args):
            found = args[i + 1]
    return found


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _duration(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(str(value))
    except BadInput:
        return None


def resolve_tuning(target: Target | None, name: str = "") -> Tuning:
    """Flags and values for a target: explicit spec values, then its args, then catalog defaults."""
    spec = catalog_spec(target, name)
    args = target_args(target)
    raw_spec: dict[str, Any] = target.spec if target is not None else {}
    qps_flag = spec.flag("qps", "--kube-api-qps") if spec else "--kube-api-qps"
    burst_flag = spec.flag("burst", "--kube-api-burst") if spec else "--kube-api-burst"
    sync_flag = spec.flag("sync_period", "--sync-period") if spec else "--sync-period"
    concurrency_flags = tuple(spec.concurrency_flags()) if spec else ("--concurrency",)
    defaults = spec.defaults if spec else {}
    sources: dict[str, str] = {}

    def pick(knob: str, flag: str, parse: Any, generic: float | None) -> float | None:
        value = parse(raw_spec.get(knob))
        if value is not None:
            sources[knob] = "target spec"
            return float(value)
        value = parse(arg_value(args, flag))
        if value is not None:
            sources[knob] = f"args {flag}"
            return float(value)
        value = parse(defaults.get(knob))
        if value is not None:
            sources[knob] = f"catalog default ({spec.alias if spec else ''})"
            return float(value)
        if generic is not None:
            sources[knob] = "controller-runtime default"
        return generic

    qps = pick("qps", qps_flag, _number, GENERIC_QPS)
    burst = pick("burst", burst_flag, _number, GENERIC_BURST)
    sync = pick("sync_period", sync_flag, _duration, GENERIC_SYNC)
    concurrency: float | None = None
    for flag in concurrency_flags[1:]:  # a later controller's flag set in the args
        concurrency = _number(arg_value(args, flag))
        if concurrency is not None:
            sources["concurrency"] = f"args {flag}"
            break
    if concurrency is None or _number(raw_spec.get("concurrency")) is not None:
        concurrency = pick("concurrency", concurrency_flags[0], _number, None)
    return Tuning(
        alias=spec.alias if spec else (target.name if target else name),
        qps_flag=qps_flag,
        burst_flag=burst_flag,
        sync_flag=sync_flag,
        concurrency_flags=concurrency_flags,
        qps=qps if qps is not None else GENERIC_QPS,
        burst=burst if burst is not None else GENERIC_BURST,
        sync_period=sync if sync is not None else GENERIC_SYNC,
        concurrency=int(concurrency) if concurrency is not None else None,
        known=spec is not None,
        sources=sources,
    )


def tuning_for(targets: Sequence[Target], name: str) -> Tuning:
    """Tuning of the target called ``name`` among a bundle's targets (generic when unknown)."""
    for target in targets:
        if target.name == name:
            return resolve_tuning(target)
    return resolve_tuning(None, name)
