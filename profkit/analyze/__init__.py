"""Analyzer registry: pure ``analyze(view, options) -> [Finding]`` functions found by finding id.

Every module of this package that registers an analyzer does so with the ``@analyzer("id")``
decorator; :func:`load_analyzers` imports all modules of the package once, so a new analyzer is
one new module and nothing else. Helper modules (``frames``, ``rules``, ``metrics_math``...) are
imported too and simply register nothing.

Failure policy (decided here, relied on by the CLI and the report): an analyzer that raises does
not stop the run. Its exception becomes one ``info`` finding with id ``analyzer-error`` naming
the analyzer and the error, so the other findings are still printed, ``--fail-on warning`` is not
tripped by a bug, and the failure stays visible in the JSON output and the report.
``AnalyzeOptions(strict=True)`` re-raises instead (tests use it).

Thresholds: every analyzer keeps its defaults in ``profkit.analyze.rules`` (re-exported here:
:class:`KeyGenerationRules`, :class:`CpuHotspotRules`), which also reads ``--rules FILE``;
``rules`` imports nothing from this module. Precedence for one analyzer:
an explicit group on ``AnalyzeOptions`` > the group of the same name in the rules file > the
documented defaults.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from profkit.analyze.rules import CpuHotspotRules as CpuHotspotRules  # re-exported: analyzers import them from here
from profkit.analyze.rules import KeyGenerationRules as KeyGenerationRules
from profkit.analyze.rules import Rules
from profkit.model import EvidenceSources, Finding, severity_rank
from profkit.model.finding import EvidenceProfileKind

if TYPE_CHECKING:
    from profkit.bundle.reader import BundleView

ANALYZER_ERROR_ID = "analyzer-error"


@dataclass
class AnalyzeOptions:
    """What ``profkit analyze`` / ``report`` pass to every analyzer.

    ``only``: run just these finding ids (empty: all). ``rules``: a ``profkit.analyze.rules.Rules``,
    a mapping ``{finding-id: {threshold: value}}`` or a path to a rules YAML file (read by
    ``profkit.analyze.rules.rules_from``). ``key_generation`` / ``cpu_hotspot``: explicit
    thresholds for those two analyzers (None: rules file, else defaults).
    ``own_code``: extra package prefixes that are the controller's own code (Go import paths
    such as ``sigs.k8s.io/cluster-api``, Python top-level packages).
    """

    only: tuple[str, ...] = ()
    rules: Rules | dict[str, Any] | Path | str | None = None
    rules_file: Path | None = None
    key_generation: KeyGenerationRules | None = None
    cpu_hotspot: CpuHotspotRules | None = None
    own_code: tuple[str, ...] = ()
    strict: bool = False


Analyzer = Callable[["BundleView", AnalyzeOptions], list[Finding]]
ANALYZERS: dict[str, Analyzer] = {}
EVIDENCE_SOURCES: dict[str, EvidenceSources] = {}  # what each finding id rests on, from its registration

_F = TypeVar("_F", bound=Analyzer)
_R = TypeVar("_R")
_loaded = False


def analyzer(finding_id: str, *, series: tuple[str, ...] = (), logs: bool = False,
             profile_kind: EvidenceProfileKind | None = None) -> Callable[[_F], _F]:
    """Register ``analyze(view, options) -> [Finding]`` under the finding id it produces.

    ``series`` (metric names), ``logs`` and ``profile_kind`` declare the data every finding of
    this id rests on; the report links each finding to the panels and flame graphs drawing it.
    """

    def register(function: _F) -> _F:
        existing = ANALYZERS.get(finding_id)
        if existing is not None and existing is not function and _qualname(existing) != _qualname(function):
            raise ValueError(f"analyzer {finding_id!r} registered twice ({_qualname(existing)}, {_qualname(function)})")
        ANALYZERS[finding_id] = function
        EVIDENCE_SOURCES[finding_id] = EvidenceSources(series, logs, profile_kind)
        return function

    return register


def _qualname(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def load_analyzers() -> dict[str, Analyzer]:
    """Import every module of this package once, so that all analyzers are registered."""
    global _loaded
    if not _loaded:
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return ANALYZERS


def evidence_sources(finding_id: str) -> EvidenceSources:
    """What findings of ``finding_id`` rest on, as its analyzer declared it (nothing for unknown ids)."""
    load_analyzers()
    return EVIDENCE_SOURCES.get(finding_id, EvidenceSources())


def analyzer_ids() -> list[str]:
    """The registered finding ids, sorted."""
    return sorted(load_analyzers())


def rules_group(options: AnalyzeOptions, finding_id: str, explicit: _R | None, default: _R) -> _R:
    """Thresholds of one analyzer: the explicit option group > the rules file's group > defaults."""
    if explicit is not None:
        return explicit
    if options.rules is not None or options.rules_file is not None:
        from profkit.analyze.rules import rules_from

        group = getattr(rules_from(options), finding_id.replace("-", "_"), None)
        if isinstance(group, type(default)):
            return group
    return default


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by id, target and title (a stable order for JSON snapshots)."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.id, f.target, f.title))


def run_analyzers(view: BundleView, options: AnalyzeOptions | None = None) -> list[Finding]:
    """Run the selected analyzers over one bundle; findings sorted most severe first."""
    options = options or AnalyzeOptions()
    registry = load_analyzers()
    wanted = list(options.only) or sorted(registry)
    unknown = [i for i in wanted if i not in registry]
    if unknown:
        from profkit.errors import BadInput

        raise BadInput(f"unknown analyzer id(s): {', '.join(unknown)} (known: {', '.join(sorted(registry))})")
    findings: list[Finding] = []
    for finding_id in wanted:
        try:
            findings.extend(registry[finding_id](view, options))
        except Exception as exc:
            if options.strict:
                raise
            findings.append(_error_finding(finding_id, exc))
    return sort_findings(findings)


def _error_finding(finding_id: str, exc: Exception) -> Finding:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return Finding(
        id=ANALYZER_ERROR_ID,
        severity="info",
        target="",
        title=f"analyzer {finding_id} failed: {type(exc).__name__}: {exc}",
        evidence={
            "analyzer": finding_id,
            "error": f"{type(exc).__name__}: {exc}",
            "where": [f"{f.filename}:{f.lineno} in {f.name}" for f in frames],
        },
        recommendation=(
            "This is a profkit bug or a bundle it cannot read; the other analyzers ran. "
            "Re-run with the bundle attached to a bug report."
        ),
    )
