"""The HTML report is one offline file: plotly inlined once, panels and flame graphs, hostile names inert."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from profkit.analyze import run_analyzers
from profkit.bundle import BundleWriter, open_bundle
from profkit.formats.pprof import encode_pprof
from profkit.model import Frame, LogRecord, ObjectEvent, Profile, Target
from profkit.render.page import script_json
from profkit.render.report_html import write_report
from profkit.render.report_model import build_report

FIXTURES = Path(__file__).parent.parent / "fixtures"
T0 = 1_700_000_000.0
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


class Elements(HTMLParser):
    """Collects start tags with their attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def hostile_bundle(tmp_path: Path) -> Path:
    """A bundle where every untrusted string is an HTML injection attempt."""
    target = f"ctl{IMG}"
    writer = BundleWriter(tmp_path / "bundle")
    writer.add_target(Target(target, "endpoint", {"url": "http://127.0.0.1:8080"}))
    names = ["runtime.goexit", "main.(*Worker).processItem", f"main.{SCRIPT}", f"main.{IMG}",
             "crypto/rsa.GenerateKey", "math/big.addMulVVW"]
    profile = Profile([Frame(n) for n in names], [tuple(range(6)), (0, 1, 2)], [8e8, 2e8], period=1e7)
    writer.add_profile(target, "pod-1", "cpu", "pprof", encode_pprof(profile), T0, 30.0)
    for step in range(13):
        ts = T0 + step * 5
        writer.add_points(target, "pod-1", ts, [
            ("process_cpu_seconds_total", {}, step * 4.0),
            ("process_resident_memory_bytes", {}, 50e6 + step * 1e6),
            ("controller_runtime_reconcile_total", {"controller": SCRIPT, "result": "success"}, step * 10.0),
            ("controller_runtime_reconcile_total", {"controller": SCRIPT, "result": "error"}, step * 1.0),
            ("workqueue_depth", {"name": IMG}, float(step)),
            ("controller_runtime_active_workers", {"controller": "w"}, 10.0),
            ("controller_runtime_max_concurrent_reconciles", {"controller": "w"}, 10.0),
            ("go_goroutines", {}, 100.0 + step),
        ])
    writer.add_logs([LogRecord(T0 + 1, target, "pod-1", SCRIPT, object_key=IMG)])
    writer.add_objects([ObjectEvent(T0 + 2, "widgets", "ns", IMG, "deleted", target=target)])
    writer.error(target, "pprof", f"fetch failed: {SCRIPT}")
    writer.close()
    return tmp_path / "bundle"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    bundle = hostile_bundle(tmp_path_factory.mktemp("report"))
    view = open_bundle(bundle)
    path = write_report(build_report(view, run_analyzers(view)), bundle / "report.html")
    return path.read_text(encoding="utf-8"), path


def test_plotly_is_inlined_exactly_once_and_nothing_is_fetched(report: tuple[str, Path]) -> None:
    from plotly.offline import get_plotlyjs

    text, _ = report
    assert text.count(get_plotlyjs()[:300]) == 1
    parsed = Elements()
    parsed.feed(text)
    for tag, attrs in parsed.tags:
        for attribute in ("src", "href"):
            value = attrs.get(attribute) or ""
            assert not value.startswith(("http://", "https://", "//")), (tag, attrs)
    # plotly.js itself names its CDN (topojson for geo maps, unused here); nothing else in the page does.
    assert "cdn.plot.ly" not in text.replace(get_plotlyjs(), "")


def test_hostile_names_render_as_text_only(report: tuple[str, Path]) -> None:
    text, _ = report
    parsed = Elements()
    parsed.feed(text)
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert scripts == [{}, {"type": "application/json", "id": "profkit-data"}, {}]  # plotly, data, page
    assert not [tag for tag, _ in parsed.tags if tag == "img"]
    assert not [attrs for _, attrs in parsed.tags if any(k.startswith("on") for k in attrs)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the capture error and the finding, as text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in text  # the target name, as text


def _document(text: str) -> dict[str, Any]:
    parsed = Elements()
    parsed.feed(text)
    assert "<" not in parsed.scripts[1]  # no </script> or <!-- can close or confuse the element
    document: dict[str, Any] = json.loads(parsed.scripts[1])
    return document


def _figure(document: dict[str, Any], slug: str) -> dict[str, Any]:
    return next(f for f in document["figures"] if f["div"].endswith(f"-{slug}-plot"))


def test_figures_json_is_valid_and_keeps_names_escaped_for_plotly(report: tuple[str, Path]) -> None:
    text, _ = report
    document = _document(text)
    kinds = {trace["type"] for figure in document["figures"] for trace in figure["data"]}
    assert {"scatter", "indicator", "table"} <= kinds
    flame = document["flames"][0]
    names = [entry[0] for entry in flame["names"]]
    assert "main.&lt;script&gt;alert(1)&lt;/script&gt;" in names  # plotly shows entities as text
    window = flame["windows"][0]
    assert window["p"][0] == -1 and len(window["p"]) == len(window["n"]) == len(window["v"]) == len(window["s"])
    for title in ("CPU per pod", "Memory working set", "Reconcile rate by controller and result", "Workqueue depth",
                  "Active workers vs max", "Goroutines", "CPU flame graph"):
        assert f'<div class="ptitle">{title} ' in text
    reconcile = _figure(document, "reconcile-rate-by-controller-and-result")
    assert {t["name"] for t in reconcile["data"]} == {"&lt;script&gt;alert(1)&lt;/script&gt; success",
                                                     "&lt;script&gt;alert(1)&lt;/script&gt; error"}
    success = next(t for t in reconcile["data"] if t["name"].endswith("success"))
    assert success["y"][1] == pytest.approx(2.0)  # 10 reconciles per 5 s
    assert reconcile["layout"]["hovermode"] == "x unified"


def test_every_figure_is_valid_for_plotly(report: tuple[str, Path]) -> None:
    import plotly.graph_objects as go

    text, _ = report
    figures = _document(text)["figures"]
    assert len(figures) >= 10
    for figure in figures:
        data = [{("x" if k == "xs" else k): v for k, v in trace.items()} for trace in figure["data"]]
        go.Figure(data=data, layout=figure["layout"])  # raises on an invalid property


def test_script_json_escapes_what_could_end_a_script_element() -> None:
    out = script_json({"name": "</script><!-- & \u2028"})
    assert "<" not in out and ">" not in out and "&" not in out
    assert json.loads(out) == {"name": "</script><!-- & \u2028"}


def test_flame_graph_folds_small_frames_into_other() -> None:
    from profkit.render.icicle import NameTable, flame_nodes

    frames = [Frame("main.main")] + [Frame(f"main.f{i}") for i in range(3000)]
    stacks = [(0, i + 1) for i in range(3000)]
    profile = Profile(frames, stacks, [1.0] * 3000)
    names = NameTable()
    nodes = flame_nodes(profile, names, max_nodes=500)
    assert len(nodes["p"]) <= 500
    assert "other" in [names.names[n][1] for n in nodes["n"]]
    assert nodes["v"][0] == 3000.0
    children: dict[int, float] = {}
    for parent, value in zip(nodes["p"], nodes["v"]):
        if parent >= 0:
            children[parent] = children.get(parent, 0.0) + value
    assert all(total <= nodes["v"][parent] for parent, total in children.items())  # plotly's "total" rule


def test_report_of_a_real_profile_is_small_apart_from_plotly(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "bundle")
    writer.add_profile("keygen-server", "pid-1", "cpu", "pprof", (FIXTURES / "go-cpu-keygen.pb.gz").read_bytes(),
                       T0, 10.0)
    writer.close()
    view = open_bundle(tmp_path / "bundle")
    path = write_report(build_report(view, run_analyzers(view)), tmp_path / "r.html")
    from plotly.offline import get_plotlyjs

    assert path.stat().st_size - len(get_plotlyjs()) < 200_000
    assert "repeated-key-generation" in path.read_text()



def test_finding_log_samples_appear_once_even_with_nested_evidence_tables() -> None:
    from profkit.model import Finding
    from profkit.render.page import findings_html

    finding = Finding("requeue-storm-deleted", "warning", "ctl", "t", {
        "metrics": {"series": [{"name": "controller_runtime_reconcile_total", "labels": {"result": "error"}},
                               {"name": "controller_runtime_reconcile_total", "labels": {"result": "requeue"}}]},
        "log_samples": ["line one", "line two"]}, log_samples=("line one", "line two"))
    html = findings_html([finding])
    assert html.count('id="finding-0-log0"') == 1 and html.count("line two") == 1


def test_python_target_does_not_list_go_runtime_panels_as_missing(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b")
    writer.add_target(Target("op", "pid", {}))
    data = (Path(__file__).parent.parent / "fixtures" / "pyspy-keygen.speedscope.json").read_bytes()
    writer.add_profile("op", "pid-1", "cpu", "speedscope", data, 1_700_000_000.0, 10.0)
    writer.add_points("op", "pid-1", 1_700_000_000.0, [("process_cpu_seconds_total", {}, 1.0)])
    writer.close()
    html = write_report(build_report(open_bundle(tmp_path / "b"), []), tmp_path / "r.html").read_text()
    missing = " ".join(part.split("</div>", 1)[0] for part in html.split('class="missing">')[1:])
    assert "Workqueue depth" in missing  # what a Python target could have but did not record is still listed
    for title in ("Goroutines", "Go heap", "Go memory outside the heap", "GC pause quantiles", "GC cycles",
                  "Heap flame graph", "Goroutines flame graph"):
        assert title not in missing, missing
    assert "CPU flame graph" in html


def test_flame_names_use_only_entities_plotly_decodes() -> None:
    """plotly's convertEntities knows &amp; &lt; &gt; and numeric ones, not &quot;: it would print it."""
    from profkit.render.icicle import NameTable

    names = NameTable()
    names.add('process 7:"kopf run --liveness http://0.0.0.0:8080/healthz"', "root")
    full, label, _ = names.names[0]
    assert "&quot;" not in full and 'healthz&#34;' in full
    assert "<" not in full and "&#34;" in label


def test_chart_texts_use_only_entities_plotly_decodes(report: tuple[str, Path]) -> None:
    """A legend entry of a label holding ``"`` read ``&quot;`` on the page: plotly does not decode that entity."""
    text, _ = report
    names = [t.get("name", "") for f in _document(text)["figures"] for t in f["data"]]
    quoted = [n for n in names if "&#34;" in n]
    assert quoted and not [n for n in names if "&quot;" in n]  # the workqueue's name holds a quote
