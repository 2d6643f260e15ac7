"""Local targets from the command line (--endpoint, --pid, --log-file, -- CMD) turned into collectors."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlsplit

import psutil

from profkit.errors import BadInput
from profkit.formats.gobuildinfo import read_build_info
from profkit.model import Target, TargetKind
from profkit.sources.base import CaptureOptions, Collector, Sink, TargetPlan
from profkit.sources.http import Fetcher, HttpFetcher, host_port
from profkit.sources.logfile import LogFileCollector
from profkit.sources.metrics import MetricsCollector
from profkit.sources.pprof import PprofCollector
from profkit.sources.pyspy import PySpyCollector, looks_like_python
from profkit.sources.usage import UsageCollector

# Builds a target's collectors once the bundle exists. The Kubernetes hook returns these too, so it can
# check deployments (and fail with exit 2) before any bundle directory is created.
PlanFactory = Callable[[Sink, CaptureOptions], TargetPlan]

_NAME_SUFFIX = re.compile(r"^(.*),name=([^,/=]+)$")


@dataclass
class EndpointSpec:
    """``--endpoint URL`` (pprof and metrics under one base) or ``pprof=URL,metrics=URL[,name=N]``."""

    pprof: str | None
    metrics: str | None
    name: str | None = None
    metrics_path: str = "/metrics"

    @property
    def instance(self) -> str:
        return host_port(self.pprof or self.metrics or "")

    @property
    def default_name(self) -> str:
        return self.name or self.instance


def _check_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"--{flag} {url!r}: not an http(s) URL (e.g. http://127.0.0.1:6060)")
    try:
        parts.port
    except ValueError:
        raise BadInput(f"--{flag} {url!r}: bad port") from None
    return url.rstrip("/")


def parse_endpoint(text: str) -> EndpointSpec:
    """Parse one ``--endpoint`` value; a one-line BadInput when it is wrong."""
    value = text.strip()
    if "=" not in value.split("://", 1)[0]:
        base, name = value, None
        match = _NAME_SUFFIX.match(value)
        if match:
            base, name = match.group(1), match.group(2)
        url = _check_url(base, "endpoint")
        path = urlsplit(url).path
        if path.endswith("/metrics"):  # --endpoint http://host:8080/metrics: metrics only, that path
            root = url[: -len("/metrics")]
            return EndpointSpec(None, root, name, "/metrics")
        return EndpointSpec(url, url, name)
    parts: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or key not in ("pprof", "metrics", "name") or not val.strip():
            raise BadInput(f"--endpoint {text!r}: expected URL or pprof=URL,metrics=URL[,name=NAME]")
        if key in parts:
            raise BadInput(f"--endpoint {text!r}: {key}= given twice")
        parts[key] = val.strip()
    if "pprof" not in parts and "metrics" not in parts:
        raise BadInput(f"--endpoint {text!r}: give pprof=URL and/or metrics=URL")
    pprof = _check_url(parts["pprof"], "endpoint") if "pprof" in parts else None
    metrics, metrics_path = None, "/metrics"
    if "metrics" in parts:
        metrics = _check_url(parts["metrics"], "endpoint")
        path = urlsplit(metrics).path
        if path and path != "/":
            metrics_path = path
            metrics = metrics[: -len(path)]
    return EndpointSpec(pprof, metrics, parts.get("name"), metrics_path)


def split_name(text: str) -> tuple[str, str | None]:
    """``VALUE,name=NAME`` -> (VALUE, NAME); plain values keep no name."""
    match = _NAME_SUFFIX.match(text)
    return (match.group(1), match.group(2)) if match else (text, None)


def parse_pid(text: str) -> tuple[int, str | None]:
    """A ``--pid`` value of a running process; BadInput (exit 2) when there is none."""
    value, name = split_name(text.strip())
    try:
        pid = int(value)
    except ValueError:
        raise BadInput(f"--pid {text!r}: not a process id") from None
    if pid <= 0 or not psutil.pid_exists(pid):
        raise BadInput(f"--pid {pid}: no such process")
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            raise BadInput(f"--pid {pid}: the process has exited (zombie)")
    except psutil.NoSuchProcess:
        raise BadInput(f"--pid {pid}: no such process") from None
    except psutil.AccessDenied:
        pass
    return pid, name


def is_python_process(pid: int) -> bool | None:
    """True for a Python interpreter (or a program embedding libpython), False for anything else (a Go
    controller), None when the process cannot be inspected."""
    if looks_like_python(pid):
        return True
    try:
        return "libpython" in Path(f"/proc/{pid}/maps").read_text(errors="replace")
    except OSError:
        return None


def label_for_argv(argv: Sequence[str]) -> str:
    """A readable name for a command line: the script or ``-m`` module of a Python one, else the program."""
    if not argv:
        return "process"
    program = os.path.basename(argv[0])
    if re.match(r"^(python|pypy)[0-9.]*$", program):
        args = list(argv[1:])
        for i, arg in enumerate(args):
            if arg == "-m" and i + 1 < len(args):
                return args[i + 1].rsplit(".", 1)[-1]
            if arg == "-c":
                return program
            if not arg.startswith("-"):
                return os.path.basename(arg).removesuffix(".py")
    return program


def process_label(pid: int) -> str:
    """Default target name of ``--pid PID``: the process name (the script or module for Python)."""
    try:
        process = psutil.Process(pid)
        cmdline = process.cmdline()
        return label_for_argv(cmdline) if cmdline else process.name()
    except psutil.Error:
        return f"pid-{pid}"


@dataclass
class LocalTargets:
    """What the command line asked for, validated; ``build`` makes the collectors once a sink exists."""

    endpoints: list[EndpointSpec] = field(default_factory=list)
    pids: list[tuple[int, str | None]] = field(default_factory=list)
    log_files: list[tuple[Path, str | None]] = field(default_factory=list)

    @classmethod
    def parse(cls, endpoints: Sequence[str], pids: Sequence[str], log_files: Sequence[str]) -> LocalTargets:
        parsed = cls()
        parsed.endpoints = [parse_endpoint(e) for e in endpoints]
        parsed.pids = [parse_pid(p) for p in pids]
        for text in log_files:
            value, name = split_name(text)
            path = Path(value).expanduser()
            if path.is_dir():
                raise BadInput(f"--log-file {value}: is a directory")
            parsed.log_files.append((path, name))
        return parsed

    def factories(self) -> list[PlanFactory]:
        out: list[PlanFactory] = []
        for spec in self.endpoints:
            out.append(functools.partial(_endpoint_factory, spec))
        for pid, name in self.pids:
            out.append(functools.partial(_pid_factory, pid, name))
        for path, name in self.log_files:
            out.append(functools.partial(_logfile_factory, path, name))
        return out


def _endpoint_factory(spec: EndpointSpec, sink: Sink, options: CaptureOptions) -> TargetPlan:
    return endpoint_plan(sink, options, spec)


def _pid_factory(pid: int, name: str | None, sink: Sink, options: CaptureOptions) -> TargetPlan:
    return pid_plan(sink, options, pid, name)


def _logfile_factory(path: Path, name: str | None, sink: Sink, options: CaptureOptions) -> TargetPlan:
    return logfile_plan(sink, options, path, name)


def endpoint_plan(
    sink: Sink, options: CaptureOptions, spec: EndpointSpec, instance: str | None = None,
    fetcher_for: Callable[[str], Fetcher] = HttpFetcher,
) -> TargetPlan:
    name, inst = spec.default_name, instance or spec.instance
    collectors: list[Collector] = []
    if spec.pprof:
        collectors.append(PprofCollector(sink, name, inst, options, fetcher_for(spec.pprof), read_cmdline=True))
    if spec.metrics and options.scrape_metrics:  # else capture --prometheus reads them from Prometheus
        collectors.append(MetricsCollector(sink, name, inst, options, fetcher_for(spec.metrics), spec.metrics_path))
    target = Target(name, "endpoint", {"endpoints": [{"pprof": spec.pprof, "metrics": spec.metrics,
                                                      "metrics_path": spec.metrics_path, "instance": inst}]})
    return TargetPlan(target, collectors)


def pid_plan(
    sink: Sink, options: CaptureOptions, pid: int, name: str | None, *, kind: TargetKind = "pid",
    expect_exit: bool = False,
) -> TargetPlan:
    target_name = name or process_label(pid)
    instance = f"pid-{pid}"
    collectors: list[Collector] = [
        PySpyCollector(sink, target_name, instance, options, pid, expect_exit=expect_exit),
        UsageCollector(sink, target_name, instance, options, pid, expect_exit=expect_exit),
    ]
    spec: dict[str, object] = {"pids": [pid]}
    build = read_build_info(Path(f"/proc/{pid}/exe"))
    if build is not None:  # a Go program: its modules' versions say which release of a controller runs
        spec["go_build_info"] = build.as_dict()
    return TargetPlan(Target(target_name, kind, spec), collectors)


def logfile_plan(sink: Sink, options: CaptureOptions, path: Path, name: str | None,
                 instance: str | None = None) -> TargetPlan:
    target_name = name or path.stem or path.name
    collector = LogFileCollector(sink, target_name, instance or path.name, options, path)
    return TargetPlan(Target(target_name, "log-file", {"log_files": [str(path)]}), [collector])


def merge_plans(plans: Sequence[TargetPlan]) -> list[TargetPlan]:
    """Plans that share a target name become one target (e.g. a process, its endpoint and its log)."""
    merged: dict[str, TargetPlan] = {}
    for plan in plans:
        existing = merged.get(plan.target.name)
        if existing is None:
            merged[plan.target.name] = TargetPlan(Target(plan.target.name, plan.target.kind,
                                                         dict(plan.target.spec)), list(plan.collectors))
            continue
        existing.collectors.extend(plan.collectors)
        if plan.target.kind in ("command", "deployment"):
            existing.target.kind = plan.target.kind
        for key, value in plan.target.spec.items():
            previous = existing.target.spec.get(key)
            if isinstance(previous, list) and isinstance(value, list):
                previous.extend(value)
            elif previous is None:
                existing.target.spec[key] = value
    return list(merged.values())
