"""Finding: what an analyzer concludes, with the evidence and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "critical")


def severity_rank(severity: str) -> int:
    """Order of a severity name: info < warning < critical."""
    return SEVERITIES.index(severity)


Evidence = dict[str, Any]


@dataclass
class Finding:
    """One diagnosed problem. ``evidence`` holds numbers, stacks, series and log samples."""

    id: str
    severity: str
    target: str
    title: str
    evidence: Evidence = field(default_factory=dict)
    recommendation: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
