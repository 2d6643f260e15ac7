"""The tuning flags of a captured target, which of them its release has, and their values: catalog defaults, then args."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from profkit.catalog import Availability, CollectorSpec, builtin_catalog, parse_version, version_from_image
from profkit.errors import BadInput
from profkit.model import Target
from profkit.units import format_duration, parse_duration

if TYPE_CHECKING:
    from profkit.bundle.reader import BundleView

#: client_golang's build info collector (``collectors.NewBuildInfoCollector``): labels path, version, checksum.
BUILD_INFO = "go_build_info"
#: Where QPS and Burst live when a manager has no flag for them (controller-runtime: the config given to NewManager).
REST_CONFIG = "the rest.Config passed to ctrl.NewManager in main.go"

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
    version: str | None = None  # the controller's release (``v1.4.9``) when the capture recorded it
    version_source: str = ""  # where the release came from: image tag, build info, target spec
    spec: CollectorSpec | None = None
    args: tuple[str, ...] = ()

    def availability(self, flag: str) -> Availability:
        """Whether this controller has ``flag``: seen in its args, else the catalog's history for its release."""
        if any(a == flag or a.startswith(flag + "=") for a in self.args):
            return "present"
        if self.spec is None:
            return "unknown"
        return self.spec.flag_availability(flag, parse_version(self.version))

    @property
    def rate_flags(self) -> Availability:
        """Whether the QPS and burst flags exist: absent if either is; present if one is and the other not known
        otherwise (the two come together: a controller given --kube-api-qps has --kube-api-burst)."""
        both = {self.availability(self.qps_flag), self.availability(self.burst_flag)}
        return "absent" if "absent" in both else "present" if "present" in both else "unknown"

    @property
    def qps_label(self) -> str:
        """The QPS flag where the controller has it, else what the text calls the setting."""
        return self.qps_flag if self.rate_flags == "present" else "client QPS"

    @property
    def burst_label(self) -> str:
        return self.burst_flag if self.rate_flags == "present" else "client Burst"

    def rate_limit_names(self) -> str:
        return f"{self.qps_flag}/{self.burst_flag}" if self.rate_flags == "present" else "the client QPS/Burst"

    def flags_status(self) -> dict[str, Any]:
        """Machine-readable: the release, where it came from, and whether each rate flag exists."""
        return {"version": self.version, "version_source": self.version_source or None,
                "flags": {f: self.availability(f) for f in (self.qps_flag, self.burst_flag)}}

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
        """The two settings as the user sets them: the flags, or QPS/Burst values when the release has no flags."""
        if self.rate_flags == "absent":
            return f"QPS={qps:g} Burst={burst:g}"
        return f"{self.qps_flag}={qps:g} {self.burst_flag}={burst:g}"

    def set_rate_limit(self, qps: float, burst: float) -> str:
        """How to set QPS/Burst: the flags where the release has them, conditional where unknown, "" where absent."""
        status = self.rate_flags
        if status == "absent":
            return ""
        flags = self.qps_burst_flags(qps, burst)
        return flags if status == "present" else f"{flags} where the controller has these flags"

    def _history_text(self) -> tuple[str, str]:
        """(first release with the QPS flag, the change that added it) from the catalog, either may be empty."""
        history = self.spec.flag_history.get(self.qps_flag) if self.spec else None
        if history is None:
            return "", ""
        return (self.spec.release(history.since_text) if self.spec and history.since_text else ""), history.change

    def rate_limit_note(self) -> str:
        """A sentence on whether the rate flags exist in this release, and what to do where they do not ("" if they do)."""
        status, pair = self.rate_flags, f"{self.qps_flag}/{self.burst_flag}"
        if status == "present":
            return ""
        since, change = self._history_text()
        added = ", ".join(x for x in (f"added in {since}" if since else "", change) if x)
        if status == "absent" and self.spec is not None:
            release = self.spec.release(self.version or "")
            upgrade = f"upgrade to {since.split()[-1]} or later and use the flags, or " if since else ""
            return (f" {release} has no {pair} ({added}): {upgrade}set QPS and Burst on {REST_CONFIG} "
                    "(a code change).")
        if since:
            return (f" {pair} exist from {since} on ({change}); which release runs is not known here (no image tag "
                    f"or build info recorded), and older releases have no such flags: there, set QPS and Burst "
                    f"on {REST_CONFIG}.")
        if change:
            return (f" {pair} came with {change}; a build without that change has no such flags: there, set QPS "
                    f"and Burst on {REST_CONFIG}.")
        return f" If the controller has no {pair} flags, set QPS and Burst on {REST_CONFIG}."

    def describe(self) -> str:
        qps, burst = ((self.qps_flag, self.burst_flag) if self.rate_flags != "absent"
                      else ("QPS", "Burst"))
        release = f"; release {self.version} ({self.version_source})" if self.version else ""
        return (f"{qps}={self.qps:g} ({self.sources.get('qps', '?')}), "
                f"{burst}={self.burst:g} ({self.sources.get('burst', '?')}), "
                f"{self.sync_flag}={format_duration(self.sync_period)} ({self.sources.get('sync_period', '?')})"
                + release)


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


def target_version(target: Target | None, build_info: Sequence[dict[str, str]] = (),
                   spec: CollectorSpec | None = None) -> tuple[str | None, str]:
    """The controller's release and where it came from: recorded at capture, the image tag, the executable's
    Go build info (local processes), else a ``go_build_info`` series."""
    raw: dict[str, Any] = target.spec if target is not None else {}
    recorded = raw.get("version")
    if isinstance(recorded, str) and parse_version(recorded) is not None:
        return recorded, str(raw.get("version_source") or "target spec")
    image = raw.get("image")
    tag = version_from_image(image if isinstance(image, str) else None)
    if tag is not None:
        return tag, f"image tag of {image}"
    embedded = raw.get("go_build_info")  # read from a local Go process's executable at capture
    if isinstance(embedded, dict) and spec is not None and spec.go_module:
        main, deps = embedded.get("main") or [], embedded.get("deps") or {}
        found = (main[1] if isinstance(main, list) and len(main) == 2 and main[0] == spec.go_module
                 else deps.get(spec.go_module) if isinstance(deps, dict) else None)
        if isinstance(found, str) and parse_version(found) is not None:
            return found, f"Go build info of the executable (module {spec.go_module})"
    for labels in build_info:
        path, version = labels.get("path", ""), labels.get("version", "")
        if parse_version(version) is not None and (spec is None or not spec.go_module or path == spec.go_module):
            return version, f"{BUILD_INFO} (module {path or '?'})"
    return None, ""


def resolve_tuning(target: Target | None, name: str = "", build_info: Sequence[dict[str, str]] = ()) -> Tuning:
    """Flags and values for a target: explicit spec values, then its args, then its release's catalog defaults."""
    spec = catalog_spec(target, name)
    args = target_args(target)
    raw_spec: dict[str, Any] = target.spec if target is not None else {}
    version, version_source = target_version(target, build_info, spec)
    parsed = parse_version(version)
    qps_flag = spec.flag("qps", "--kube-api-qps") if spec else "--kube-api-qps"
    burst_flag = spec.flag("burst", "--kube-api-burst") if spec else "--kube-api-burst"
    sync_flag = spec.flag("sync_period", "--sync-period") if spec else "--sync-period"
    concurrency_flags = tuple(spec.concurrency_flags()) if spec else ("--concurrency",)
    if spec is not None:  # a release without a flag never hears of it (kept when the args name it)
        kept = tuple(f for f in concurrency_flags
                     if spec.flag_availability(f, parsed) != "absent" or arg_value(args, f) is not None)
        concurrency_flags = kept or concurrency_flags
    defaults = spec.defaults_for(parsed) if spec else {}
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
            sources[knob] = f"catalog default ({spec.alias if spec else ''}{' ' + version if version else ''})"
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
        version=version,
        version_source=version_source,
        spec=spec,
        args=tuple(args),
    )


def tuning_for(targets: Sequence[Target], name: str, view: BundleView | None = None) -> Tuning:
    """Tuning of the target called ``name`` among a bundle's targets (generic when unknown).

    With ``view``, a ``go_build_info`` series the controller exposes gives its release when the capture
    recorded none."""
    build_info = [s.labels for s in view.series(BUILD_INFO) if s.target == name] if view is not None else []
    for target in targets:
        if target.name == name:
            return resolve_tuning(target, build_info=build_info)
    return resolve_tuning(None, name, build_info=build_info)
