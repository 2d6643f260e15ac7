"""The collector catalog: how to reach each known controller, read from declarative YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

from profkit.errors import BadInput
from profkit.fileio import parse_yaml
from profkit.model.profile import Language

AUTH_MODES = ("none", "bearer")
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

    def concurrency_flags(self) -> list[str]:
        value = self.flags.get("concurrency", [])
        return [value] if isinstance(value, str) else list(value)

    def flag(self, knob: str, default: str = "") -> str:
        """The controller's flag for a tuning knob (qps, burst, sync_period), e.g. ``--kube-api-qps``."""
        value = self.flags.get(knob, default)
        return value if isinstance(value, str) else (value[0] if value else default)


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
