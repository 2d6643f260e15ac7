"""``profkit capture``: record profiles, metrics, usage and logs of controllers into a bundle."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from profkit.errors import BadInput, Interrupted, NothingCaptured

EXAMPLES = """
Examples:

  # a local Go controller serving pprof and /metrics on one port, for 5 minutes
  profkit capture --endpoint http://127.0.0.1:6060 --duration 5m --out run1

  # metrics and pprof on different ports, one target named kcp, plus its log file
  profkit capture --endpoint pprof=http://127.0.0.1:6060,metrics=http://127.0.0.1:8080,name=kcp \\
      --log-file /tmp/kcp.log,name=kcp --out run2

  # a Python controller by PID (py-spy + CPU/memory), until Ctrl-C
  profkit capture --pid 4242 --out run3

  # launch a command and capture it until it exits
  profkit capture --out run4 -- python -m my_operator --workers 4

  # a Deployment in Kubernetes (all replicas)
  profkit capture --deployment kcp --duration 10m --out run5

  # an operator the catalog does not know, and the custom resources it reconciles
  profkit capture --deployment widget-operator -n widgets --watch widgets.profkit.example --out run6

Targets: each --endpoint, --pid, --log-file and -- CMD is a target named by name=NAME (default: the
endpoint's host:port, the process or log file name). Sources given the same name=NAME are ONE target,
e.g. the endpoint and the log file of one local controller; profkit compare pairs targets by name.

Metrics from the team's Prometheus: with --prometheus URL, each target's series are read from there
over the capture window (a Deployment's pods by namespace and pod labels, an --endpoint by Prometheus'
instance label, its host:port; --prometheus-selector adds matchers), and no pod's /metrics is fetched:

  profkit capture --deployment kcp --prometheus http://prometheus.monitoring:9090 --duration 10m --out run7

Checks at start (exit 2, one line, nothing captured): an --endpoint with nothing listening, a
--log-file that does not exist (both skipped with -- CMD, which may start them), an unknown --pid,
a --prometheus that is unreachable, refuses the credentials or rejects --prometheus-selector.

Exit codes: 0 every target gave data; 2 bad usage or input; 3 a target gave no data at all (or one
kind of its data only failed, or a collector crashed) - the bundle keeps the rest; with -- CMD, the
command's own exit status when it failed (128+N when a signal N ended it), as `time` does; 130
interrupted (the bundle stays valid).
"""


def kube_factories(deployments: list[str], namespace: Optional[str], context: Optional[str],
                   kubeconfig: Optional[Path], options: Any, collector_files: Optional[list[Path]] = None,
                   token_file: Optional[Path] = None, watch: Optional[list[str]] = None) -> list[Any]:
    """The Deployment targets from ``profkit.kube``, checked now (a one-line exit 2 before any bundle exists)."""
    if not deployments:
        return []
    from profkit.kube.targets import deployment_targets

    return list(deployment_targets(deployments, namespace, context, str(kubeconfig) if kubeconfig else None,
                                   [str(p) for p in collector_files or []], str(token_file) if token_file else None,
                                   watch or []))


def print_rbac(deployments: list[str], collector_files: list[Path], namespace: Optional[str] = None,
               watch: Optional[list[str]] = None) -> None:
    """``--print-rbac``: the minimal Role(s) for the given deployments (default: the whole catalog)."""
    from profkit.catalog import load_collector_file
    from profkit.kube.rbac import rbac_targets, rbac_yaml

    collector_specs = [load_collector_file(p) for p in collector_files]
    sys.stdout.write(rbac_yaml(rbac_targets(deployments, collector_specs, namespace, watch or [])))


def capture(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Bundle directory to create (required)."),
    endpoint: list[str] = typer.Option(
        [], "--endpoint", metavar="URL",
        help="Base URL serving /debug/pprof and /metrics, or pprof=URL,metrics=URL[,name=NAME]. Repeatable."),
    pid: list[str] = typer.Option([], "--pid", metavar="PID", help="Local process (py-spy + CPU/memory). PID[,name=NAME]."),
    log_file: list[str] = typer.Option([], "--log-file", metavar="PATH", help="Log file to follow. PATH[,name=NAME]."),
    deployment: list[str] = typer.Option([], "--deployment", metavar="NAME|ALIAS",
                                         help="Kubernetes Deployment or catalog alias; NAMESPACE/NAME overrides -n."),
    namespace: Optional[str] = typer.Option(None, "--namespace", "-n", help="Namespace of --deployment."),
    watch: list[str] = typer.Option(
        [], "--watch", metavar="RESOURCE[.GROUP]",
        help="Also record the lifecycle of this resource (kubectl-style plural, e.g. widgets.profkit.example) "
             "in each --deployment's namespace: objects stuck Terminating, requeues after deletion. Repeatable."),
    context: Optional[str] = typer.Option(None, "--context", help="kubeconfig context."),
    kubeconfig: Optional[Path] = typer.Option(None, "--kubeconfig", help="kubeconfig file."),
    collector: list[Path] = typer.Option([], "--collector", metavar="FILE.yaml",
                                         help="Collector definition of your own controller (see profkit targets)."),
    token_file: Optional[Path] = typer.Option(
        None, "--token-file", help="Bearer token for secure diagnostics ports (else $PROFKIT_DIAGNOSTICS_TOKEN, "
                                   "else the kubeconfig user's token)."),
    print_rbac_only: bool = typer.Option(False, "--print-rbac", help="Print the minimal RBAC for the capture and exit."),
    duration: Optional[str] = typer.Option(None, "--duration", help="How long (e.g. 5m); default: until Ctrl-C or the command ends."),
    profile_window: str = typer.Option("30s", "--profile-window", help="Length of each CPU profile."),
    scrape_interval: str = typer.Option("5s", "--scrape-interval", help="Metrics and usage sampling interval."),
    prometheus: Optional[str] = typer.Option(
        None, "--prometheus", metavar="URL",
        help="Read the targets' metrics from this Prometheus (Thanos, Mimir: with its path prefix) over the "
             "capture window instead of scraping each pod's /metrics; profiles and logs still come from the pods."),
    prometheus_selector: Optional[str] = typer.Option(None, "--prometheus-selector", metavar="'{job=\"x\"}'",
                                                      help="More PromQL matchers for every target's series."),
    prometheus_token: Optional[str] = typer.Option(None, "--prometheus-token", envvar="PROFKIT_PROMETHEUS_TOKEN",
                                                   help="Bearer token for --prometheus."),
    prometheus_token_file: Optional[Path] = typer.Option(None, "--prometheus-token-file",
                                                         help="File holding the bearer token for --prometheus."),
    prometheus_user: Optional[str] = typer.Option(None, "--prometheus-user", help="Basic auth user for --prometheus."),
    prometheus_password: Optional[str] = typer.Option(
        None, "--prometheus-password", envvar="PROFKIT_PROMETHEUS_PASSWORD",
        help="Basic auth password for --prometheus (or $PROFKIT_PROMETHEUS_PASSWORD)."),
    prometheus_ca_file: Optional[Path] = typer.Option(None, "--prometheus-ca-file",
                                                      help="CA bundle for an https --prometheus URL."),
    command: Optional[list[str]] = typer.Argument(None, metavar="[-- CMD ...]", help="Command to launch and capture."),
) -> None:
    """Capture profiles, metrics, CPU/memory and logs into a bundle directory."""
    from profkit.sources.base import CaptureOptions
    from profkit.sources.plan import LocalTargets, is_python_process, process_label
    from profkit.render.capture_progress import live_progress
    from profkit.sources.session import CaptureRequest, print_summary, run_capture
    from profkit.units import parse_duration

    if watch and not deployment:
        raise BadInput("--watch needs --deployment: it watches objects in that Deployment's namespace")
    if print_rbac_only:
        print_rbac(deployment, collector, namespace, watch)
        return
    if out is None:
        raise BadInput("--out DIR is required")
    source = None
    if prometheus is not None:
        from profkit.cli.common import prometheus_client
        from profkit.sources.prometheus_capture import PrometheusSource

        source = PrometheusSource(prometheus_client(prometheus, prometheus_token, prometheus_token_file,
                                                    prometheus_user, prometheus_password, prometheus_ca_file,
                                                    "--prometheus-"), prometheus_selector)
    elif prometheus_selector or prometheus_token or prometheus_token_file or prometheus_user or prometheus_ca_file:
        raise BadInput("--prometheus-selector/--prometheus-token/...: only with --prometheus URL")
    options = CaptureOptions(
        profile_window=parse_duration(profile_window, flag="profile-window"),
        scrape_interval=parse_duration(scrape_interval, flag="scrape-interval"),
        duration=parse_duration(duration) if duration else None,
        scrape_metrics=source is None,
    )
    local = LocalTargets.parse(endpoint, pid, log_file)
    for pid_value, _ in local.pids:
        if is_python_process(pid_value) is False:
            print(f"profkit: --pid {pid_value} ({process_label(pid_value)}) is not a Python process: py-spy cannot "
                  "profile it, only its CPU and memory are captured; for a Go controller give its pprof and "
                  "metrics port with --endpoint http://127.0.0.1:PORT", file=sys.stderr)
    request = CaptureRequest(
        out=out,
        options=options,
        local=local,
        deployments=kube_factories(deployment, namespace, context, kubeconfig, options, collector, token_file,
                                   watch),
        command=list(command or []),
        argv=_without_secrets(["profkit", *sys.argv[1:]]),
        prometheus=source,
    )
    result = run_capture(request, progress=live_progress())
    print_summary(result)
    if result.status == "interrupted":
        raise Interrupted(f"capture interrupted; bundle {result.directory} is valid")
    if result.command_failure is not None:  # as `time` does: the command's failure is the capture's status
        print(f"profkit: the command failed (exit code {result.command_exit_code}); exiting with "
              f"{result.command_failure}; bundle {result.directory} is complete", file=sys.stderr)
        raise typer.Exit(result.command_failure)
    if result.problems:
        targets = sorted({p.target for p in result.problems})
        raise NothingCaptured(f"captured nothing from {', '.join(targets)} (see above); bundle "
                              f"{result.directory} keeps the rest")


def _without_secrets(argv: list[str]) -> list[str]:
    """The command line as the bundle keeps it: the value of --prometheus-token/--prometheus-password hidden."""
    out: list[str] = []
    hide = False
    for arg in argv:
        flag, eq, _ = arg.partition("=")
        if hide:
            out.append("***")
        elif eq and flag in ("--prometheus-token", "--prometheus-password"):
            out.append(f"{flag}=***")
        else:
            out.append(arg)
        hide = not hide and not eq and arg in ("--prometheus-token", "--prometheus-password")
    return out


def register(app: typer.Typer) -> None:
    app.command("capture", help="Capture profiles, metrics, CPU/memory and logs into a bundle." + EXAMPLES,
                no_args_is_help=True)(capture)
