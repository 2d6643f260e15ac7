"""The ``profkit`` entry point: registers the commands and maps errors to exit codes."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import typer
import typer.main

from profkit import __version__
from profkit.errors import ProfkitError

COMMANDS = ("capture", "analyze", "report", "flame", "view", "compare", "plan", "demo", "targets", "rules", "export", "import_cmd")

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


_debug = {"on": False}  # set by --debug / PROFKIT_DEBUG=1 before the command runs


def _debug_requested() -> bool:
    return _debug["on"] or os.environ.get("PROFKIT_DEBUG", "") not in ("", "0")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an internal error (or PROFKIT_DEBUG=1)."),
) -> None:
    """Profile and diagnose Kubernetes controllers during scale tests."""
    _debug["on"] = debug


for _name in COMMANDS:
    importlib.import_module(f"profkit.cli.{_name}").register(app)
for _info in app.registered_commands:
    # The command list shows the first sentence of each help text, not its examples.
    if _info.short_help is None and _info.help:
        _info.short_help = _info.help.strip().split("\n")[0].split(" Examples:")[0]


# What --help shows for a value instead of typer's type names (<str>, <path>, <bool>, <list[Path]>).
PLACEHOLDERS = {
    "out": "DIR", "output": "FILE", "duration": "DURATION", "profile_window": "DURATION",
    "scrape_interval": "DURATION", "sync_period": "DURATION", "reconcile_time": "DURATION", "window": "DURATION",
    "namespace": "NAMESPACE", "context": "CONTEXT", "kubeconfig": "FILE", "token_file": "FILE", "kind": "KIND",
    "target": "TARGET", "top": "N", "objects": "N", "concurrency": "N", "for_objects": "N", "qps": "QPS",
    "burst": "N", "calls": "N", "events_per_min": "N", "target_share": "FRACTION", "fmt": "FORMAT",
    "sample_type": "TYPE", "collector": "FILE.yaml", "bundle": "DIR", "action": "ACTION", "name": "NAME",
}
TYPE_PLACEHOLDERS = {"int": "N", "float": "NUMBER", "Path": "PATH", "str": "TEXT"}


def _show_placeholders(command: Any, name: str = "profkit") -> None:
    """Give every option and argument of the command tree a placeholder (DIR, N, DURATION), and flags none."""
    for sub_name, sub in getattr(command, "commands", {}).items():
        _show_placeholders(sub, sub_name)
    help_option = command.get_help_option(typer.Context(command, info_name=name,
                                                        help_option_names=["-h", "--help"]))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
            continue
        if param.metavar is None:
            bare = str(param.bare_type()) if hasattr(param, "bare_type") else ""
            param.metavar = PLACEHOLDERS.get(param.name or "") or TYPE_PLACEHOLDERS.get(
                bare.removeprefix("list[").removesuffix("]"), "VALUE")
        if param.param_type_name == "argument":  # the name column shows the placeholder already
            setattr(param, "display_type_rich", lambda ctx: None)


_command = typer.main.get_command(app)
_show_placeholders(_command)

INTERNAL_ERROR_EXIT = 70  # sysexits' EX_SOFTWARE: a profkit bug, not a finding (1) nor bad input (2)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI: every error ends as one line on stderr and the exit code README's table documents."""
    _debug["on"] = False
    try:
        result = _command.main(args=argv, prog_name="profkit", standalone_mode=False)
    except ProfkitError as exc:
        print(f"profkit: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        print("profkit: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:  # raised by commands to set their exit code
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: unknown command or flag, missing or bad value
        return _usage_error(exc)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # a profkit bug: one line, the traceback only on request
        if _debug_requested():
            traceback.print_exc()
        print(f"profkit: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
              "(please report; run with --debug for the traceback)", file=sys.stderr)
        return INTERNAL_ERROR_EXIT
    return result if isinstance(result, int) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


def _usage_error(exc: typer.TyperException) -> int:
    """``profkit: <what was wrong> (see '<command> --help')`` on stderr; a command run without its
    required arguments prints its help instead, as typer does."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        sys.stderr.write(exc.format_message().rstrip("\n") + "\n")
        return int(exc.exit_code)
    path = getattr(ctx, "command_path", None)
    hint = f" (see '{path} --help')" if isinstance(path, str) and path else ""
    print(f"profkit: {_one_line(exc.format_message())}{hint}", file=sys.stderr)
    return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
