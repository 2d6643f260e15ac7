"""no-data: a target the capture got nothing from (or one kind of data that only failed, or a crashed collector)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from profkit.analyze import AnalyzeOptions, analyzer
from profkit.bundle.reader import BundleView
from profkit.model import Finding

ID = "no-data"
MAX_ERRORS = 3


def recorded_problems(view: BundleView) -> list[dict[str, str]]:
    """What ``profkit capture`` found missing as it ended (``capture_problems`` meta; [] for other bundles)."""
    try:
        problems = json.loads(view.meta.get("capture_problems", "[]"))
    except ValueError:
        return []
    return [p for p in problems if isinstance(p, dict) and isinstance(p.get("target"), str)] \
        if isinstance(problems, list) else []


def _has_data(view: BundleView, target: str) -> bool:
    return bool(view.profile_refs(target)) or bool(view.metric_names(target)) or view.log_count(target) > 0


@analyzer(ID)
def analyze(view: BundleView, options: AnalyzeOptions) -> list[Finding]:
    """One critical finding per target with no profiles, points or log lines in the bundle, or with
    problems the capture recorded (a kind of data that only failed, a collector that crashed)."""
    problems: dict[str, list[dict[str, str]]] = defaultdict(list)
    for problem in recorded_problems(view):
        problems[problem["target"]].append(problem)
    for target in view.targets():
        if not _has_data(view, target.name) and not any(p.get("kind") == "target" for p in problems[target.name]):
            problems[target.name].insert(0, {"target": target.name, "kind": "target",
                                             "message": f"no data from target {target.name}"})
    findings: list[Finding] = []
    for target_name, found in problems.items():
        if not found:
            continue
        errors = [e.message for e in view.events("error", target=target_name)]
        nothing = any(p.get("kind") == "target" for p in found)
        missing = sorted({p.get("kind", "") for p in found} - {"target", "stopped"})
        stopped = [p.get("message", "") for p in found if p.get("kind") == "stopped"]
        if nothing:
            title = f"no data from target {target_name}: the capture got no profiles, metrics or logs"
        elif missing:
            title = f"no {', '.join(missing)} data from target {target_name}"
        else:
            title = f"a collector of target {target_name} stopped during the capture"
        evidence: dict[str, Any] = {
            "problems": [p.get("message", "") for p in found],
            "errors": len(errors),
            "first_errors": errors[:MAX_ERRORS],
            "last_error": errors[-1] if errors else "",
        }
        if stopped:
            evidence["stopped"] = stopped
        findings.append(Finding(
            id=ID, severity="critical", target=target_name, title=title, evidence=evidence,
            recommendation=(
                "Nothing below describes this target: check that it is running and that the --endpoint "
                "URL (pprof at /debug/pprof, Prometheus text at /metrics), the --log-file path or the "
                "--pid are right; the errors above say what failed. A stopped collector is a profkit bug: "
                "please report it with the bundle."),
        ))
    return findings
