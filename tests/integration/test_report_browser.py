"""The HTML report in real headless Chromium with the network blocked: panels draw, zoom syncs, flame graphs work, nothing runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser_page import CHROMIUM, Page, click_every_evidence_link, shot

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '"><img src=x onerror="window.__pwned=1">'
T0 = 1_764_000_000.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]
playwright_sync = pytest.importorskip("playwright.sync_api")


def hostile_bundle(directory: Path) -> Path:
    """A bundle whose function, object, target-visible and log strings are HTML injection attempts."""
    from profkit.analyze import run_analyzers
    from profkit.bundle import BundleWriter, open_bundle
    from profkit.formats.pprof import encode_pprof
    from profkit.model import CaptureEvent, Frame, LogRecord, ObjectEvent, Profile, Target
    from profkit.render.report_html import write_report
    from profkit.render.report_model import build_report

    writer = BundleWriter(directory)
    writer.add_target(Target("ctl", "endpoint", {"url": "http://127.0.0.1:8080"}))
    names = ["runtime.goexit", "main.(*Worker).processItem", f"main.{SCRIPT}", f"main.{IMG}", "crypto/rsa.GenerateKey",
             "math/big.addMulVVW"]
    profile = Profile([Frame(n) for n in names], [tuple(range(6)), (0, 1, 2), (0, 1, 3)], [8e8, 2e8, 1e8], period=1e7)
    for window in range(3):
        writer.add_profile("ctl", "pod-1", "cpu", "pprof", encode_pprof(profile), T0 + 20 * window, 15.0)
    for step in range(25):
        ts = T0 + step * 5
        writer.add_points("ctl", "pod-1", ts, [
            ("process_cpu_seconds_total", {}, step * 2.0),
            ("process_resident_memory_bytes", {}, 50e6 + step * 1e6),
            ("controller_runtime_reconcile_total", {"controller": SCRIPT, "result": "success"}, step * 10.0),
            ("workqueue_depth", {"name": IMG}, float(step % 7)),
            ("controller_runtime_active_workers", {"controller": IMG}, 3.0 + step % 4),
            ("controller_runtime_max_concurrent_reconciles", {"controller": IMG}, 10.0),
        ])
    writer.add_logs([LogRecord(T0 + 1, "ctl", "pod-1", SCRIPT, object_key=IMG, raw=f"{SCRIPT} {IMG}")])
    gone = f"ns/{IMG}"  # a deleted object requeued forever: its key and log lines reach the finding's evidence
    writer.add_objects([ObjectEvent(T0 + 5, "widgets", "ns", IMG, "deleted", uid="gone", target="ctl")])
    writer.add_logs([LogRecord(T0 + 20 + 3 * i, "ctl", "pod-1", "could not get widget, not running reconciler",
                               "info", "controller", "widget", gone, {"note": SCRIPT},
                               f'{{"msg":"could not get widget, not running reconciler","note":"{SCRIPT}"}}')
                     for i in range(30)])
    writer.add_objects([ObjectEvent(T0 + 2 + i, "widgets", "ns", f"{IMG}{i}", "added", uid=str(i), target="ctl")
                        for i in range(5)])
    writer.add_objects([ObjectEvent(T0 + 30 + i, "widgets", "ns", f"{IMG}{i}", "modified", uid=str(i), ready=True,
                                    target="ctl") for i in range(5)])
    writer.add_event(CaptureEvent(T0 + 40, "restart", f"pod restarted {SCRIPT}", "ctl", f"pod-1{IMG}", "kube"))
    writer.error("ctl", "pprof", f"fetch failed: {SCRIPT} {IMG}")
    writer.set_meta(started=repr(T0))
    writer.close()
    import sqlite3

    with sqlite3.connect(directory / "profkit.db") as db:  # close() stamps the wall clock; this capture ended at T0 + 2 min
        db.execute("UPDATE meta SET value=? WHERE key='ended'", (repr(T0 + 125),))
    view = open_bundle(directory)
    return write_report(build_report(view, run_analyzers(view)), directory / "report.html")


PANEL_STATE = """() => [...document.querySelectorAll('.panel .plot')].map(el => ({
  id: el.id,
  svg: el.querySelectorAll('.main-svg').length,
  traces: (el.data || []).length,
  points: (el.data || []).reduce((n, t) => n + ((t.x || t.ids || t.cells && t.cells.values[0] || []).length
                                                 + (t.type === 'indicator' ? 1 : 0)), 0),
}))"""


HEATMAPS = """() => [...document.querySelectorAll('.panel .plot')].filter(el => (el.data || []).some(t => t.type === 'heatmap'))
  .map(el => ({title: el.closest('.panel').querySelector('.ptitle').firstChild.textContent.trim(),
               filled: el.data[0].z.flat().filter(v => v !== null && v > 0).length, rows: el.data[0].y.length,
               drawn: el.querySelectorAll('.hm image').length,
               box: el.querySelector('.hm image') ? el.querySelector('.hm image').getBoundingClientRect().width : 0}))"""
GRID_GAPS = """() => [...document.querySelectorAll('.grid')].filter(g => g.offsetParent !== null).map(g => {
  const last = [...g.children].pop().getBoundingClientRect();
  return [g.previousElementSibling ? g.previousElementSibling.textContent : '', Math.round(g.getBoundingClientRect().right - last.right)];
}).filter(([, gap]) => gap > 1)"""


def test_report_opens_offline_and_every_panel_draws_data(browser: Any, demo_report: Path) -> None:
    session = Page(browser)
    page = session.open(demo_report)
    panels = page.evaluate(PANEL_STATE)
    assert len(panels) >= 15
    for panel in panels:
        assert panel["svg"] >= 1 and panel["traces"] >= 1 and panel["points"] > 0, panel
    # The demo's reconcile time and queue duration histograms drawn as heatmaps: cells with observations, as an
    # image plotly painted; every grid row reaches the right edge (no half-row left by panels without data).
    heatmaps = {h["title"]: h for h in page.evaluate(HEATMAPS)}
    assert {"Reconcile time heatmap", "Queue duration heatmap (time waiting)"} <= set(heatmaps), heatmaps
    assert all(h["filled"] > 0 and h["rows"] > 0 and h["drawn"] == 1 and h["box"] > 100 for h in heatmaps.values())
    assert page.evaluate(GRID_GAPS) == []
    shot(page, "report-demo-full")
    shot(page, "report-demo-top", full_page=False)
    assert session.network_attempts == []
    assert session.errors == []
    session.close()


def test_zooming_one_panel_moves_every_time_panel(browser: Any, demo_report: Path) -> None:
    session = Page(browser)
    page = session.open(demo_report)
    count = page.evaluate("() => window.profkitReport.timePlots.length")
    assert count >= 10
    drag = page.locator(".panel .plot").nth(4).locator(".nsewdrag").first
    drag.scroll_into_view_if_needed()
    box = drag.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    page.wait_for_timeout(800)
    ranges = page.evaluate("() => window.profkitReport.timePlots.map(p => p._fullLayout.xaxis.range.map(String))")
    assert len({tuple(r) for r in ranges}) == 1, ranges  # every panel shows the dragged range
    page.evaluate("() => Plotly.relayout(window.profkitReport.timePlots[1], {'xaxis.autorange': true})")
    page.wait_for_timeout(500)
    after = page.evaluate("() => window.profkitReport.timePlots.map(p => p._fullLayout.xaxis.range.map(String))")
    assert len({tuple(r) for r in after}) == 1 and after[0] != ranges[0]
    # the crosshair: hovering one panel shows the hover label in the others
    plot = drag.bounding_box()
    assert plot is not None
    page.mouse.move(plot["x"] + plot["width"] / 2, plot["y"] + plot["height"] / 2)
    page.mouse.move(plot["x"] + plot["width"] / 2 + 8, plot["y"] + plot["height"] / 2, steps=3)
    page.wait_for_timeout(400)
    hovered = page.evaluate("() => window.profkitReport.timePlots.filter(p => "
                            "p.querySelector('.hoverlayer') && p.querySelector('.hoverlayer').childElementCount > 0).length")
    assert hovered >= 3, hovered  # the pointed panel and the others in view (the crosshair skips off-screen ones)
    shot(page, "report-demo-zoomed", full_page=False)
    assert session.errors == [] and session.network_attempts == []
    session.close()


def test_range_buttons_and_finding_links(browser: Any, demo_report: Path) -> None:
    session = Page(browser)
    page = session.open(demo_report)
    page.click("button[data-range='0']")
    page.wait_for_timeout(300)
    links = page.locator(".finding .links a")
    assert links.count() >= 3
    targets = page.evaluate("() => [...document.querySelectorAll('.finding .links a[href^=\"#d\"]')]"
                            ".map(a => a.getAttribute('href').slice(1))")
    assert targets and all(page.evaluate(f"() => !!document.getElementById({t!r})") for t in targets)
    assert session.errors == []
    session.close()


def test_evidence_zoom_links_keep_every_panel_in_the_capture_and_non_empty(browser: Any, tmp_path: Path) -> None:
    session = Page(browser)
    page = session.open(hostile_bundle(tmp_path / "bundle"))  # its findings declare evidence windows
    zooms = page.locator("a[data-zoom]")
    assert zooms.count() >= 1
    for number in range(zooms.count()):
        zooms.nth(number).click()
        page.wait_for_timeout(500)
        checks = page.evaluate("""() => {
          const doc = JSON.parse(document.getElementById('profkit-data').textContent);
          const first = doc.t0 * 1000, last = (doc.t0 + doc.t1) * 1000;
          return window.profkitReport.timePlots.map(p => {
            const ax = p._fullLayout.xaxis, lo = ax.r2l(ax.range[0]), hi = ax.r2l(ax.range[1]);
            const shown = (p.data || []).some(t => (t.x || []).some(x => { const v = ax.d2l(x); return v >= lo && v <= hi; }));
            return [lo >= first - 1 && hi <= last + 1 && hi > lo, shown];
          });
        }""")
        assert all(inside for inside, _ in checks), (number, checks)  # 2083 was outside every capture
        assert any(shown for _, shown in checks), (number, checks)
    assert click_every_evidence_link(page) >= 5  # panels, profile windows, the zoom and the log line
    assert session.errors == []
    session.close()


FOCUS_VIEW = """(sel) => {
  const el = document.querySelector(sel), t = el.data[0], focus = el.getAttribute('data-zoomed');
  const k = t.ids.indexOf(focus), width = el.getBoundingClientRect().width;
  const bars = [...el.querySelectorAll('g.slice')].map(g => {
    const text = g.querySelector('text'), box = g.getBoundingClientRect();
    return {text: g.textContent, width: box.width, height: box.height,
            font: text ? parseFloat(getComputedStyle(text).fontSize) : 0};
  });
  return {k, width, level: t.level === undefined ? null : t.level, ids: t.ids, values: t.values,
          labels: t.labels, totals: t.customdata.map(c => c[3]), bars};
}"""


def test_flame_graph_zooms_on_click_searches_and_switches_windows(browser: Any, demo_report: Path) -> None:
    session = Page(browser)
    page = session.open(demo_report)
    if page.locator(".panel.flame").count() == 0:
        pytest.skip("py-spy could not attach here, so the demo has no CPU profile to draw")
    flame = page.locator(".panel.flame").first
    flame.scroll_into_view_if_needed()
    plot_id = flame.get_attribute("data-flame")
    assert plot_id
    selector = f"#{plot_id}"
    unzoomed = page.evaluate(FOCUS_VIEW, selector)
    assert len(unzoomed["bars"]) > 3
    # the deepest wide frame: several ancestors below it, wide enough to click
    deep = [b for b in page.locator(f"{selector} g.slice").all()
            if (box := b.bounding_box()) and box["width"] > 60 and box["height"] > 8]
    target = min((b.bounding_box() for b in deep), key=lambda box: box["y"])  # flip y: deepest is highest
    page.mouse.click(target["x"] + 10, target["y"] + target["height"] / 2)
    page.wait_for_timeout(1200)
    zoomed = page.evaluate(FOCUS_VIEW, selector)
    k = zoomed["k"]
    assert k >= 3 and zoomed["level"] is None  # our focus view, not plotly's own zoom
    # Every ancestor is a full-width bar, its name drawn at a readable size, its tooltip its own total.
    for label, value, total in zip(zoomed["labels"][:k], zoomed["values"][:k], zoomed["totals"][:k]):
        assert value == zoomed["values"][k]
        bar = next(b for b in zoomed["bars"] if b["text"] == label.replace("&lt;", "<").replace("&gt;", ">")
                   .replace("&amp;", "&"))
        assert bar["width"] >= 0.95 * zoomed["width"] and bar["font"] >= 10, (label, bar)
        assert total == unzoomed["totals"][unzoomed["ids"].index(zoomed["ids"][zoomed["labels"].index(label)])]
    assert zoomed["totals"][0] == unzoomed["totals"][0]  # "all" still says the whole window's total
    shot(flame, "flame-zoomed", full_page=False)
    flame.locator(".flame-reset").click()
    search = flame.locator(".flame-search")
    search.fill("keys")
    page.wait_for_timeout(400)
    matched = flame.locator(".flame-matched").inner_text()
    assert "matched" in matched and not matched.startswith("0 frames")
    colours = page.evaluate(f"() => document.querySelector('{selector}').data[0].marker.colors")
    assert colours.count("#e040fb") >= 1
    shot(flame, "flame-search", full_page=False)
    options = flame.locator(".flame-window option").count()
    if options > 1:
        first = page.evaluate(f"() => document.querySelector('{selector}').data[0].values[0]")
        flame.locator(".flame-window").select_option("1")
        page.wait_for_timeout(500)
        second = page.evaluate(f"() => document.querySelector('{selector}').data[0].values[0]")
        assert not math.isclose(first, second)
    assert session.errors == [] and session.network_attempts == []
    session.close()


def test_hostile_strings_show_as_text_and_run_nothing(browser: Any, tmp_path: Path) -> None:
    report = hostile_bundle(tmp_path / "bundle")
    session = Page(browser)
    page = session.open(report)
    page.wait_for_timeout(500)
    for details in page.locator("details").all():
        details.evaluate("d => d.open = true")
    flame = page.locator(".panel.flame").first
    box = flame.locator("g.slice").nth(3).bounding_box()
    if box:
        page.mouse.move(box["x"] + 5, box["y"] + 5)  # the tooltip holds a hostile name too
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__pwned") is None
    text = page.evaluate("() => document.body.innerText")
    assert SCRIPT in text and IMG in text  # shown literally (events table, log lines, object names)
    samples = page.evaluate("() => [...document.querySelectorAll('ol.logs li')].map(li => li.innerText)")
    assert samples and all(SCRIPT in line for line in samples)  # the log lines behind the finding, as text
    assert f"ns/{IMG}" in text  # the deleted object's key in the requeue-storm finding
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    svg_text = page.evaluate("() => [...document.querySelectorAll('.main-svg text')].map(t => t.textContent).join(' ')")
    assert SCRIPT in svg_text or "main." + SCRIPT in svg_text
    panels = page.evaluate(PANEL_STATE)
    assert panels and all(p["svg"] >= 1 and p["points"] > 0 for p in panels)
    shot(page, "report-hostile")
    assert session.network_attempts == [] and session.errors == []
    session.close()
