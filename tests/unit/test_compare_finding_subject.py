"""compare: a finding persists only when base and new are about the same function, caller or object."""

from __future__ import annotations

from profkit.compare.findings import finding_changes, finding_subject
from profkit.model import Finding


def hotspot(function: str, severity: str = "warning") -> Finding:
    return Finding("cpu-hotspot", severity, "ctl", f"{function} carries 40 % of CPU",
                   evidence={"function": function, "cores": 0.4})


def test_same_id_about_another_function_is_resolved_and_new_not_persisting() -> None:
    changes = finding_changes([hotspot("main.(*Worker).hashPayload")], [hotspot("main.newPrivateKey")])
    assert sorted((c.status, c.finding.evidence["function"]) for c in changes) == [
        ("new", "main.newPrivateKey"), ("resolved", "main.(*Worker).hashPayload")]


def test_same_function_persists_and_severity_changes_are_kept() -> None:
    (same,) = finding_changes([hotspot("main.newPrivateKey")], [hotspot("main.newPrivateKey")])
    assert same.status == "persisting"
    (grown,) = finding_changes([hotspot("main.newPrivateKey", "info")], [hotspot("main.newPrivateKey", "critical")])
    assert grown.status == "grown"


def test_findings_without_a_subject_match_by_id_and_target() -> None:
    plain = Finding("client-side-throttling", "warning", "ctl", "throttled", evidence={"qps": 20})
    assert finding_subject(plain) == ""
    (change,) = finding_changes([plain], [plain])
    assert change.status == "persisting"
