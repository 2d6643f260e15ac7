"""``profkit import prometheus``: a bundle from a run a team's Prometheus (or Thanos/Mimir) already holds."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from profkit.errors import BadInput

EXAMPLES = """
Examples:

  profkit import prometheus http://prometheus:9090 --deployment capi-kubeadm-control-plane-controller-manager \\
      -n capi-kubeadm-control-plane-system --since 2h --out kcp-last-night

  profkit import prometheus https://mimir.example/prometheus --selector '{job="kcp"}' \\
      --start 2026-11-24T08:00:00Z --end 2026-11-24T10:00:00Z --token-file token --ca-file ca.pem --out run1

Series are selected by the labels Kubernetes service discovery puts on them (namespace, pod) plus
--selector; each pod becomes an instance, pods' nodes and restarts come from kube-state-metrics when
it is there. The raw samples Prometheus stored are read slice by slice and written as they come
(memory does not grow with the range) into a hidden directory, which becomes --out only once
everything was read. To take a live capture's metrics from Prometheus: profkit capture --prometheus URL.
"""

import_app = typer.Typer(help="Build a bundle from data another system holds.", no_args_is_help=True)


def parse_time(text: str, flag: str) -> float:
    """Unix seconds, or an RFC 3339 / ISO 8601 time (``2026-11-24T08:00:00Z``; no zone means UTC)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{flag} {text}: not a time (unix seconds or 2026-11-24T08:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@import_app.command("prometheus", help="A bundle from a Prometheus (Thanos, Mimir) HTTP API." + EXAMPLES)
def prometheus(
    url: str = typer.Argument(..., metavar="URL", help="Prometheus base URL, with its path prefix if any."),
    deployment: Optional[str] = typer.Option(None, "--deployment", metavar="NAME", help="Pods of this Deployment."),
    namespace: Optional[str] = typer.Option(None, "--namespace", "-n", help="Namespace of the pods."),
    selector: Optional[str] = typer.Option(None, "--selector", metavar="'{job=\"x\"}'", help="More PromQL matchers."),
    since: Optional[str] = typer.Option(None, "--since", help="The last DURATION (e.g. 2h), up to now."),
    start: Optional[str] = typer.Option(None, "--start", help="Start (unix seconds or RFC 3339)."),
    end: Optional[str] = typer.Option(None, "--end", help="End (unix seconds or RFC 3339)."),
    step: Optional[str] = typer.Option(None, "--step", help="Shortest slice read at once (default from the range: "
                                                             "1s..15s); every stored sample is read."),
    name: Optional[str] = typer.Option(None, "--name", help="Target name in the bundle (default: the deployment "
                                                             "or the job)."),
    token: Optional[str] = typer.Option(None, "--token", envvar="PROFKIT_PROMETHEUS_TOKEN", help="Bearer token."),
    token_file: Optional[Path] = typer.Option(None, "--token-file", help="File holding the bearer token."),
    user: Optional[str] = typer.Option(None, "--user", help="Basic auth user."),
    password: Optional[str] = typer.Option(None, "--password", envvar="PROFKIT_PROMETHEUS_PASSWORD",
                                           help="Basic auth password (or $PROFKIT_PROMETHEUS_PASSWORD)."),
    ca_file: Optional[Path] = typer.Option(None, "--ca-file", help="CA bundle for an https URL."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle directory to create."),
) -> None:
    """A bundle from a run a Prometheus already holds."""
    from profkit.cli.common import prometheus_client
    from profkit.sources.prometheus import import_run, selector as make_selector
    from profkit.units import parse_duration

    if since is not None and (start is not None or end is not None):
        raise BadInput("--since and --start/--end: pass one or the other")
    if since is None and start is None:
        raise BadInput("import prometheus: pass --since DURATION or --start T [--end T]")
    now = time.time()
    if since is not None:
        t1 = now
        t0 = now - parse_duration(since, flag="--since")
    else:
        t0 = parse_time(str(start), "--start")
        t1 = parse_time(end, "--end") if end is not None else now
    if t1 <= t0:
        raise BadInput(f"--start/--end: the range is empty (end {t1:.0f} is not after start {t0:.0f})")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {out}: exists and is not an empty directory")
    match = make_selector(deployment, namespace, selector)
    step_seconds = parse_duration(step, flag="--step") if step is not None else None
    target = name or deployment or _job_of(selector) or "prometheus"
    client = prometheus_client(url, token, token_file, user, password, ca_file)
    spec = {k: v for k, v in (("deployment", deployment), ("namespace", namespace)) if v}
    began = time.time()
    recorded = ["profkit", "import", "prometheus", url, "--selector", match, "--start", repr(t0), "--end", repr(t1)]
    done = import_run(client, target, match, t0, t1, out, recorded, step_seconds, spec,  # no credentials in the bundle
                      progress=lambda text: print(f"profkit: {text}", file=sys.stderr))
    print(f"profkit: imported {done.points} points of {done.series} series, {done.instances} instance(s) "
          f"into {out} in {time.time() - began:.1f}s", file=sys.stderr)


def _job_of(selector: Optional[str]) -> Optional[str]:
    import re

    match = re.search(r'\bjob="([^"]+)"', selector or "")
    return match.group(1) if match else None


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
