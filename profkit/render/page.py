"""The report page: HTML template, dark theme CSS, escaping, findings and evidence as HTML.

Every string that comes from a bundle (function names, target names, log lines, titles) goes
through :func:`esc` before it reaches HTML, and every JSON document embedded in a ``<script>``
goes through :func:`script_json`, which escapes ``<``, ``>`` and ``&`` as ``\\u003c`` etc. so that
no ``</script>`` or ``<!--`` can appear inside the element (``json.dumps`` and plotly's
``to_json`` leave them as is).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Iterable, Sequence

from profkit.model import CaptureEvent, Finding

SEVERITY_COLOURS = {"critical": "#f2495c", "warning": "#ff9830", "info": "#5794f2"}
_JSON_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")
_CODE = re.compile(r"`([^`]+)`")
MAX_LIST_ROWS = 12

CSS = """
:root { color-scheme: dark; }
body { margin: 0; background: #111217; color: #ccccdc; font: 14px/1.45 Inter, "Helvetica Neue", Arial, sans-serif; }
header { padding: 14px 22px; background: #181b1f; border-bottom: 1px solid #2c3235; }
header h1 { margin: 0; font-size: 20px; color: #fff; }
header .meta { color: #8e8e9e; font-size: 12px; margin-top: 4px; }
main { padding: 12px 18px 40px; }
h2 { color: #fff; font-size: 17px; margin: 22px 4px 10px; }
h3 { color: #d8d9da; font-size: 15px; margin: 16px 4px 8px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 10px; }
.panel { background: #181b1f; border: 1px solid #2c3235; border-radius: 3px; padding: 6px; min-height: 300px; }
.panel.wide { grid-column: 1 / -1; min-height: 560px; }
.finding { background: #181b1f; border: 1px solid #2c3235; border-left: 5px solid var(--sev); border-radius: 3px;
           padding: 10px 14px; margin: 8px 0; }
.finding .sev { display: inline-block; background: var(--sev); color: #111; font-weight: 600; border-radius: 2px;
                padding: 0 6px; margin-right: 8px; text-transform: uppercase; font-size: 11px; }
.finding .title { color: #fff; font-weight: 600; }
.finding .id, .finding .target { color: #8e8e9e; font-size: 12px; margin-left: 8px; }
.finding .fix { margin-top: 8px; color: #b9e0a5; }
details { margin-top: 6px; } summary { cursor: pointer; color: #8ab8ff; }
dl.ev { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.ev dt { color: #8e8e9e; } dl.ev dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; font-size: 12px; margin: 4px 0; }
th, td { border: 1px solid #2c3235; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #202226; color: #d8d9da; }
code { background: #202226; padding: 0 3px; border-radius: 2px; font-size: 12px; }
.none { color: #73bf69; } .muted { color: #8e8e9e; }
"""

PAGE_SCRIPT = """
(function () {
  var doc = JSON.parse(document.getElementById("profkit-figures").textContent);
  var timePlots = [], syncing = false;
  doc.figures.forEach(function (fig) {
    var el = document.getElementById(fig.div);
    if (!el) { return; }
    var layout = Object.assign({template: doc.template}, fig.layout);
    Plotly.newPlot(el, fig.data, layout, {responsive: true, displaylogo: false});
    if (fig.time) {
      timePlots.push(el);
      el.on("plotly_relayout", function (ev) {
        if (syncing) { return; }
        var update = {};
        if (ev["xaxis.range[0]"] !== undefined) {
          update["xaxis.range"] = [ev["xaxis.range[0]"], ev["xaxis.range[1]"]];
        } else if (ev["xaxis.autorange"]) {
          update["xaxis.autorange"] = true;
        } else { return; }
        syncing = true;
        Promise.all(timePlots.filter(function (p) { return p !== el; })
          .map(function (p) { return Plotly.relayout(p, update); }))
          .then(function () { syncing = false; }, function () { syncing = false; });
      });
    }
  });
})();
"""


def esc(value: object) -> str:
    """HTML-escape anything (quotes included) for text and attribute values."""
    return html.escape(str(value), quote=True)


def script_json(document: Any) -> str:
    """JSON safe to place inside a ``<script>`` element: no ``<``, ``>``, ``&`` or line separators."""
    text = document if isinstance(document, str) else json.dumps(document, separators=(",", ":"), default=str)
    return _JSON_UNSAFE_RE.sub(lambda m: _JSON_UNSAFE[m.group(0)], text)


def rich_text(text: str) -> str:
    """Escaped text where ```code``` spans become ``<code>`` (escaping happens first)."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", esc(text))


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, float):
        if key.endswith("share") or key == "coverage":
            return f"{value:.1%}"
        return f"{value:.4g}"
    return esc(value)


def _list_html(key: str, items: Sequence[Any], depth: int) -> str:
    if not items:
        return '<span class="muted">none</span>'
    if all(isinstance(i, dict) for i in items):
        columns: list[str] = []
        for item in items:
            columns.extend(k for k in item if k not in columns)
        rows = []
        for item in items[:MAX_LIST_ROWS]:
            rows.append("<tr>" + "".join(f"<td>{evidence_value(c, item.get(c, ''), depth + 1)}</td>"
                                         for c in columns) + "</tr>")
        more = f'<div class="muted">… {len(items) - MAX_LIST_ROWS} more</div>' if len(items) > MAX_LIST_ROWS else ""
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"
    if all(isinstance(i, str) for i in items) and key in ("chain", "caller_chain", "hot_path", "called_from"):
        return " ← ".join(f"<code>{esc(i)}</code>" for i in items)
    shown = ", ".join(evidence_value(key, i, depth + 1) for i in items[:MAX_LIST_ROWS])
    return shown + (f" … ({len(items)} in all)" if len(items) > MAX_LIST_ROWS else "")


def evidence_value(key: str, value: Any, depth: int = 0) -> str:
    """One evidence value as HTML: numbers formatted, lists of records as tables, all escaped."""
    if isinstance(value, dict):
        if depth > 2:
            return esc(json.dumps(value, default=str)[:400])
        return evidence_html(value, depth + 1)
    if isinstance(value, (list, tuple)):
        if depth > 2:
            return esc(json.dumps(value, default=str)[:400])
        return _list_html(key, list(value), depth)
    if isinstance(value, bool) or value is None:
        return esc(value)
    return _scalar(key, value)


def evidence_html(evidence: dict[str, Any], depth: int = 0) -> str:
    """Evidence as a definition list."""
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{evidence_value(k, v, depth)}</dd>" for k, v in evidence.items())
    return f'<dl class="ev">{rows}</dl>'


def findings_html(findings: Sequence[Finding]) -> str:
    """The findings block at the top of the report, most severe first."""
    if not findings:
        return '<p class="none">No findings: nothing profkit knows to look for stood out.</p>'
    parts: list[str] = []
    for f in findings:
        colour = SEVERITY_COLOURS.get(f.severity, "#8e8e9e")
        parts.append(
            f'<div class="finding" style="--sev:{colour}">'
            f'<span class="sev">{esc(f.severity)}</span><span class="title">{esc(f.title)}</span>'
            f'<span class="id">{esc(f.id)}</span><span class="target">{esc(f.target or "-")}</span>'
            + (f'<div class="fix">{rich_text(f.recommendation)}</div>' if f.recommendation else "")
            + f"<details><summary>evidence</summary>{evidence_html(f.evidence)}</details></div>"
        )
    return "\n".join(parts)


def events_html(events: Iterable[CaptureEvent]) -> str:
    """Capture errors, gaps, restarts as a table (or a line saying there were none)."""
    rows = [
        f"<tr><td>{esc(_clock(e.ts))}</td><td>{esc(e.kind)}</td><td>{esc(e.target)}</td><td>{esc(e.instance)}</td>"
        f"<td>{esc(e.collector)}</td><td>{esc(e.message)}</td></tr>"
        for e in events
    ]
    if not rows:
        return '<p class="none">No capture errors or gaps recorded.</p>'
    head = "<tr><th>time (UTC)</th><th>kind</th><th>target</th><th>instance</th><th>collector</th><th>message</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _clock(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def render_page(*, title: str, meta: str, body: str, figures: list[dict[str, Any]], template: Any,
                plotly_js: str) -> str:
    """The whole self-contained page: CSS, body, plotly.js once, the figures as JSON, the page script."""
    if "</script" in plotly_js.lower():
        plotly_js = re.sub(r"</(script)", r"<\\/\1", plotly_js, flags=re.IGNORECASE)
    figures_json = script_json({"template": template, "figures": figures})
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>"
        f"<header><h1>{esc(title)}</h1><div class=\"meta\">{meta}</div></header>\n<main>{body}</main>\n"
        f"<script>{plotly_js}</script>\n"
        f"<script type=\"application/json\" id=\"profkit-figures\">{figures_json}</script>\n"
        f"<script>{PAGE_SCRIPT}</script>\n</body></html>\n"
    )
