"""The capture session: every collector in its own thread, one bundle, clean stop on deadline or signal."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Callable, Literal, Protocol, Sequence
from urllib.parse import urlsplit

from profkit.bundle.writer import BundleWriter
from profkit.errors import BadInput
from profkit.sources.base import CaptureOptions, Collector, Sink, Stats, TargetPlan
from profkit.sources.command import LaunchedCommand, check_command
from profkit.sources.http import host_port
from profkit.sources.plan import LocalTargets, PlanFactory, merge_plans
from profkit.sources.prometheus_capture import PrometheusSource, add_prometheus_collectors
from profkit.units import format_duration

STOP_GRACE = 8.0  # seconds collectors get to finish an in-flight window after the deadline
SIGNAL_GRACE = 3.0  # ... after Ctrl-C / SIGTERM
TICK = 0.25

CaptureStatus = Literal["complete", "interrupted"]


@dataclass
class CaptureRequest:
    """Everything one capture needs, already validated (the CLI and ``profkit demo`` both build one)."""

    out: Path
    options: CaptureOptions
    local: LocalTargets = field(default_factory=LocalTargets)
    deployments: list[PlanFactory] = field(default_factory=list)  # one per --deployment (built by profkit.kube)
    command: list[str] = field(default_factory=list)
    command_name: str | None = None  # target name of the command (default: from its argv)
    command_env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)  # the profkit command line, kept in the bundle meta
    echo_command_output: bool = True
    prometheus: PrometheusSource | None = None  # capture --prometheus: metrics from there, no scraping

    def check(self) -> None:
        if not (self.local.endpoints or self.local.pids or self.local.log_files or self.deployments or self.command):
            raise BadInput("nothing to capture: give --endpoint, --pid, --log-file, --deployment or -- CMD")
        if self.command:
            check_command(self.command)
        if self.options.profile_window < 1:
            raise BadInput("--profile-window must be at least 1s")
        if self.options.scrape_interval < 0.1:
            raise BadInput("--scrape-interval must be at least 100ms")
        if self.options.duration is not None and self.options.duration <= 0:
            raise BadInput("--duration must be positive")
        if not self.command:  # a launched command may start the endpoint or create the log file itself
            check_reachable(self.local, metrics=self.prometheus is None)
        if self.prometheus is not None:
            self.prometheus.check()


CONNECT_TIMEOUT = 3.0


def check_reachable(local: LocalTargets, metrics: bool = True) -> None:
    """BadInput (exit 2) before the capture starts when an --endpoint has nothing listening or a
    --log-file does not exist, instead of a whole capture of connection errors. ``metrics=False``:
    metrics URLs are not fetched (capture --prometheus), so not checked."""
    seen: set[str] = set()
    for spec in local.endpoints:
        for url in (spec.pprof, spec.metrics if metrics else None):
            if url is None or host_port(url) in seen:
                continue
            seen.add(host_port(url))
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname or "localhost", port), timeout=CONNECT_TIMEOUT).close()
            except ConnectionRefusedError:
                raise BadInput(f"--endpoint {url}: nothing is listening at {host_port(url)} "
                               "(connection refused)") from None
            except (socket.timeout, TimeoutError):
                raise BadInput(f"--endpoint {url}: no answer from {host_port(url)} within "
                               f"{CONNECT_TIMEOUT:g}s") from None
            except OSError as exc:
                raise BadInput(f"--endpoint {url}: cannot connect to {host_port(url)} "
                               f"({exc.strerror or exc})") from None
    for path, _ in local.log_files:
        if not path.exists():
            raise BadInput(f"--log-file {path}: no such file")


@dataclass
class TargetSummary:
    name: str
    kind: str
    stats: Stats
    collectors: list[str]
    errors: list[str]


@dataclass(frozen=True)
class SourceProblem:
    """A target, or one kind of data of a target, that gave nothing; or a collector that crashed."""

    target: str
    kind: str  # "target" (nothing at all), a collector kind (pprof, metrics, logs...), or "stopped"
    message: str

    def to_json(self) -> dict[str, str]:
        return {"target": self.target, "kind": self.kind, "message": self.message}


# Collector kinds whose counters say whether they captured anything (object and pod watchers keep none).
COUNTED_KINDS = ("pprof", "metrics", "py-spy", "usage", "logs")


def _captured(stats: Stats) -> bool:
    return bool(stats.profiles or stats.scrapes or stats.points or stats.log_lines)


def source_problems(plans: Sequence[TargetPlan], stopped: dict[int, str]) -> list[SourceProblem]:
    """What the capture got nothing from: targets with no data at all, kinds of data of a target that
    only ever failed (every collector of that kind, so a pod replaced during a rollout does not count),
    and collectors that stopped on an exception (``stopped``: id(collector) -> its error)."""
    problems: list[SourceProblem] = []
    for plan in plans:
        name, collectors = plan.target.name, plan.collectors
        if not any(_captured(c.stats) for c in collectors):
            last = next((c.stats.last_error for c in reversed(collectors) if c.stats.last_error), "")
            problems.append(SourceProblem(name, "target", f"no data from target {name}"
                                          + (f" (last error: {last})" if last else "")))
        else:
            for kind in COUNTED_KINDS:
                of_kind = [c for c in collectors if c.kind == kind]
                if of_kind and not any(_captured(c.stats) for c in of_kind) and any(c.stats.errors for c in of_kind):
                    failing = next(c for c in of_kind if c.stats.errors)
                    problems.append(SourceProblem(name, kind, f"no {kind} data from target {name}: "
                                                  f"{failing.describe()}: {failing.stats.last_error}"))
        problems += [SourceProblem(name, "stopped", f"{c.describe()} stopped during the capture: {stopped[id(c)]}")
                     for c in collectors if id(c) in stopped]
    return problems


@dataclass
class CaptureResult:
    directory: Path
    status: CaptureStatus
    elapsed: float
    targets: list[TargetSummary]
    command_exit_code: int | None = None
    stop_reason: str = ""
    problems: list[SourceProblem] = field(default_factory=list)
    command_ended_itself: bool = False  # the launched command exited before profkit stopped it

    @property
    def command_failure(self) -> int | None:
        """The command's exit status as a shell reports it (128+N for signal N) when it failed on its own."""
        code = self.command_exit_code
        if not self.command_ended_itself or not code:
            return None
        return 128 - code if code < 0 else code

    @property
    def targets_with_errors(self) -> list[str]:
        return [t.name for t in self.targets if t.stats.errors]


def _total(stats: Sequence[Stats]) -> Stats:
    out = Stats()
    for s in stats:
        out.profiles += s.profiles
        out.scrapes += s.scrapes
        out.points += s.points
        out.points_skipped += s.points_skipped
        out.log_lines += s.log_lines
        out.errors += s.errors
        out.last_error = s.last_error or out.last_error
        out.notes += s.notes
    return out


class ProgressView(Protocol):
    """Shows a running capture (the CLI passes a live terminal table; None shows nothing)."""

    def start(self, summaries: Sequence[TargetSummary], elapsed: float, duration: float | None) -> None: ...

    def update(self, summaries: Sequence[TargetSummary], elapsed: float, duration: float | None) -> None: ...

    def stop(self) -> None: ...


class CaptureSession:
    """Runs collectors until the deadline, a signal, or the launched command's exit."""

    def __init__(self, writer: BundleWriter, options: CaptureOptions, *, command: LaunchedCommand | None = None,
                 progress: ProgressView | None = None, sink: Sink | None = None) -> None:
        self.writer = writer
        self.sink = sink or Sink(writer)  # run_capture passes the one its plans were built with
        self.options = options
        self.command = command
        self.progress = progress
        self.stop_event = threading.Event()
        self.signalled: int | None = None
        self.stop_reason = ""
        self.command_ended_itself = False
        self.targets: dict[str, TargetPlan] = {}
        self._threads: list[tuple[Collector, threading.Thread]] = []
        self._lock = threading.Lock()
        self._started = 0.0
        self._stopped: dict[int, str] = {}  # id(collector) -> the exception that ended it

    # -- collectors -----------------------------------------------------------
    def add_plan(self, plan: TargetPlan) -> None:
        self.targets[plan.target.name] = plan
        self.sink.add_target(plan.target)
        for collector in plan.collectors:
            self.spawn(collector)

    def spawn(self, collector: Collector) -> None:
        """Start a collector now (also used by collectors that discover pods while running)."""
        collector.spawn = self.spawn
        plan = self.targets.get(collector.target)
        if plan is not None and collector not in plan.collectors:
            plan.collectors.append(collector)
        thread = threading.Thread(target=self._run_collector, args=(collector,), daemon=True,
                                  name=f"{collector.kind}:{collector.target}/{collector.instance}")
        with self._lock:
            self._threads.append((collector, thread))
        if self._started:
            thread.start()

    def _run_collector(self, collector: Collector) -> None:
        try:
            collector.run(self.stop_event)
        except Exception as exc:  # a collector bug must not take the capture down
            self._stopped[id(collector)] = f"{type(exc).__name__}: {exc}"
            collector.error(f"{collector.describe()} stopped: {type(exc).__name__}: {exc}")
        finally:
            collector.finished = True

    # -- signals --------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signalled is not None:
            self.stop_reason = "signal (twice): not waiting for collectors"
        self.signalled = signum
        self.stop_event.set()

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    # -- the run --------------------------------------------------------------
    def run(self) -> CaptureResult:
        restore = self._install_signals()
        self._started = time.time()
        self.options.started = self._started
        if self.options.duration is not None:
            self.options.deadline = self._started + self.options.duration
        self.sink.set_meta(
            capture_started=repr(self._started),
            options=json.dumps({"profile_window": self.options.profile_window,
                                "scrape_interval": self.options.scrape_interval,
                                "duration": self.options.duration, "pyspy_rate": self.options.pyspy_rate}),
        )
        with self._lock:
            pending = [t for _, t in self._threads]
        for thread in pending:
            thread.start()
        if self.progress is not None:
            self.progress.start(self.summaries(), 0.0, self.options.duration)
        try:
            self._wait()
        finally:
            if self.progress is not None:
                self.progress.stop()
            code = self._shutdown()
            restore()
        status: CaptureStatus = "interrupted" if self.signalled is not None else "complete"
        problems = source_problems(list(self.targets.values()), self._stopped)
        # analyze's no-data finding reads this (collector counters are not otherwise in the bundle).
        self.writer.set_meta(capture_problems=json.dumps([p.to_json() for p in problems]))
        self.writer.close(status)
        return CaptureResult(self.writer.directory, status, time.time() - self._started, self.summaries(),
                             code, self.stop_reason, problems, self.command_ended_itself)

    def _wait(self) -> None:
        last_draw = 0.0
        while not self.stop_event.is_set():
            now = time.time()
            if self.options.deadline is not None and now >= self.options.deadline:
                self.stop_reason = "duration reached"
                break
            if self.command is not None and self.command.exit_code() is not None:
                self.stop_reason = f"command exited with code {self.command.exit_code()}"
                self.command_ended_itself = True
                break
            with self._lock:
                threads = list(self._threads)
            if threads and all(c.finished for c, _ in threads):
                self.stop_reason = "every collector finished"
                break
            if self.progress is not None and now - last_draw >= 1.0:
                self.progress.update(self.summaries(), now - self._started, self.options.duration)
                last_draw = now
            self.stop_event.wait(TICK)
        if self.signalled is not None:
            self.stop_reason = self.stop_reason or f"signal {signal.Signals(self.signalled).name}"
        self.stop_event.set()

    def _shutdown(self) -> int | None:
        code: int | None = None
        hurry = self.stop_reason.startswith("signal (twice)")
        grace = 0.0 if hurry else (SIGNAL_GRACE if self.signalled is not None else STOP_GRACE)
        # Collectors finish first (the last CPU window, py-spy's flush, a final scrape), while the
        # launched command still runs; then the command stops and its output pipes drain.
        self._join(time.time() + grace, skip_command_streams=True)
        if self.command is not None:
            # Ctrl-C is forwarded as such (a scale script may clean up); a duration end asks politely.
            code = self.command.stop(signal.SIGINT if self.signalled == signal.SIGINT else signal.SIGTERM)
            self._join(time.time() + (0.0 if hurry else 2.0))
        self.sink.seal()
        if code is not None:
            self.writer.set_meta(command_exit_code=str(code))
        return code

    def _join(self, hard_until: float, skip_command_streams: bool = False) -> None:
        """Wait for collectors finishing real work (a CPU window ending now, a py-spy flush), at most
        until ``hard_until``; requests that merely hang (a dead endpoint) are not waited for."""
        soft_until = time.time() + 1.5
        while time.time() < hard_until:
            with self._lock:
                alive = [c for c, t in self._threads
                         if t.is_alive() and not (skip_command_streams and c.ends_with_command)]
            if not alive:
                return
            expected = [c.expected_done for c in alive if c.expected_done is not None]
            if time.time() >= max([soft_until, *expected]):
                return
            time.sleep(0.05)

    # -- progress and summary ----------------------------------------------------
    def summaries(self) -> list[TargetSummary]:
        out: list[TargetSummary] = []
        for name, plan in self.targets.items():
            stats = _total([c.stats for c in plan.collectors])
            errors = [f"{c.describe()}: {c.stats.last_error}" for c in plan.collectors if c.stats.errors]
            out.append(TargetSummary(name, plan.target.kind, stats, [c.describe() for c in plan.collectors], errors))
        return out


def print_summary(result: CaptureResult, out: IO[str] | None = None) -> None:
    """The end-of-capture summary on stderr: per target counts, and which targets had errors."""
    stream = out or sys.stderr
    print(f"profkit: capture {result.status} after {format_duration(result.elapsed)}"
          + (f" ({result.stop_reason})" if result.stop_reason else "") + f"; bundle: {result.directory}", file=stream)
    for t in result.targets:
        s = t.stats
        skipped = f", {s.points_skipped} NaN skipped" if s.points_skipped else ""
        line = (f"  {t.name}: {s.profiles} profiles, {s.scrapes} scrapes ({s.points} points{skipped}), "
                f"{s.log_lines} log lines, {s.errors} errors")
        print(line, file=stream)
        for note in t.stats.notes:
            print(f"    {note}", file=stream)
        for error in t.errors[:3]:
            print(f"    error: {error[:200]}", file=stream)
    if result.command_exit_code is not None:
        code = result.command_exit_code
        how = ""
        if code < 0:
            try:
                how = f" (ended by {signal.Signals(-code).name})"
            except ValueError:
                how = " (ended by a signal)"
        print(f"  command exit code: {code}{how}", file=stream)
    if result.targets_with_errors:
        print(f"profkit: targets with errors: {', '.join(result.targets_with_errors)} "
              "(details in the bundle's capture events)", file=stream)
    for problem in result.problems:
        print(f"profkit: {problem.message[:300]}", file=stream)


def run_capture(request: CaptureRequest, *, progress: ProgressView | None = None,
                on_started: Callable[[CaptureSession], None] | None = None) -> CaptureResult:
    """Validate, create the bundle, launch the command if any, and capture until the end."""
    request.check()
    writer = BundleWriter(request.out, command=request.argv)
    command: LaunchedCommand | None = None
    try:
        options = request.options
        sink = Sink(writer)
        plans: list[TargetPlan] = []
        if request.command:
            command = LaunchedCommand.start(request.command, request.command_name, request.command_env)
            echo = sys.stderr if request.echo_command_output else None
            plans.append(command.plan(sink, options, echo))
            writer.set_meta(target_command=json.dumps(request.command), target_command_pid=str(command.pid))
        plans += [factory(sink, options) for factory in request.local.factories()]
        plans += [factory(sink, options) for factory in request.deployments]
        if command is not None:
            # An endpoint or log file named like the command is that process: one instance for all of it.
            for plan in plans:
                if plan.target.name == command.name:
                    for collector in plan.collectors:
                        collector.instance = command.instance
        session = CaptureSession(writer, options, command=command, progress=progress, sink=sink)
        merged = merge_plans(plans)
        if request.prometheus is not None:
            add_prometheus_collectors(merged, sink, options, request.prometheus,
                                      {command.name: command.instance} if command is not None else None)
            writer.set_meta(metrics_source="prometheus", prometheus_url=request.prometheus.client.url)
        for plan in merged:
            session.add_plan(plan)
        if on_started is not None:
            on_started(session)
        return session.run()
    except BaseException:
        if command is not None:
            command.stop(grace=2.0)
        try:
            writer.close("failed")
        except Exception:
            pass
        raise
