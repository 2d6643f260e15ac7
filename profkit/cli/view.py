"""``profkit view``: open a profile or a bundle's profiles in speedscope, or in profkit's HTML flame graph."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from profkit.errors import BadInput

if TYPE_CHECKING:
    from profkit.model import ProfileKind

EXAMPLES = """
Examples:

  profkit view cpu.pb.gz

  profkit view run1 --kind heap --target kcp

  profkit view run1 --no-open -o /tmp/flames.html

With the npm package speedscope installed (npm install -g speedscope), the profile opens in
the speedscope viewer; otherwise profkit writes its own HTML flame graph (window picker,
search, click to zoom) and opens it in the browser.
"""


def _speedscope(source: Path, kind: Optional[ProfileKind], target: Optional[str], command: str, open_it: bool) -> Path:
    from profkit.cli.flame import load_input
    from profkit.formats.speedscope import write_speedscope

    profile = load_input(source, kind, target)
    handle = tempfile.NamedTemporaryFile("w", suffix=".speedscope.json", prefix="profkit-", delete=False,
                                         encoding="utf-8")
    with handle:
        handle.write(write_speedscope(profile, name=" ".join(x for x in (source.name, profile.target) if x)))
    path = Path(handle.name)
    typer.echo(str(path))
    if open_it:
        subprocess.run([command, str(path)], check=False)
    return path


def _html(source: Path, kind: Optional[ProfileKind], target: Optional[str], output: Optional[Path]) -> Path:
    from profkit.cli.flame import load_input
    from profkit.render.flame_html import flame_panel, profile_flame_panel, write_flame_page

    if source.is_dir():
        from profkit.bundle import open_bundle

        view = open_bundle(source)
        targets = [target] if target else sorted({r.target for r in view.profile_refs()})
        panels = [p for i, t in enumerate(targets) if (p := flame_panel(view, t, kind or "cpu", f"view-{i}")) is not None]
        for panel in panels:  # the page is written elsewhere: link the raw files by absolute path
            panel.link_base = view.directory.resolve().as_uri() + "/"
        if not panels:
            raise BadInput(f"{source}: no readable {kind or 'cpu'} profiles" + (f" of target {target}" if target else ""))
    else:
        profile = load_input(source, kind, target)
        panels = [profile_flame_panel(profile, "view-0", source.name)]
    if output is None:
        handle = tempfile.NamedTemporaryFile(suffix=".html", prefix="profkit-view-", delete=False)
        handle.close()
        output = Path(handle.name)
    try:
        return write_flame_page(panels, output, f"profkit view: {source.name}")
    except OSError as exc:
        raise BadInput(f"-o {output}: cannot write ({exc.strerror or exc})") from None


def view(
    source: Path = typer.Argument(..., metavar="PROFILE|DIR", help="pprof (.pb.gz), speedscope JSON, folded file or bundle."),
    kind: Optional[str] = typer.Option(None, "--kind", help="cpu | heap | allocs | goroutine | mutex | block | wall."),
    target: Optional[str] = typer.Option(None, "--target", help="Only this target of a bundle."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE.html",
                                          help="Where profkit's HTML flame graph goes (default: a temporary file)."),
    no_open: bool = typer.Option(False, "--no-open", help="Write and print the path, do not open a viewer."),
    html: bool = typer.Option(False, "--html", help="Use profkit's HTML flame graph even if speedscope is installed."),
) -> None:
    """Open a profile in speedscope when installed, else in profkit's HTML flame graph."""
    from profkit.cli.flame import kind_option

    profile_kind = kind_option(kind)
    if not source.exists():
        raise BadInput(f"{source}: no such file or bundle directory")
    command = shutil.which("speedscope")
    if command and not html and output is None:
        _speedscope(source, profile_kind, target, command, not no_open)
        return
    path = _html(source, profile_kind, target, output)
    typer.echo(str(path))
    if not no_open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print("profkit: no browser found; open the file above", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("view", help="Open a profile in speedscope or profkit's HTML flame graph." + EXAMPLES)(view)
