"""The report page: HTML template, escaping, findings with evidence links, capture events.

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
import time
from typing import Any, Iterable, Sequence

from profkit.model import CaptureEvent, Finding

SEVERITY_COLOURS = {"critical": "#f2495c", "warning": "#ff9830", "info": "#5794f2"}
# plotly's config for every chart of every page: no Plotly logo (a link to plotly.com), no "Share chart"
# button (it uploads the figure to Plotly Cloud) and no server URL for it; the pages are offline and hold
# internal data. The page scripts read it from their data document, so the report, the flame view and the
# compare page cannot drift apart.
PLOTLY_CONFIG: dict[str, Any] = {
    "responsive": True, "displaylogo": False, "showTips": False, "showSendToCloud": False,
    "showEditInChartStudio": False, "showLink": False, "plotlyServerURL": "",
    "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio", "lasso2d", "select2d", "autoScale2d"],
}
_JSON_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")
_CODE = re.compile(r"`([^`]+)`")
MAX_LIST_ROWS = 12


def asset(name: str) -> str:
    """A file of ``profkit/render/assets`` (the page's CSS and script), shipped as package data."""
    from importlib import resources

    return (resources.files("profkit.render") / "assets" / name).read_text(encoding="utf-8")


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


TIME_KEYS = ("start", "end", "first", "last", "ts", "window", "since", "until")


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1e9 < value < 4e9 \
            and (key in TIME_KEYS or key.endswith(("_at", "_ts"))):
        return esc(_clock(float(value)) + " UTC")
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


def _log_samples_html(samples: Sequence[Any], prefix: str) -> str:
    items = "".join(f'<li id="{prefix}-log{i}"><code>{esc(line)}</code></li>' for i, line in enumerate(samples))
    return f'<ol class="logs">{items}</ol>'


def findings_html(findings: Sequence[Finding], links: Sequence[str] = ()) -> str:
    """The findings, most severe first; ``links[i]`` is HTML linking finding i to its evidence."""
    if not findings:
        return '<p class="none">No findings: nothing profkit knows to look for stood out.</p>'
    parts: list[str] = []
    for index, f in enumerate(findings):
        colour = SEVERITY_COLOURS.get(f.severity, "#8e8e9e")
        evidence = {k: v for k, v in f.evidence.items() if k != "log_samples"}
        logs = (f"<dt>log samples</dt><dd>{_log_samples_html(f.log_samples, f'finding-{index}')}</dd>"
                if f.log_samples else "")
        link = links[index] if index < len(links) else ""
        parts.append(
            f'<div class="finding" id="finding-{index}" data-target="{esc(f.target)}" style="--sev:{colour}">'
            f'<span class="sev">{esc(f.severity)}</span><span class="title">{esc(f.title)}</span>'
            f'<span class="id">{esc(f.id)}</span><span class="target">{esc(f.target or "-")}</span>'
            + (f'<div class="fix">{rich_text(f.recommendation)}</div>' if f.recommendation else "")
            + (f'<div class="links">{link}</div>' if link else "")
            # The log samples go into the outer list only (nested lists, e.g. series labels, end in </dl> too).
            + f"<details><summary>evidence</summary>{evidence_html(evidence).removesuffix('</dl>') + logs + '</dl>'}"
            "</details></div>"
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
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def clock(ts: float) -> str:
    """A time of day, UTC (``12:04:05``): what the report's panels and links label times with."""
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def render_page(*, title: str, meta: str, toolbar: str, body: str, data: dict[str, Any], plotly_js: str,
                script: str | None = None, extra_css: str = "", data_id: str = "profkit-data") -> str:
    """The whole self-contained page: CSS, body, plotly.js once, the data as JSON, the page script.

    ``data`` gains ``config`` (:data:`PLOTLY_CONFIG`) for the page script's ``Plotly.newPlot`` calls;
    ``script`` is the page script (default: ``assets/report.js``).
    """
    if "</script" in plotly_js.lower():
        plotly_js = re.sub(r"</(script)", r"<\\/\1", plotly_js, flags=re.IGNORECASE)
    document = {**data, "config": PLOTLY_CONFIG}
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{asset('report.css')}{extra_css}</style></head>\n<body>"
        f"<header id=\"top\"><h1>{esc(title)}</h1><div class=\"meta\">{meta}</div>{toolbar}</header>\n"
        f"<main>{body}</main>\n"
        f"<script>{plotly_js}</script>\n"
        f"<script type=\"application/json\" id=\"{data_id}\">{script_json(document)}</script>\n"
        f"<script>{asset('report.js') if script is None else script}</script>\n</body></html>\n"
    )
