"""``--junit FILE``: the comparison as JUnit XML (Jenkins xunit ``junit-10.xsd``), one test case per metric.

Suites: one per target (a testcase per metric: failure when it regressed, skipped when a run has
no data for it), ``findings`` (a testcase per new, grown or persisting finding: failure when new
or grown at warning or above, or at ``--fail-on``) and ``budgets`` (failure when breached).
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from profkit.compare.format import format_value
from profkit.compare.gate import GateResult
from profkit.compare.model import GROWN, MISSING, NEW, REGRESSED, RESOLVED, Comparison
from profkit.fileio import atomic_write
from profkit.model import severity_rank


def _suite(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, "testsuite", {"name": name, "tests": "0", "failures": "0", "errors": "0",
                                               "skipped": "0", "time": "0"})


def _case(suite: ET.Element, classname: str, name: str, *, failure: str | None = None, kind: str = "",
          skipped: str | None = None, out: str = "") -> None:
    case = ET.SubElement(suite, "testcase", {"name": name, "classname": classname, "time": "0"})
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    if failure is not None:
        node = ET.SubElement(case, "failure", {"message": failure, "type": kind or "regression"})
        node.text = failure
        suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    elif skipped is not None:
        ET.SubElement(case, "skipped", {"message": skipped})
        suite.set("skipped", str(int(suite.get("skipped", "0")) + 1))
    if out:
        ET.SubElement(case, "system-out").text = out


def junit_xml(c: Comparison, verdict: GateResult) -> str:
    """The XML document as text."""
    root = ET.Element("testsuites", {"name": "profkit compare"})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    for t in c.targets:
        suite = _suite(root, f"profkit compare: {t.target}")
        suite.set("timestamp", stamp)
        suite.set("hostname", socket.gethostname() or "localhost")
        props = ET.SubElement(suite, "properties")
        for key, value in (("base", c.base.directory), ("new", c.new.directory),
                           ("window_seconds", f"{c.window_seconds:g}")):
            ET.SubElement(props, "property", {"name": key, "value": value})
        for m in t.metrics:
            base = format_value(m.base.value, m.metric.unit)
            new = format_value(m.new.value, m.metric.unit)
            rel = f" ({m.relative:+.1%})" if m.relative is not None else ""
            text = f"{m.metric.title}: {base} -> {new}{rel}; {m.status}: {m.reason}"
            classname = f"profkit.compare.{t.target}"
            if m.status == REGRESSED:
                _case(suite, classname, m.metric.id, failure=f"[{m.severity}] {text}", kind="regression", out=text)
            elif m.status == MISSING:
                _case(suite, classname, m.metric.id, skipped=text)
            else:
                _case(suite, classname, m.metric.id, out=text)
    if c.findings:
        suite = _suite(root, "profkit compare: findings")
        floor = severity_rank(verdict.fail_on) if verdict.fail_on else severity_rank("warning")
        for f in c.findings:
            if f.status == RESOLVED:
                continue
            name = f"{f.id} ({f.target or '-'})"
            was = f" (was {f.base_severity})" if f.base_severity else ""
            text = f"{f.status}: [{f.new_severity}{was}] {f.title}"
            fails = f.status in (NEW, GROWN) and severity_rank(f.new_severity or "info") >= floor
            _case(suite, "profkit.compare.findings", name, failure=text if fails else None, kind="finding",
                  out=text + ("\nfix: " + f.finding.recommendation if f.finding.recommendation else ""))
    if c.budgets:
        suite = _suite(root, "profkit compare: budgets")
        for b in c.budgets:
            name = f"{b.entry.metric} ({b.target})"
            _case(suite, "profkit.compare.budgets", name,
                  failure=f"[{b.entry.severity}] {b.message}" if b.breached else None, kind="budget", out=b.message)
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root)))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(c: Comparison, verdict: GateResult, path: Path) -> None:
    """Write the JUnit file (atomically)."""
    atomic_write(path, junit_xml(c, verdict))
