"""``--help`` of every command shows placeholders (DIR, N, DURATION), never typer's type names (<bool>, <list[Path]>)."""

from __future__ import annotations

import re

import pytest

import typer.main

from profkit.cli.main import app, main

COMMAND_NAMES = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
TYPE_NAMES = re.compile(r"<(bool|str|path|int|float|int range|float range|list\[[^\]]*\])>")


def _help(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")
    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


def _panel_rows(text: str, first: str) -> list[str]:
    """Rows of the options/arguments panels whose first cell is ``first`` (an option, or * for required)."""
    return [line for line in text.splitlines() if re.match(rf"│\s*(\*\s+)?{re.escape(first)}\s", line)]


@pytest.mark.parametrize("command", ["", *COMMAND_NAMES])
def test_help_shows_no_type_names(command: str, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    text = _help([command] if command else [], capsys, monkeypatch)
    assert "Show this message and exit." in text
    assert not TYPE_NAMES.findall(text), TYPE_NAMES.findall(text)


@pytest.mark.parametrize("command, option, placeholder", [
    ("capture", "--out", "DIR"), ("capture", "--duration", "DURATION"), ("capture", "--scrape-interval", "DURATION"),
    ("flame", "--top", "N"), ("plan", "--objects", "N"), ("demo", "--out", "DIR"), ("analyze", "", "DIR"),
])
def test_options_show_their_placeholder(command: str, option: str, placeholder: str,
                                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    text = _help([command], capsys, monkeypatch)
    rows = _panel_rows(text, option or "*")
    assert rows and re.search(rf"\s{re.escape(placeholder)}(\s|$)", rows[0]), rows


def test_flags_show_no_placeholder(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    text = _help(["demo"], capsys, monkeypatch)
    (row,) = _panel_rows(text, "--healthy")
    assert re.search(r"--healthy\s+Run the demo controller", row), row
