"""The ``profkit`` entry point: registers the commands and maps errors to exit codes."""

from __future__ import annotations

import importlib
import sys

import typer

from profkit import __version__
from profkit.errors import ProfkitError

COMMANDS = ("capture", "analyze", "report", "flame", "view", "compare", "plan", "demo", "targets")

app = typer.Typer(
    name="profkit",
    help=(
        "Profile and diagnose Kubernetes controllers during scale tests.\n\n"
        "Example: profkit capture --deployment kcp --duration 10m --out run1 && profkit report run1"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"profkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Profile and diagnose Kubernetes controllers during scale tests."""


for _name in COMMANDS:
    importlib.import_module(f"profkit.cli.{_name}").register(app)
for _info in app.registered_commands:
    # The command list shows the first sentence of each help text, not its examples.
    if _info.short_help is None and _info.help:
        _info.short_help = _info.help.strip().split("\n")[0].split(" Examples:")[0]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; ProfkitError becomes one line on stderr and its exit code."""
    try:
        result = app(args=argv, standalone_mode=False)
    except ProfkitError as exc:
        print(f"profkit: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("profkit: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit inside commands
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # click usage errors and friends
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return int(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            return 130
        if isinstance(exc, click.exceptions.Exit):
            return int(exc.exit_code)
        raise
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
