"""Every page profkit writes (report, compare, flame view, flame SVGs) links and loads nothing off the page.

The pages hold a capture's internal data and are opened offline: no element may point at another host
(``http://``, ``https://``, protocol-relative ``//``), and plotly's "Share chart" (Plotly Cloud upload)
button and logo link must be configured away on every chart.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from profkit.cli.main import main
from tests.unit.compare_runs import RunSpec, write_run

FIXTURES = Path(__file__).parent.parent / "fixtures"
# attributes that make a browser fetch, navigate or submit somewhere
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "poster", "data", "srcset", "background",
                  "ping", "cite", "longdesc", "manifest", "codebase")
# http://, https://, ftp://, //host; file:/// (this machine: profkit view's links to a bundle's raw files) is not
OFF_PAGE = re.compile(r"^\s*(?!file:///)(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?:[a-z]+:)?//", re.IGNORECASE)


class Links(HTMLParser):
    """Every URL-bearing attribute, inline style and <style> text; iframe srcdoc documents parsed too."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self.srcdocs: list[str] = []
        self.tags: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value:
                self.urls.append((tag, name, value))
            elif name == "style" and value:
                self.styles.append(value)
            elif name == "srcdoc" and value:
                self.srcdocs.append(value)
            elif name == "http-equiv" and (value or "").lower() == "refresh":
                self.urls.append((tag, name, dict(attrs).get("content") or ""))
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def off_page(document: str) -> list[str]:
    """What in ``document`` (and the documents of its iframes) would reach another host."""
    parsed = Links()
    parsed.feed(document)
    found = [f"<{tag} {name}={value!r}>" for tag, name, value in parsed.urls
             if OFF_PAGE.match(value) or name == "http-equiv"]
    found += [f"style {style[:80]!r}" for style in parsed.styles if CSS_URL.search(style) or "@import" in style]
    found += [f"<{tag}>" for tag in parsed.tags if tag in ("form", "base", "link", "embed", "object")]
    for inner in parsed.srcdocs:
        found += [f"iframe srcdoc: {item}" for item in off_page(inner)]
    return found


def config_of(page: str, data_id: str) -> dict[str, object]:
    document = json.loads(page.split(f'id="{data_id}">', 1)[1].split("</script>", 1)[0])
    config: dict[str, object] = document["config"]
    return config


def assert_no_cloud_button(config: dict[str, object]) -> None:
    assert config["showSendToCloud"] is False and config["displaylogo"] is False
    assert config["plotlyServerURL"] == "" and config["showLink"] is False
    assert "sendDataToCloud" in config["modeBarButtonsToRemove"]  # type: ignore[operator]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The report, compare page, flame view page, flame SVG and diff flame SVG of two runs with CPU profiles."""
    tmp = tmp_path_factory.mktemp("pages")
    write_run(tmp / "a", RunSpec(), 1, profiles=[(FIXTURES / "go-cpu-healthy.pb.gz").read_bytes()])
    write_run(tmp / "b", RunSpec(cpu_per_reconcile=0.02), 2,
              profiles=[(FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()])
    commands = {
        "report": ["report", tmp / "b", "-o", tmp / "report.html"],
        "compare": ["compare", tmp / "a", tmp / "b", "--html", tmp / "compare.html"],
        "view": ["view", tmp / "b", "--no-open", "-o", tmp / "view.html"],
        "flame": ["flame", tmp / "b", "-o", tmp / "flame.svg"],
        "diff": ["flame", "--diff", tmp / "a", tmp / "b", "-o", tmp / "diff.svg"],
    }
    out: dict[str, str] = {}
    for name, args in commands.items():
        code = main([str(a) for a in args])
        assert code in (0, 1), (name, code)
        out[name] = Path(args[-1]).read_text(encoding="utf-8")
    return out


@pytest.mark.parametrize("name", ["report", "compare", "view", "flame", "diff"])
def test_no_element_of_any_page_reaches_another_host(pages: dict[str, str], name: str) -> None:
    assert off_page(pages[name]) == []


@pytest.mark.parametrize("name, data_id", [("report", "profkit-data"), ("view", "profkit-data"),
                                           ("compare", "compare-data")])
def test_every_chart_is_configured_without_plotly_cloud_or_logo(pages: dict[str, str], name: str,
                                                                data_id: str) -> None:
    assert_no_cloud_button(config_of(pages[name], data_id))
    script = pages[name].rsplit("<script>", 1)[1]  # the page script, after plotly.js and the data
    calls = re.findall(r"Plotly\.(?:newPlot|react)\([^;]*\)", script)
    assert calls and all(re.search(r"config\)$", call) for call in calls), calls


def test_the_scan_finds_what_it_looks_for() -> None:
    """The checker itself: each kind of off-page reference is caught (a scan that finds nothing proves nothing)."""
    caught = [
        '<a href="https://plotly.com/">', '<img src="//cdn.example/x.png">', '<form action="http://x/">',
        '<div style="background:url(https://x/y.png)">', "<style>@import 'x.css';</style>",
        '<iframe srcdoc="&lt;a href=&quot;http://x/&quot;&gt;"></iframe>', '<svg><a xlink:href="http://x/"/></svg>',
        '<meta http-equiv="refresh" content="0; url=http://x/">',
    ]
    for document in caught:
        assert off_page(document), document
    assert off_page('<a href="#d1-cpu">x</a><a href="profiles/ctl/pod/cpu.pb.gz">raw</a>'
                    '<a href="file:///tmp/run/profiles/cpu.pb.gz">raw</a>') == []
    assert off_page('<a href="file://fileserver/share/x">x</a>')  # another host's share
