"""The report, compare and flame pages as a person uses them, in real headless Chromium with the network blocked.

One page load per page, many checks each: every evidence link of every finding lands on panels that are
in the capture's range and not empty, below the sticky header; no element links or loads off the page
(plotly's "Share chart" and logo included); the compare page's panels stay inside their boxes; screenshots
at 1280 and 1600 px go to test-artifacts/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser_page import CHROMIUM, OFF_PAGE, Page, click_every_evidence_link, shot
from tests.unit.compare_runs import RunSpec, write_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WIDTHS = (1280, 1600)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]
pytest.importorskip("playwright.sync_api")

def check_nav_lands_below_the_header(page: Any) -> None:
    for href in page.evaluate("() => [...document.querySelectorAll('nav.dashboards a')].map(a => a.getAttribute('href'))"):
        page.click(f"nav.dashboards a[href='{href}']")
        page.wait_for_timeout(200)
        top, bottom = page.evaluate(
            f"() => [document.getElementById({href[1:]!r}).getBoundingClientRect().top, "
            "document.querySelector('header').getBoundingClientRect().bottom]")
        at_end = page.evaluate("() => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2")
        assert top >= bottom - 1 or at_end, (href, top, bottom)  # a section at the page's end cannot scroll up


def widths(page: Any, name: str) -> None:
    """Screenshots at each width (the page re-lays out, no reload), the whole page and the first screen."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.evaluate("() => window.scrollTo(0, 0)")  # else the sticky header is drawn mid-page
        page.wait_for_timeout(700)  # plotly's responsive resize
        shot(page, f"{name}-{width}")
        shot(page, f"{name}-{width}-top", full_page=False)


def test_report_evidence_links_land_on_panels_with_data_and_nothing_leaves_the_page(browser: Any,
                                                                                   demo_report: Path) -> None:
    session = Page(browser, width=1280)
    page = session.open(demo_report)
    assert page.evaluate(OFF_PAGE) == []
    followed = click_every_evidence_link(page)
    assert followed >= 5  # the demo's key generation, hotspot and saturation findings link their evidence
    check_nav_lands_below_the_header(page)
    buttons = page.evaluate("() => [...document.querySelectorAll('button[data-range]')].map(b => +b.dataset.range)")
    duration = page.evaluate("() => JSON.parse(document.getElementById('profkit-data').textContent).t1")
    assert buttons[-1] == 0 and all(0 < b < duration for b in buttons[:-1])  # no 6 h button on a 15 s capture
    page.evaluate("() => window.scrollTo(0, 0)")
    widths(page, "report")
    assert session.network_attempts == [] and session.errors == []
    session.close()


def test_flame_view_page_draws_and_links_nowhere(browser: Any, demo_report: Path, tmp_path: Path) -> None:
    out = tmp_path / "flames.html"
    done = subprocess.run([sys.executable, "-m", "profkit.cli.main", "view", str(demo_report.parent), "--no-open",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    if done.returncode == 2 and "no readable" in done.stderr:
        pytest.skip("py-spy could not attach here, so the demo has no CPU profile to draw")
    assert done.returncode == 0, done.stderr
    session = Page(browser, width=1280)
    page = session.open(out)
    assert page.evaluate("() => document.querySelectorAll('.flame-plot g.slice').length") > 3
    assert page.evaluate(OFF_PAGE) == []
    widths(page, "flame")
    assert session.network_attempts == [] and session.errors == []
    session.close()


def test_compare_page_panels_stay_in_their_boxes_and_the_diff_flame_fits(browser: Any, tmp_path: Path) -> None:
    write_run(tmp_path / "a", RunSpec(), 1, profiles=[(FIXTURES / "go-cpu-healthy.pb.gz").read_bytes()])
    write_run(tmp_path / "b", RunSpec(cpu_per_reconcile=0.02), 2,
              profiles=[(FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()])
    out = tmp_path / "compare.html"
    done = subprocess.run([sys.executable, "-m", "profkit.cli.main", "compare", str(tmp_path / "a"),
                           str(tmp_path / "b"), "--html", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    session = Page(browser, width=1280)
    page = session.open(out, ready="() => document.querySelectorAll('.grid2 .main-svg').length > 0")
    assert page.evaluate(OFF_PAGE) == []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(700)
        spill = page.evaluate("""() => [...document.querySelectorAll('.grid2 > .panel')].map(box => {
          const b = box.getBoundingClientRect(), s = box.querySelector('.main-svg').getBoundingClientRect();
          return [box.firstElementChild.id, s.left - b.left, b.right - s.right, b.bottom - s.bottom];
        }).filter(([, left, right, bottom]) => left < 0 || right < 0 || bottom < 0)""")
        assert spill == [], (width, spill)  # no SVG reaches past its panel into the next one
        rows = page.evaluate("""() => { const boxes = [...document.querySelectorAll('.grid2 > .panel')];
          const grid = boxes[0].parentElement.getBoundingClientRect(), last = boxes[boxes.length - 1].getBoundingClientRect();
          return [Math.round(grid.right - last.right), boxes.length]; }""")
        assert rows[0] <= 1, (width, rows)  # the last row reaches the right edge: no empty half-row
        frame = page.evaluate("""() => {
          const f = document.querySelector('iframe.flame'), r = f.getBoundingClientRect();
          const d = f.contentDocument, s = d.querySelector('svg').getBoundingClientRect();
          return {frame: [r.width, r.height], svg: [s.width, s.height], scroll: d.documentElement.scrollHeight,
                  page: document.querySelector('main').getBoundingClientRect().width,
                  background: getComputedStyle(d.body).backgroundColor};
        }""")
        assert frame["frame"][0] <= frame["page"] and abs(frame["svg"][0] - frame["frame"][0]) <= 3, frame
        assert abs(frame["svg"][1] - frame["frame"][1]) <= 3 and frame["scroll"] <= frame["frame"][1] + 1, frame
        assert frame["background"] == "rgb(24, 27, 31)", frame  # the page's panel colour, not white
        page.evaluate("() => window.scrollTo(0, 0)")  # else the sticky header is drawn mid-page
        shot(page, f"compare-{width}")
        page.locator("iframe.flame").scroll_into_view_if_needed()
        shot(page.locator("iframe.flame"), f"compare-diff-flame-{width}")
    assert session.network_attempts == [] and session.errors == []
    session.close()


SPLIT_STATE = """() => [...document.querySelectorAll('.panel .plot')].filter(el => el.offsetParent !== null).map(el => {
  const fig = JSON.parse(document.getElementById('profkit-data').textContent).figures.find(f => f.div === el.id);
  const title = el.closest('.panel').querySelector('.ptitle').firstChild.textContent.trim();
  const data = el.data || [];
  const indicator = data.find(t => t.type === 'indicator');
  const last = data.filter(t => t.y).map(t => t.y.filter(v => v !== null).slice(-1)[0]);
  return {title, split: !!(fig && fig.variants), shown: el.getAttribute('data-shown'),
          scope: el.closest('.panel').querySelector('.scope') ? el.closest('.panel').querySelector('.scope').textContent : '',
          dashboard: el.closest('[data-target]').getAttribute('data-target'),
          names: data.map(t => t.name), stat: indicator ? indicator.value : null, last};
})"""


def test_picker_narrows_every_panel_to_one_controller_or_pod(browser: Any, tmp_path: Path) -> None:
    from profkit.bundle import open_bundle
    from profkit.render.report_html import write_report
    from profkit.render.report_model import build_report
    from tests.unit.two_controllers import two_controllers

    bundle = two_controllers(tmp_path / "bundle")
    report = write_report(build_report(open_bundle(bundle), []), bundle / "report.html")
    session = Page(browser, width=1280)
    page = session.open(report)
    before = {p["title"] + p["dashboard"]: p for p in page.evaluate(SPLIT_STATE)}
    assert {p["dashboard"] for p in before.values()} == {"", "kcp", "capi"}

    page.select_option("#picker", "c1p1")  # pod kcp-1
    page.wait_for_timeout(800)
    panels = page.evaluate(SPLIT_STATE)
    assert {p["dashboard"] for p in panels} == {"", "kcp"}  # capi's dashboards are hidden
    for panel in panels:
        if panel["split"] or panel["shown"]:  # a flame graph is not split: it shows the pod's merged window
            wanted = "c1" if panel["dashboard"] == "" else "c1p1"  # capture-wide panels: kcp; kcp's: its pod
            assert panel["shown"] == wanted and panel["scope"].startswith(("controller kcp", "pod kcp-1")), panel
        else:
            assert panel["dashboard"] == "" or panel["scope"] == "whole controller", panel
    split = [p for p in panels if p["split"] and p["dashboard"] == "kcp"]
    assert len(split) >= 5, split  # CPU, memory, reconciles, workqueue ... all narrowed
    by_title = {p["title"]: p for p in panels if p["dashboard"] == "kcp"}
    assert [name.split(" ")[0] for name in by_title["CPU per pod"]["names"]] == ["kcp-1"]
    assert by_title["CPU now"]["stat"] == pytest.approx(0.6, rel=0.02)
    assert by_title["Workqueue depth"]["last"] == [pytest.approx(7.0)]
    overview = {p["title"]: p for p in panels if p["dashboard"] == ""}
    assert sum(overview["CPU, all controllers"]["last"]) == pytest.approx(0.8, rel=0.02)  # kcp's two pods
    flame = page.evaluate("() => { const s = Object.values(window.profkitReport.flames).find(s => "
                          "s.el.getAttribute('data-shown')); return s ? s.flame.windows[s.window].pod : null; }")
    assert flame == "kcp-1"
    assert page.evaluate("() => [...document.querySelectorAll('nav.dashboards a')].filter(a => a.offsetParent)"
                         ".map(a => a.getAttribute('data-target'))") == ["", "kcp", None]
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "report-picker-pod-1280")

    page.select_option("#picker", "c0")  # controller capi
    page.wait_for_timeout(800)
    panels = page.evaluate(SPLIT_STATE)
    assert {p["dashboard"] for p in panels} == {"", "capi"}
    overview = {p["title"]: p for p in panels if p["dashboard"] == ""}
    assert sum(overview["CPU, all controllers"]["last"]) == pytest.approx(0.1, rel=0.05)

    page.select_option("#picker", "")  # everything again, as first drawn
    page.wait_for_timeout(800)
    after = {p["title"] + p["dashboard"]: p for p in page.evaluate(SPLIT_STATE)}
    assert after.keys() == before.keys()
    assert all(after[k]["names"] == before[k]["names"] and after[k]["scope"] == "" for k in after)
    assert page.evaluate(OFF_PAGE) == []
    assert session.network_attempts == [] and session.errors == []
    session.close()
