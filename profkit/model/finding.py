"""Finding: what an analyzer concludes, with the evidence, the fix and the data it rests on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
# The kind of profile a finding rests on; "cpu" also links py-spy's wall-clock windows.
EvidenceProfileKind = Literal["cpu", "heap", "goroutine"]


def severity_rank(severity: str) -> int:
    """Order of a severity name: info < warning < critical."""
    return SEVERITIES.index(severity)


Evidence = dict[str, Any]


@dataclass(frozen=True)
class EvidenceSources:
    """What every finding of one id rests on, declared once in its ``@analyzer(...)`` registration.

    ``series``: metric names whose panels prove it; ``logs``: throttling or error lines prove it
    (panels drawn from logs); ``profile_kind``: the flame graph that shows it.
    """

    series: tuple[str, ...] = ()
    logs: bool = False
    profile_kind: EvidenceProfileKind | None = None


@dataclass
class Finding:
    """One diagnosed problem.

    ``evidence`` holds numbers, stacks and samples to show (the JSON contract); the typed fields
    after it say which data of the bundle the finding rests on, so outputs can link to it:
    ``series`` metric names beyond the ones its id declares, ``profiles`` bundle paths of the
    profile windows, ``window`` when it applies (unix seconds), ``log_samples`` the log lines.
    """

    id: str
    severity: Severity
    target: str
    title: str
    evidence: Evidence = field(default_factory=dict)
    recommendation: str = ""
    series: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    window: tuple[float, float] | None = None
    log_samples: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``analyze --json`` record: id, severity, target, title, evidence, recommendation."""
        return {"id": self.id, "severity": self.severity, "target": self.target, "title": self.title,
                "evidence": self.evidence, "recommendation": self.recommendation}

