"""The collector catalog: how to reach each known controller, read from declarative YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from profkit.errors import BadInput
from profkit.fileio import parse_yaml
from profkit.model.profile import Language

AUTH_MODES = ("none", "bearer")
Version = tuple[int, int, int]
Availability = Literal["present", "absent", "unknown"]
#: ``v1.7.2``, ``1.4.9``, ``v1.8.0-beta.0`` (a pre-release counts as its release: flags land before the beta).
VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]*)?$")
SCHEMES = ("http", "https")
LANGUAGES: tuple[Language, ...] = ("go", "python")


@dataclass(frozen=True)
class EndpointSpec:
    """One HTTP endpoint of a controller pod: port (number or name), scheme, auth and paths."""

    name: str
    port: int | str
    scheme: str = "http"
    auth: str = "none"
    metrics: str | None = None  # path of /metrics on this port, if served here
    pprof: str | None = None  # base path of /debug/pprof on this port, if served here
    when_arg: str | None = None  # used only when the container has this argument


@dataclass(frozen=True)
class FlagHistory:
    """When a flag appeared in a controller: the first release that has it and the change that added it."""

    flag: str
    since: Version | None  # None: the release is not known, only the change
    since_text: str
    change: str  # e.g. kubernetes-sigs/cluster-api#8579
    until: Version | None = None  # the first release where it no longer works (deprecated no-op or removed)
    until_text: str = ""


@dataclass(frozen=True)
class CollectorSpec:
    """Everything profkit needs to capture one kind of controller."""

    alias: str
    deployment: str
    namespace: str
    description: str = ""
    container: str | None = None
    language: Language = "go"
    log_format: str = "json"
    endpoints: tuple[EndpointSpec, ...] = ()
    resources: tuple[str, ...] = ()
    flags: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    product: str = ""  # how releases are named in the text ("Cluster API v1.5.0")
    go_module: str = ""  # the main module in Go build info (go_build_info's path label)
    flag_history: dict[str, FlagHistory] = field(default_factory=dict)
    defaults_since: tuple[tuple[Version, dict[str, Any]], ...] = ()  # newer defaults, oldest release first

    def concurrency_flags(self) -> list[str]:
        value = self.flags.get("concurrency", [])
        return [value] if isinstance(value, str) else list(value)

    def flag(self, knob: str, default: str = "") -> str:
        """The controller's flag for a tuning knob (qps, burst, sync_period), e.g. ``--kube-api-qps``."""
        value = self.flags.get(knob, default)
        return value if isinstance(value, str) else (value[0] if value else default)

    def flag_availability(self, flag: str, version: Version | None) -> Availability:
        """Whether a release has a flag: flags without history exist in every release the catalog covers."""
        history = self.flag_history.get(flag)
        if history is None:
            return "present"
        if version is None or (history.since is None and history.until is None):
            return "unknown"
        if history.until is not None and version >= history.until:
            return "absent"
        if history.since is None:
            return "unknown"
        return "present" if version >= history.since else "absent"

    def defaults_for(self, version: Version | None) -> dict[str, Any]:
        """The defaults of a release: ``defaults`` overridden by every ``defaults_since`` entry it reaches."""
        merged = dict(self.defaults)
        if version is not None:
            for since, values in self.defaults_since:
                if version >= since:
                    merged.update(values)
        return merged

    def release(self, version: Version | str) -> str:
        """A release as the text names it: ``Cluster API v1.5.0``."""
        text = version if isinstance(version, str) else "v" + ".".join(str(n) for n in version)
        return f"{self.product} {text}".strip()


def parse_version(text: str | None) -> Version | None:
    """``v1.7.2`` -> (1, 7, 2); None for anything that is not a release number (``main``, ``latest``, ``(devel)``)."""
    if not text:
        return None
    match = VERSION.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def version_from_image(image: str | None) -> str | None:
    """The release in an image reference's tag (``registry.k8s.io/cluster-api/cluster-api-controller:v1.7.2``)."""
    if not image:
        return None
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    tag = last.rsplit(":", 1)[1]
    return tag if parse_version(tag) is not None else None


def _flag_history(raw: Any, where: str) -> dict[str, FlagHistory]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: flag_history is a mapping of flag to {{since: vX.Y.Z, change: ...}}")
    out: dict[str, FlagHistory] = {}
    for flag, entry in raw.items():
        entry = entry if isinstance(entry, dict) else {"since": entry}
        since_text = str(entry.get("since") or "")
        since = parse_version(since_text) if since_text else None
        if since_text and since is None:
            raise BadInput(f"{where}: flag_history {flag}: since {since_text!r} is not a release like v1.5.0")
        if since is None and not entry.get("change"):
            raise BadInput(f"{where}: flag_history {flag}: give since (the first release) or change (what added it)")
        until_text = str(entry.get("until") or "")
        until = parse_version(until_text) if until_text else None
        if until_text and until is None:
            raise BadInput(f"{where}: flag_history {flag}: until {until_text!r} is not a release like v1.6.0")
        out[str(flag)] = FlagHistory(str(flag), since, since_text, str(entry.get("change") or ""), until, until_text)
    return out


def _defaults_since(raw: Any, where: str) -> tuple[tuple[Version, dict[str, Any]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: defaults_since is a mapping of release (v1.13.0) to defaults")
    out: list[tuple[Version, dict[str, Any]]] = []
    for release, values in raw.items():
        version = parse_version(str(release))
        if version is None or not isinstance(values, dict):
            raise BadInput(f"{where}: defaults_since {release!r}: expected vX.Y.Z: {{knob: value}}")
        out.append((version, dict(values)))
    return tuple(sorted(out, key=lambda item: item[0]))


def _language(raw: Any, where: str) -> Language:
    if raw not in LANGUAGES:
        raise BadInput(f"{where}: language must be one of {', '.join(LANGUAGES)} (got {raw!r})")
    return cast(Language, raw)


def _endpoint(raw: Any, where: str) -> EndpointSpec:
    if not isinstance(raw, dict) or "port" not in raw:
        raise BadInput(f"{where}: each endpoint needs at least a port")
    scheme, auth = str(raw.get("scheme", "http")), str(raw.get("auth", "none"))
    if scheme not in SCHEMES:
        raise BadInput(f"{where}: endpoint scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
    if auth not in AUTH_MODES:
        raise BadInput(f"{where}: endpoint auth {auth!r} is not one of {', '.join(AUTH_MODES)}")
    if not raw.get("metrics") and not raw.get("pprof"):
        raise BadInput(f"{where}: endpoint on port {raw['port']} serves neither metrics nor pprof")
    port = raw["port"]
    return EndpointSpec(
        name=str(raw.get("name", port)),
        port=int(port) if isinstance(port, int) or str(port).isdigit() else str(port),
        scheme=scheme,
        auth=auth,
        metrics=raw.get("metrics"),
        pprof=raw.get("pprof"),
        when_arg=raw.get("when_arg"),
    )


def parse_collector(text: str, source: str) -> CollectorSpec:
    """Validate one collector YAML document; errors name the file and the field."""
    raw = parse_yaml(text, source)
    if not isinstance(raw, dict):
        raise BadInput(f"{source}: a collector definition is a YAML mapping")
    missing = [key for key in ("alias", "deployment", "namespace") if not raw.get(key)]
    if missing:
        raise BadInput(f"{source}: missing {', '.join(missing)}")
    return CollectorSpec(
        alias=str(raw["alias"]),
        deployment=str(raw["deployment"]),
        namespace=str(raw["namespace"]),
        description=str(raw.get("description", "")),
        container=raw.get("container"),
        language=_language(raw.get("language", "go"), source),
        log_format=str(raw.get("log_format", "json")),
        endpoints=tuple(_endpoint(e, source) for e in raw.get("endpoints") or []),
        resources=tuple(str(r) for r in raw.get("resources") or []),
        flags=dict(raw.get("flags") or {}),
        defaults=dict(raw.get("defaults") or {}),
        source=source,
        product=str(raw.get("product") or ""),
        go_module=str(raw.get("go_module") or ""),
        flag_history=_flag_history(raw.get("flag_history"), source),
        defaults_since=_defaults_since(raw.get("defaults_since"), source),
    )


def load_collector_file(path: Path) -> CollectorSpec:
    """A user's own collector definition (``--collector FILE.yaml``)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"--collector {path}: {exc.strerror or exc}") from None
    return parse_collector(text, str(path))


def builtin_catalog() -> dict[str, CollectorSpec]:
    """The catalog shipped with profkit, by alias."""
    catalog: dict[str, CollectorSpec] = {}
    for entry in sorted(resources.files("profkit.collectors").iterdir(), key=lambda p: p.name):
        if entry.name.endswith((".yaml", ".yml")):
            spec = parse_collector(entry.read_text(), f"collectors/{entry.name}")
            catalog[spec.alias] = spec
    return catalog


def resolve(name: str, extra: list[CollectorSpec] | None = None) -> CollectorSpec | None:
    """The catalog entry for an alias or deployment name, or None for a plain deployment."""
    catalog = builtin_catalog()
    for spec in extra or []:
        catalog[spec.alias] = spec
    if name in catalog:
        return catalog[name]
    for spec in catalog.values():
        if spec.deployment == name:
            return spec
    return None
