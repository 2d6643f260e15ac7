"""Benchmark profkit's own CPU and RSS while `profkit capture` follows 3 Deployments × 2 replicas on the real control plane."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from profkit.units import parse_duration  # noqa: E402
from tests.e2e.controlplane.example import (  # noqa: E402
    WIDGET_RESOURCE, ExampleDeployment, deploy_example, stop_example, widget_manifest,
)
from tests.e2e.controlplane.harness import ControlPlane  # noqa: E402
from tests.e2e.test_capture_kubernetes import cli_env, profkit_cmd  # noqa: E402

STARTUP = 30.0  # seconds left out of the "steady" average
TARGET_CPU_PCT = 2.0
TARGET_RSS_MB = 200.0


@dataclass
class Sample:
    """One look at the profkit process tree."""

    t: float  # seconds since the capture started
    cpu: float  # CPU seconds (user + system) of profkit and its children so far
    rss_mb: float  # RSS of profkit plus live children, MiB
    threads: int
    children: int
    load1: float


@dataclass
class Result:
    """What the run measured."""

    command: list[str]
    duration: str
    wall_s: float
    exit_code: int
    cpu_s: float
    cpu_pct: float
    steady_cpu_pct: float
    peak_rss_mb: float
    final_rss_mb: float
    peak_threads: int
    peak_children: int
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    load1_mean: float
    bundle: dict[str, Any] = field(default_factory=dict)
    stderr_tail: str = ""


def tree_sample(proc: psutil.Process, started: float) -> Sample | None:
    """CPU seconds and RSS of ``proc`` and its live children (exited, waited-for children count in children_*)."""
    try:
        with proc.oneshot():
            times = proc.cpu_times()
            cpu = times.user + times.system + times.children_user + times.children_system
            rss = proc.memory_info().rss
            threads = proc.num_threads()
        kids = proc.children(recursive=True)
    except psutil.Error:
        return None
    for kid in kids:
        try:
            kt = kid.cpu_times()
            cpu += kt.user + kt.system
            rss += kid.memory_info().rss
            threads += kid.num_threads()
        except psutil.Error:
            pass
    return Sample(time.monotonic() - started, cpu, rss / 2**20, threads, len(kids), os.getloadavg()[0])


def run_measured(cmd: list[str], timeout: float, samples_out: list[Sample], pid_file: Path | None) -> tuple[int, str, float]:
    """Run the capture, sampling its process tree every second; returns exit code, stderr tail, wall seconds."""
    err_path = Path(f"/tmp/pk-bench-capture-stderr-{os.getpid()}.log")
    with err_path.open("w") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=cli_env())
        if pid_file:
            pid_file.write_text(f"{proc.pid}\n")
        watched = psutil.Process(proc.pid)
        deadline = started + timeout
        next_tick = started
        while proc.poll() is None and time.monotonic() < deadline:
            sample = tree_sample(watched, started)
            if sample is not None:
                samples_out.append(sample)
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))
        if proc.poll() is None:
            proc.terminate()
        code = proc.wait(timeout=60)
        wall = time.monotonic() - started
    # After wait(): the reaped process's totals are gone from psutil; the last sample before exit is what we have.
    tail = err_path.read_text()[-3000:]
    err_path.unlink(missing_ok=True)
    return code, tail, wall


def bundle_summary(out: Path) -> dict[str, Any]:
    """What the bundle holds: profiles by kind, series and points, log lines, objects, events by kind."""
    db = out / "profkit.db"
    if not db.is_file():
        return {"missing": str(db)}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        def q(sql: str) -> list[Any]:
            return con.execute(sql).fetchall()

        return {
            "profiles_by_kind": dict(q("SELECT kind, count(*) FROM profiles GROUP BY kind")),
            "cpu_profiles_by_instance": dict(q("SELECT instance, count(*) FROM profiles WHERE kind='cpu' GROUP BY instance")),
            "series": q("SELECT count(*) FROM series")[0][0],
            "points": q("SELECT count(*) FROM points")[0][0],
            "log_lines": q("SELECT count(*) FROM logs")[0][0],
            "log_lines_by_instance": dict(q("SELECT instance, count(*) FROM logs GROUP BY instance")),
            "objects_events": q("SELECT count(*) FROM objects")[0][0],
            "events_by_kind": dict(q("SELECT kind, count(*) FROM events GROUP BY kind")),
            "error_messages": [m for m, in q("SELECT DISTINCT message FROM events WHERE kind IN ('error', 'gap') LIMIT 10")],
            "bundle_mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20, 1),
        }


def collector_file(path: Path, dep: ExampleDeployment) -> Path:
    """A collector definition like the catalog's example entry, so Widgets are watched and logs parsed as zap JSON."""
    path.write_text(
        f"alias: {dep.name}\ndeployment: {dep.name}\nnamespace: {dep.namespace}\ncontainer: manager\n"
        "language: go\nlog_format: json\n"
        "endpoints:\n"
        "  - {name: metrics, port: metrics, scheme: http, auth: none, metrics: /metrics}\n"
        "  - {name: pprof, port: pprof, scheme: http, auth: none, pprof: /debug/pprof}\n"
        f"resources:\n  - {WIDGET_RESOURCE}\n"
    )
    return path


def churn(cp: ControlPlane, deps: list[ExampleDeployment], every: float, per_step: int, stop: threading.Event,
          counts: dict[str, int]) -> None:
    """Every ``every`` s, in each namespace: create ``per_step`` Widgets and delete the ``per_step`` oldest churned ones."""
    step = 0
    while not stop.wait(every):
        for dep in deps:
            names = [f"{dep.name}-churn-{step:04d}-{i}" for i in range(per_step)]
            try:
                cp.kubectl("apply", "-f", "-", input=widget_manifest(dep.namespace, names), timeout=30)
                counts["created"] += len(names)
                if step >= 2:
                    old = [f"{dep.name}-churn-{step - 2:04d}-{i}" for i in range(per_step)]
                    cp.kubectl("delete", WIDGET_RESOURCE, "-n", dep.namespace, "--wait=false", *old, timeout=30)
                    counts["deleted"] += len(old)
            except Exception as exc:  # noqa: BLE001
                counts["failed"] += 1
                print(f"churn: {exc}", file=sys.stderr)
        step += 1


def machine() -> dict[str, Any]:
    """nproc, CPU model and versions, for the results."""
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(), "psutil": psutil.__version__}


def summarize(cmd: list[str], duration: str, code: int, tail: str, wall: float, samples: list[Sample],
              load_start: tuple[float, float, float], out: Path) -> Result:
    last = samples[-1] if samples else Sample(0, 0, 0, 0, 0, 0)
    steady = [s for s in samples if s.t >= STARTUP]
    steady_pct = (100 * (steady[-1].cpu - steady[0].cpu) / (steady[-1].t - steady[0].t)
                  if len(steady) >= 2 and steady[-1].t > steady[0].t else float("nan"))
    return Result(
        command=cmd, duration=duration, wall_s=round(wall, 1), exit_code=code,
        cpu_s=round(last.cpu, 2), cpu_pct=round(100 * last.cpu / last.t, 3) if last.t else float("nan"),
        steady_cpu_pct=round(steady_pct, 3),
        peak_rss_mb=round(max((s.rss_mb for s in samples), default=0), 1), final_rss_mb=round(last.rss_mb, 1),
        peak_threads=max((s.threads for s in samples), default=0),
        peak_children=max((s.children for s in samples), default=0),
        load_start=load_start, load_end=os.getloadavg(),
        load1_mean=round(sum(s.load1 for s in samples) / len(samples), 2) if samples else float("nan"),
        bundle=bundle_summary(out), stderr_tail=tail,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--duration", default="10m", help="capture duration (default 10m; 1m for a smoke run)")
    p.add_argument("--dir", type=Path, default=Path("/tmp/pk-bench-capture"), help="control plane directory")
    p.add_argument("--out", type=Path, help="bundle directory (default: DIR/bundle)")
    p.add_argument("--deployments", type=int, default=3)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--objects", type=int, default=30, help="Widgets per Deployment")
    p.add_argument("--sync-period", default="30s", help="example controllers' --sync-period")
    p.add_argument("--profile-window", default="30s")
    p.add_argument("--scrape-interval", default="5s")
    p.add_argument("--churn-every", type=float, default=15.0,
                   help="seconds between Widget create/delete steps during the capture (0: no churn)")
    p.add_argument("--churn", type=int, default=2, help="Widgets created and deleted per namespace per step")
    p.add_argument("--json", type=Path, help="also write the result and every sample here")
    p.add_argument("--pid-file", type=Path, help="write profkit's pid here (for py-spy)")
    args = p.parse_args(argv)
    seconds = parse_duration(args.duration)
    out = args.out or args.dir / "bundle"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    cp = ControlPlane(args.dir)
    deps: list[ExampleDeployment] = []
    try:
        t0 = time.monotonic()
        cp.up()
        print(f"control plane up in {time.monotonic() - t0:.0f}s", file=sys.stderr)
        for i in range(args.deployments):
            letter = "abcdefghij"[i]
            t1 = time.monotonic()
            deps.append(deploy_example(cp, name=f"bench-{letter}", namespace=f"pk-bench-{letter}",
                                       replicas=args.replicas, objects=args.objects,
                                       controller_args=["--sync-period", args.sync_period], ready_timeout=90))
            print(f"deployed pk-bench-{letter}/bench-{letter} ({args.replicas} replicas, {args.objects} widgets) "
                  f"in {time.monotonic() - t1:.0f}s", file=sys.stderr)
        collectors = [collector_file(args.dir / f"{d.name}.collector.yaml", d) for d in deps]
        cmd = profkit_cmd("capture", *[a for d in deps for a in ("--deployment", f"{d.namespace}/{d.name}")],
                          *[a for c in collectors for a in ("--collector", str(c))],
                          "--kubeconfig", str(cp.kubeconfig), "--duration", args.duration,
                          "--profile-window", args.profile_window, "--scrape-interval", args.scrape_interval,
                          "--out", str(out))
        load_start = os.getloadavg()
        print(f"capturing {args.duration}: {' '.join(cmd)}", file=sys.stderr)
        samples: list[Sample] = []
        stop = threading.Event()
        churned = {"created": 0, "deleted": 0, "failed": 0}
        driver = threading.Thread(target=churn, args=(cp, deps, args.churn_every, args.churn, stop, churned), daemon=True)
        if args.churn_every > 0:
            driver.start()
        try:
            code, tail, wall = run_measured(cmd, seconds + 180, samples, args.pid_file)
        finally:
            stop.set()
            if driver.is_alive():
                driver.join(60)
        result = summarize(cmd, args.duration, code, tail, wall, samples, load_start, out)
    finally:
        for d in deps:
            try:
                stop_example(cp, d)
            except Exception as exc:  # noqa: BLE001
                print(f"stop {d.name}: {exc}", file=sys.stderr)
        cp.down()
    report = {"machine": machine(), "churn": churned, "result": asdict(result)}
    if args.json:
        args.json.write_text(json.dumps({**report, "samples": [asdict(s) for s in samples]}, indent=1))
    r = result
    print(json.dumps(report, indent=1, default=str))
    print(f"\nexit {r.exit_code}, wall {r.wall_s} s; profkit CPU {r.cpu_s} s = {r.cpu_pct} % of one core "
          f"(after the first {STARTUP:.0f} s: {r.steady_cpu_pct} %); peak RSS {r.peak_rss_mb} MiB "
          f"(end {r.final_rss_mb}); threads ≤ {r.peak_threads}; children ≤ {r.peak_children}; "
          f"load {r.load_start[0]:.2f} -> {r.load_end[0]:.2f} (mean 1-min {r.load1_mean})")
    met_cpu = r.steady_cpu_pct <= TARGET_CPU_PCT
    met_rss = r.peak_rss_mb <= TARGET_RSS_MB
    print(f"targets: CPU ≤ {TARGET_CPU_PCT} % of one core: {'met' if met_cpu else 'NOT met'}; "
          f"RSS ≤ {TARGET_RSS_MB:.0f} MB: {'met' if met_rss else 'NOT met'}")
    return 0 if r.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
