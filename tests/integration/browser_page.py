"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium, every non-file request aborted and counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class Page:
    """A page with every non-file request aborted and counted, and console errors collected."""

    def __init__(self, browser: Any, width: int = 1500, height: int = 1000) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.network_attempts: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" or "WARN" in m.text else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.network_attempts.append(route.request.url)
            route.abort()

    def open(self, path: Path, ready: str = "() => window.profkitReport !== undefined") -> Any:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function(ready, timeout=60_000)
        self.page.wait_for_timeout(500)
        return self.page

    def close(self) -> None:
        self.context.close()


def shot(page: Any, name: str, full_page: bool = True) -> None:
    """A screenshot of the page (or of one element, for a locator) in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    if hasattr(page, "goto"):
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
    else:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


# Everything in the live DOM (plotly's own modebar and logo included) that would reach another host.
OFF_PAGE = """() => {
  const bad = [];
  const far = v => /^\\s*(?!file:\\/\\/\\/)([a-z][a-z0-9+.-]*:)?\\/\\//i.test(v || '');
  const scan = (root, where) => root.querySelectorAll('*').forEach(el => {
    for (const name of ['href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'srcset', 'ping']) {
      const v = el.getAttribute(name);
      if (far(v)) { bad.push(where + el.tagName + ' ' + name + '=' + v); }
    }
    if (el.tagName === 'A' && el.getAttribute('target') === '_blank') { bad.push(where + 'target=_blank ' + el.outerHTML.slice(0, 80)); }
    if (['FORM', 'BASE', 'LINK', 'EMBED', 'OBJECT'].includes(el.tagName)) { bad.push(where + el.tagName); }
  });
  scan(document, '');
  document.querySelectorAll('iframe').forEach(f => { if (f.contentDocument) { scan(f.contentDocument, 'iframe: '); } });
  document.querySelectorAll('.modebar-btn').forEach(b => {
    const t = (b.getAttribute('data-title') || '') + ' ' + (b.getAttribute('data-attr') || '') + ' ' + b.className;
    if (/share|cloud|chart studio|plotly\\.com|plotlyjsicon/i.test(t)) { bad.push('modebar: ' + t); }
  });
  return bad;
}"""

# Whether the panel behind an anchor shows something: a time panel with data inside its x range (itself
# inside the capture), a stat value, table rows, flame graph frames, or the findings list.
PANEL_SHOWS = """(anchor) => {
  const doc = JSON.parse(document.getElementById('profkit-data').textContent);
  const first = doc.t0 * 1000, last = (doc.t0 + doc.t1) * 1000;
  const box = document.getElementById(anchor);
  if (!box) { return {ok: false, why: 'no element ' + anchor}; }
  const header = document.querySelector('header').getBoundingClientRect();
  const rect = box.getBoundingClientRect();
  const place = {top: Math.round(rect.top), headerBottom: Math.round(header.bottom), hidden: box.closest('.hidden') !== null};
  if (box.classList.contains('flame')) {
    return Object.assign(place, {ok: box.querySelectorAll('g.slice').length > 1, why: 'flame frames'});
  }
  const plot = box.querySelector('.plot');
  if (!plot || !plot._fullLayout) { return Object.assign(place, {ok: box.classList.contains('findings'), why: 'no plot'}); }
  const data = plot.data || [];
  if (data.some(t => t.type === 'table')) { return Object.assign(place, {ok: data[0].cells.values[0].length > 0, why: 'table rows'}); }
  if (data.some(t => t.type === 'indicator')) { return Object.assign(place, {ok: isFinite(data[0].value), why: 'stat'}); }
  const ax = plot._fullLayout.xaxis, lo = ax.r2l(ax.range[0]), hi = ax.r2l(ax.range[1]);
  const inRange = lo >= first - 1000 && hi <= last + 1000 && hi > lo;
  const shown = data.some(t => (t.x || []).some((x, i) => {
    const v = ax.d2l(x);
    if (v < lo || v > hi) { return false; }
    if (t.type === 'heatmap') { return t.z.some(row => row[i] !== null && row[i] > 0); }  // a filled cell
    return t.y[i] !== null && isFinite(t.y[i]);
  }));
  return Object.assign(place, {ok: inRange && shown, why: 'range ' + inRange + ' data ' + shown});
}"""

TIME_PLOTS_IN_CAPTURE = """() => {
  const doc = JSON.parse(document.getElementById('profkit-data').textContent);
  const first = doc.t0 * 1000, last = (doc.t0 + doc.t1) * 1000;
  return window.profkitReport.timePlots.filter(p => p.offsetParent !== null).every(p => {
    const ax = p._fullLayout.xaxis, lo = ax.r2l(ax.range[0]), hi = ax.r2l(ax.range[1]);
    return lo >= first - 1000 && hi <= last + 1000 && hi > lo;
  });
}"""

LINKS = """() => [...document.querySelectorAll('.finding')].flatMap(f => [...f.querySelectorAll('.links a')].map((a, i) => ({
  finding: f.id, index: i, text: a.textContent, href: a.getAttribute('href'),
  window: a.getAttribute('data-window'), flame: a.getAttribute('data-flame'), zoom: a.getAttribute('data-zoom')})))"""


def click_every_evidence_link(page: Any) -> int:
    """Click each link of each finding; check what it targets. Returns how many links were followed."""
    links = page.evaluate(LINKS)
    for link in links:
        page.locator(f"#{link['finding']} .links a").nth(link["index"]).click()
        page.wait_for_timeout(350)
        where = f"{link['finding']}: {link['text']}"
        if link["zoom"]:
            assert page.evaluate(TIME_PLOTS_IN_CAPTURE), where
            panels = [a["href"][1:] for a in links if a["finding"] == link["finding"] and a["href"].startswith("#d")
                      and not a["window"]]
            for anchor in panels:  # the finding's own panels show data inside the zoomed window
                assert page.evaluate(PANEL_SHOWS, anchor)["ok"], (where, anchor)
            page.click("button[data-range='0']")
            page.wait_for_timeout(300)
            continue
        anchor = link["href"][1:]
        state = page.evaluate(PANEL_SHOWS, anchor)
        if anchor.startswith("finding-"):  # a log line of the finding
            assert page.evaluate(f"() => document.getElementById({anchor!r}).innerText.trim().length") > 0, where
        else:
            assert state["ok"], (where, state)
            assert not state["hidden"], (where, state)
        assert state["top"] >= state["headerBottom"] - 1, (where, state)  # not under the sticky header
        if link["window"]:  # the flame graph now shows the window holding that profile file
            chosen = page.evaluate(
                "([div, path]) => { const s = window.profkitReport.flames[div]; "
                "return s.flame.windows[s.window].paths.includes(path) && s.window > 0; }",
                [link["flame"], link["window"]])
            assert chosen, where
    return len(links)
