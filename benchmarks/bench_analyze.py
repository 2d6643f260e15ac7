"""Benchmark the log pass (1 M zap JSON lines) against jq and json.loads, and `profkit analyze` on 1 M lines + 2 h of metrics."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

DATA = REPO / "benchmarks" / "data"
FIXTURE = REPO / "tests" / "fixtures" / "controller-log.jsonl"
T0 = 1_764_000_000.0  # gen_big_bundle's capture start
TARGET = "capi-controller-manager"
POD = "capi-controller-manager-5d8f7c9b4-00x"
# Share of each kind of line (the rest: "Reconciling"); "could not get" lines are about deleted objects.
MIX = (("successful", 0.32), ("gone", 0.13), ("error", 0.09), ("waited", 0.10))


# -- the log file -------------------------------------------------------------
def _templates() -> dict[str, str]:
    """%-format templates made from the real example-controller lines of the fixture (zap's compact JSON)."""
    first: dict[str, str] = {}
    for line in FIXTURE.read_text().splitlines():
        first.setdefault(json.loads(line)["msg"], line)
    picks = {"ready": "widget is ready", "gone": "could not get widget, not running reconciler",
             "error": "Reconciler error", "waited": "Waited before sending request"}
    out: dict[str, str] = {}
    for kind, msg in picks.items():
        line = first[msg]
        data = json.loads(line)
        assert json.dumps(data, separators=(",", ":")) == line, "fixture line is not compact zap JSON"
        old_ns, old_name = data["namespace"], data["name"]
        data.update(ts="\0ts\0", namespace="\0ns\0", name="\0name\0", reconcileID="\0rid\0")
        data["Widget"] = {"name": "\0name\0", "namespace": "\0ns\0"}
        if "widget" in data:
            data["widget"] = "\0ns\0/\0name\0"
        if "delay" in data:
            data["delay"] = "\0delay\0"
        if "URL" in data:
            data["URL"] = data["URL"].replace(f"namespaces/{old_ns}/widgets/{old_name}", "namespaces/\0ns\0/widgets/\0name\0")
        text = json.dumps(data, separators=(",", ":")).replace("%", "%%")
        for field in ("ts", "ns", "name", "rid"):
            text = text.replace(f"\\u0000{field}\\u0000", f"%({field})s")
        out[kind] = text.replace('"\\u0000delay\\u0000"', "%(delay)s")
    ready = json.loads(first["widget is ready"])
    out["successful"] = out.pop("ready").replace('"msg":"widget is ready"', '"msg":"Reconcile successful"')
    reconciling = out["successful"].replace('"msg":"Reconcile successful"', '"msg":"Reconciling"')
    out["reconciling"] = reconciling.replace(f',"generation":{ready["generation"]},"size":{ready["size"]}', "")
    return out


def object_lives(bundle: Path) -> list[tuple[str, str, float, float | None]]:
    """(namespace, name, created, deleted) of the objects the bundle's object watcher saw."""
    from profkit.bundle.reader import BundleView

    lives: dict[tuple[str, str], list[float | None]] = {}
    for e in BundleView(bundle).objects():
        life = lives.setdefault((e.namespace, e.name), [None, None])
        if e.event == "added":
            life[0] = e.ts
        elif e.event == "deleted":
            life[1] = e.ts
    return [(ns, name, c if c is not None else T0, d) for (ns, name), (c, d) in sorted(lives.items())]


def write_log(path: Path, lines: int, lives: list[tuple[str, str, float, float | None]], hours: float = 2.0,
              seed: int = 11) -> int:
    """A zap JSON log over ``hours`` from T0: reconciles of live objects, requeues of deleted ones."""
    rng = random.Random(seed)
    tpl = _templates()
    duration = hours * 3600
    deletions = sorted((d, i) for i, (_, _, _, d) in enumerate(lives) if d is not None)
    gone: list[int] = []
    next_deletion = 0
    stamps = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + s)) for s in range(int(duration) + 1)]
    thresholds: list[tuple[float, str]] = []
    acc = 0.0
    for kind, share in MIX:
        acc += share
        thresholds.append((acc, kind))
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(path, "w", buffering=1 << 20) as out:
        chunk: list[str] = []
        for n in range(lines):
            t = T0 + duration * n / lines
            while next_deletion < len(deletions) and deletions[next_deletion][0] <= t:
                gone.append(deletions[next_deletion][1])
                next_deletion += 1
            r = rng.random()
            kind = next((k for limit, k in thresholds if r < limit), "reconciling")
            if kind == "gone" and gone:
                i = rng.choice(gone)
            else:
                kind = "reconciling" if kind == "gone" else kind
                for _ in range(8):  # a live object, if one is found quickly
                    i = rng.randrange(len(lives))
                    created, deleted = lives[i][2], lives[i][3]
                    if created <= t and (deleted is None or t < deleted):
                        break
            ns, name = lives[i][0], lives[i][1]
            bits = f"{rng.getrandbits(128):032x}"
            rid = f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-a{bits[17:20]}-{bits[20:]}"
            chunk.append(tpl[kind] % {"ts": stamps[int(t - T0)], "ns": ns, "name": name, "rid": rid,
                                      "delay": f"{1 + rng.random():.9f}"})
            if len(chunk) == 10_000:
                text = "\n".join(chunk) + "\n"
                size += out.write(text)
                chunk = []
        if chunk:
            size += out.write("\n".join(chunk) + "\n")
    return size


# -- phases, each run in a child process (clean CPU and peak RSS) --------------
def phase_naive(path: Path) -> dict[str, Any]:
    """The naive baseline: json.loads every line, count by name."""
    counts: Counter[str] = Counter()
    with open(path, "rb") as f:
        for line in f:
            counts[json.loads(line).get("name", "")] += 1
    return {"keys": len(counts), "top": counts.most_common(1)}


class _StopAtEnd(threading.Event):
    """A stop signal that is not set while the file opens and fires at the first end of file."""

    def wait(self, timeout: float | None = None) -> bool:
        return True


def phase_ingest(path: Path, out: Path) -> dict[str, Any]:
    """The capture-time parse: LogFileCollector (parse_line + BundleWriter.add_logs in batches) over the file."""
    from profkit.bundle import BundleWriter
    from profkit.sources.base import CaptureOptions, Sink
    from profkit.sources.logfile import LogFileCollector

    writer = BundleWriter(out)
    collector = LogFileCollector(Sink(writer), TARGET, POD, CaptureOptions(started=time.time()), path)
    collector.run(_StopAtEnd())
    writer.close()
    return {"lines": collector.stats.log_lines}


def phase_count(bundle: Path, how: str) -> dict[str, Any]:
    """The analysis-time per-object count: SQL aggregation (what analyzers use) or decoding every record."""
    from profkit.bundle.reader import BundleView

    view = BundleView(bundle)
    if how == "sql":
        counts = dict(view.log_counts_by_object())
    else:
        counts = Counter(r.object_key for r in view.logs())
    return {"keys": len(counts), "top": max(counts.items(), key=lambda kv: kv[1])}


def phase_analyzers(bundle: Path) -> dict[str, Any]:
    """Each analyzer's wall time on one view (where `profkit analyze` spends its time)."""
    from profkit.analyze import AnalyzeOptions, load_analyzers
    from profkit.bundle.reader import open_bundle

    view = open_bundle(bundle)
    seconds: dict[str, float] = {}
    for finding_id, run in sorted(load_analyzers().items()):
        start = time.perf_counter()
        run(view, AnalyzeOptions())
        seconds[finding_id] = round(time.perf_counter() - start, 2)
    return {"analyzers": seconds}


PHASES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "analyzers": lambda a: phase_analyzers(a.bundle),
    "naive": lambda a: phase_naive(a.file),
    "ingest": lambda a: phase_ingest(a.file, a.bundle),
    "count-sql": lambda a: phase_count(a.bundle, "sql"),
    "count-records": lambda a: phase_count(a.bundle, "records"),
}


def run_phase(args: argparse.Namespace) -> int:
    wall, cpu = time.perf_counter(), time.process_time()
    result = PHASES[args.phase](args)
    result.update(inner_wall=time.perf_counter() - wall, inner_cpu=time.process_time() - cpu)
    print(json.dumps(result))
    return 0


def measure(cmd: list[str], stdout: Path | None = None, shell: bool = False) -> dict[str, Any]:
    """Wall, CPU (user + sys of the command and the children it waited for) and peak RSS of one command.

    Through GNU time (``/usr/bin/time``) when present: a child forked from this (larger) process
    would otherwise report this process's RSS as its own peak.
    """
    argv = ["bash", "-c", cmd[0]] if shell else cmd
    gnu_time = Path("/usr/bin/time")
    report = DATA / "analyze" / ".time"
    if gnu_time.exists():
        argv = [str(gnu_time), "-f", "%e %U %S %M", "-o", str(report)] + argv
    sink = open(stdout, "wb") if stdout is not None else subprocess.PIPE
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=sink)
    output = proc.stdout.read() if proc.stdout is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout is not None and not isinstance(sink, int):
        sink.close()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd}: exit {proc.returncode}")
    result: dict[str, Any] = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}
    if gnu_time.exists():
        elapsed, user, system, rss_kb = report.read_text().split()[-4:]
        result.update(wall=float(elapsed), cpu=float(user) + float(system), rss_mb=int(rss_kb) / 1024)
    if output:
        result.update(json.loads(output))
    return result


def child(phase: str, **paths: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase]
    for key, value in paths.items():
        cmd += [f"--{key}", str(value)]
    return measure(cmd)


def ensure_jq() -> str:
    found = shutil.which("jq")
    if found:
        return found
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "jq"], check=True)
    return shutil.which("jq") or "jq"


def machine() -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"nproc": str(os.cpu_count()), "cpu": model, "load": open("/proc/loadavg").read().split()[:3].__str__(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "jq": subprocess.run([ensure_jq(), "--version"], capture_output=True, text=True).stdout.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--metrics", type=Path, default=DATA / "analyze-metrics",
                        help="metrics-only bundle from gen_big_bundle.py --no-logs (made when missing)")
    parser.add_argument("--work", type=Path, default=DATA / "analyze")
    parser.add_argument("--keep-log", action="store_true", help="reuse the log file if it has --lines lines")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bundle", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return run_phase(args)

    info = machine()
    print(f"machine: nproc {info['nproc']}, {info['cpu']}, load {info['load']}, Python {info['python']}, "
          f"SQLite {info['sqlite']}, {info['jq']}", flush=True)
    if not (args.metrics / "profkit.db").exists():
        from gen_big_bundle import generate

        print(f"generating {args.metrics} (2 h x 10 pods of metrics, profiles, objects; no logs)...", flush=True)
        generate(args.metrics, logs=False)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    log = work / "controller.jsonl"
    if not (args.keep_log and log.exists()):
        start = time.perf_counter()
        size = write_log(log, args.lines, object_lives(args.metrics))
        print(f"wrote {log}: {args.lines} lines, {size / 1e6:.0f} MB in {time.perf_counter() - start:.1f} s", flush=True)
    size = log.stat().st_size
    mix = Counter(json.loads(line)["msg"] for line in open(log, "rb"))
    print("mix: " + ", ".join(f"{m} {n}" for m, n in mix.most_common()), flush=True)

    rows: list[tuple[str, str, dict[str, Any]]] = []
    jq = ensure_jq()
    counts_out = work / "jq-counts.txt"
    jq_cmd = f"{jq} -r .name {log} | sort | uniq -c > {counts_out}"
    rows.append(("jq per-object count", f"`{jq_cmd.replace(str(REPO) + '/', '')}`", measure([jq_cmd], shell=True)))
    rows.append(("naive Python json.loads loop, count by name", "`--phase naive`", child("naive", file=log)))
    logs_bundle = work / "logs-bundle"
    shutil.rmtree(logs_bundle, ignore_errors=True)
    rows.append(("profkit ingest (capture-time): LogFileCollector -> parse_line -> add_logs", "`--phase ingest`",
                 child("ingest", file=log, bundle=logs_bundle)))
    rows.append(("profkit per-object count from the bundle (analysis-time, SQL)", "`--phase count-sql`",
                 child("count-sql", bundle=logs_bundle)))
    rows.append(("profkit per-object count decoding every record (BundleView.logs())", "`--phase count-records`",
                 child("count-records", bundle=logs_bundle)))

    jq_counts = {name: int(n) for n, name in (line.split() for line in counts_out.read_text().splitlines())}
    from profkit.bundle.reader import BundleView

    ours = {key.rsplit("/", 1)[-1]: n for key, n in BundleView(logs_bundle).log_counts_by_object()}
    same = "the same counts" if ours == jq_counts else "DIFFERENT counts"
    print(f"jq: {len(jq_counts)} names; profkit: {len(ours)} keys; {same} per object", flush=True)

    # The analyze bundle: the metrics bundle plus the ingested lines (copied table to table).
    combined = work / "bundle"
    shutil.rmtree(combined, ignore_errors=True)
    shutil.copytree(args.metrics, combined)
    with sqlite3.connect(combined / "profkit.db") as db:
        db.execute("ATTACH DATABASE ? AS l", (str(logs_bundle / "profkit.db"),))
        db.execute("INSERT INTO logs (target, instance, ts, level, logger, controller, object_key, message, fields, raw) "
                   "SELECT target, instance, ts, level, logger, controller, object_key, message, fields, raw FROM l.logs")
    with sqlite3.connect(combined / "profkit.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_size = (combined / "profkit.db").stat().st_size
    findings_out = work / "findings.json"
    analyze = measure(["profkit", "analyze", str(combined), "--json"], stdout=findings_out)
    rows.append(("`profkit analyze BUNDLE --json` (1 M lines + 2 h x 10 pods metrics + profiles), cold process",
                 f"`profkit analyze {combined.relative_to(REPO)} --json`", analyze))
    findings = json.loads(findings_out.read_text())["findings"]
    per_analyzer = child("analyzers", bundle=combined)["analyzers"]

    print(f"\nlog file {size / 1e6:.0f} MB; bundle db {db_size / 1e6:.0f} MB; findings: "
          + ", ".join(f"{f['id']}/{f['severity']}" for f in findings))
    print("load after: " + str(open("/proc/loadavg").read().split()[:3]))
    print("\n| what | command | wall (s) | CPU (s) | peak RSS (MB) | × jq wall | × jq CPU |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = rows[0][2]
    for what, cmd, r in rows:
        print(f"| {what} | {cmd} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss_mb']:.0f} | "
              f"{r['wall'] / base['wall']:.2f} | {r['cpu'] / base['cpu']:.2f} |")
    for what, _, r in rows:
        if "inner_wall" in r:
            print(f"  {what}: in process {r['inner_wall']:.2f} s wall, {r['inner_cpu']:.2f} s CPU")
    print("per analyzer (s, one warm process): " + ", ".join(f"{k} {v}" for k, v in per_analyzer.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
