"""``profkit demo``: run the embedded demo controller, capture it, analyze it and write the report."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from profkit.errors import Interrupted

DEMO_NAME = "demo-controller"
EXAMPLES = """
Examples:

  profkit demo                       # ~30 s, writes ./profkit-demo-<time>/report.html

  profkit demo --out demo1 --duration 15s

  profkit demo --healthy --out base  # the same controller without its two bugs
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_command(port: int, log_file: Path, *, healthy: bool, lifetime: float) -> list[str]:
    """The demo controller's command line: key generation per reconcile and requeue of deleted objects on."""
    command = [sys.executable, "-m", "profkit.demo.controller", "--port", str(port), "--log-file", str(log_file),
               "--objects", "5", "--workers", "2", "--max-lifetime", f"{lifetime:.0f}", "--exit-with-parent"]
    if not healthy:
        command += ["--keygen-per-reconcile", "4", "--requeue-deleted"]
    return command


def _analyze(out: Path) -> tuple[list[Any], str]:
    """Findings and the report path (or why there is none), through the same code as analyze/report."""
    from profkit.analyze import run_analyzers
    from profkit.bundle.reader import open_bundle
    from profkit.render.report_html import write_report
    from profkit.render.report_model import build_report

    view = open_bundle(out)
    findings = list(run_analyzers(view, None))
    path = out / "report.html"
    write_report(build_report(view, findings), path)
    return findings, str(path)


def demo(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Bundle directory (default: ./profkit-demo-<time>)."),
    duration: str = typer.Option("30s", "--duration", help="How long to capture the demo controller."),
    healthy: bool = typer.Option(False, "--healthy", help="Run the demo controller without its pathologies."),
) -> None:
    """Run the embedded demo controller, capture it, analyze it and write DIR/report.html."""
    from profkit.sources.base import CaptureOptions
    from profkit.sources.plan import EndpointSpec, LocalTargets
    from profkit.render.capture_progress import live_progress
    from profkit.sources.session import CaptureRequest, print_summary, run_capture
    from profkit.units import parse_duration

    seconds = parse_duration(duration)
    directory = out or Path(f"profkit-demo-{time.strftime('%Y%m%d-%H%M%S')}")
    log_file = directory.resolve() / f"{DEMO_NAME}.log"
    port = free_port()
    options = CaptureOptions(profile_window=min(10.0, seconds), scrape_interval=2.0, duration=seconds,
                             startup_grace=10.0)
    request = CaptureRequest(
        out=directory,
        options=options,
        local=LocalTargets(endpoints=[EndpointSpec(None, f"http://127.0.0.1:{port}", DEMO_NAME)],
                           log_files=[(log_file, DEMO_NAME)]),
        command=demo_command(port, log_file, healthy=healthy, lifetime=seconds + 120),
        command_name=DEMO_NAME,
        argv=["profkit", *sys.argv[1:]],
        echo_command_output=False,
    )
    what = "healthy" if healthy else "with per-reconcile RSA key generation and requeue of deleted objects"
    print(f"profkit demo: running the demo controller ({what}) and capturing it for {duration} ...", file=sys.stderr)
    result = run_capture(request, progress=live_progress())
    print_summary(result)
    if result.status == "interrupted":
        raise Interrupted(f"demo interrupted; bundle {result.directory} is valid")
    for target in result.targets:
        if target.stats.profiles == 0:
            reasons = [e for e in target.errors if "py-spy" in e]
            print(f"profkit demo: no CPU profiles of {target.name}"
                  + (f": {reasons[0]}" if reasons else " (py-spy produced none)"), file=sys.stderr)
    findings, report = _analyze(directory)
    print(f"\nbundle: {directory}")
    print(f"report: {report}" if report.endswith(".html") else f"report: {report}")
    if findings:
        print("findings:")
        for finding in findings:
            print(f"  [{finding.severity}] {finding.id}: {finding.title}")
    else:
        print("findings: none")
    print(f"more: profkit analyze {directory}   |   profkit flame {directory} -o flame.svg   |   "
          f"profkit view {directory}")
    if report.endswith(".html"):
        print(f"open the report in a browser: {Path(report).resolve().as_uri()}")


def register(app: typer.Typer) -> None:
    app.command("demo", help="Run, capture and diagnose the embedded demo controller (no cluster needed)."
                + EXAMPLES)(demo)
