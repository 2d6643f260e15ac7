"""Benchmark: `profkit import prometheus` of 2 h x 10 pods at 5 s, next to the time Prometheus itself takes to answer
the same queries (the floor), on one real Prometheus loaded with the run (export openmetrics + promtool backfill).

    python benchmarks/gen_big_bundle.py --out /tmp/big      # 2 h, 10 pods, 5 s scrapes
    python benchmarks/bench_prometheus_import.py /tmp/big
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from profkit.bundle import open_bundle  # noqa: E402
from profkit.sources import prometheus as source  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_measured(argv: list[str]) -> tuple[float, float, float, int, str]:
    """(wall s, CPU s, peak RSS MiB, exit code, stderr) of a child process."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    stderr = proc.stderr.read() if proc.stderr else ""
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), stderr


def prometheus_floor(url: str, match: str, start: float, end: float, step: float) -> tuple[float, int, int]:
    """Seconds Prometheus takes to answer exactly the queries the import sends (bytes read, not decoded)."""
    client = source.PrometheusClient(url)
    series = client.series(match, start, end)
    reader = source.SeriesReader(client, "floor", match, start, step, len(series))
    pods = sorted({labels["pod"] for labels in series if labels.get("pod")})
    where = f'pod=~"{source.regex_alternatives(pods)}"'
    queries: list[tuple[str, list[tuple[str, str]]]] = [
        ("/api/v1/series", [("match[]", match), ("start", f"{start:.3f}"), ("end", f"{end:.3f}")])]
    for slice_start, slice_end in reader.slices(end):  # the slices import_run reads, not read here
        lower = slice_start if reader.read_until is None else reader.read_until
        window = f"[{max(1, math.ceil((slice_end - lower) * 1000) + 1)}ms]"
        for expr in [match] + ([f"{source.KSM_RESTARTS}{{{where}}}", f"kube_pod_info{{{where}}}"] if pods else []):
            queries.append(("/api/v1/query", [("query", expr + window), ("time", f"{slice_end:.3f}")]))
        reader.read_until = slice_end
    total, size = 0.0, 0
    for path, params in queries:
        request = urllib.request.Request(url + path, data=urllib.parse.urlencode(params).encode(), method="POST")
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            size += len(response.read())
        total += time.perf_counter() - began
    return total, len(queries), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--step", default="5s")
    args = parser.parse_args()
    view = open_bundle(args.bundle)
    (target,) = [t.name for t in view.targets()]
    start, end = view.time_range()
    work = Path(tempfile.mkdtemp(prefix="bench-prom-"))
    try:
        om = work / "run.om"
        wall, cpu, rss, code, err = run_measured([sys.executable, "-m", "profkit.cli.main", "export", "openmetrics",
                                                  str(args.bundle), "-o", str(om)])
        assert code == 0, err
        print(f"| `profkit export openmetrics` ({om.stat().st_size / 2**20:.0f} MiB) | {wall:.1f} | {cpu:.1f} | "
              f"{rss:.0f} |")
        tsdb = work / "tsdb"
        wall, cpu, rss, code, err = run_measured(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om),
                                                  str(tsdb)])
        assert code == 0, err
        print(f"| `promtool tsdb create-blocks-from openmetrics` | {wall:.1f} | {cpu:.1f} | {rss:.0f} |")
        config = work / "prometheus.yml"
        config.write_text("global: {scrape_interval: 1h}\nscrape_configs: []\n")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                                   f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=36500d"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 120
            while True:
                try:
                    with urllib.request.urlopen(url + "/-/ready", timeout=2):
                        break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.3)
            match = f'{{job="{target}"}}'
            step = float(args.step.rstrip("s"))
            floor, calls, size = prometheus_floor(url, match, start, end, step)
            out = work / "imported"
            wall, cpu, rss, code, err = run_measured([
                sys.executable, "-m", "profkit.cli.main", "import", "prometheus", url, "--selector", match,
                "--start", repr(start), "--end", repr(end), "--step", args.step, "--out", str(out)])
            assert code == 0, err
            imported = open_bundle(out)
            points = sum(len(s.points) for s in imported.series())
            print(f"| `profkit import prometheus` ({len(imported.series())} series, {points} points) | {wall:.1f} | "
                  f"{cpu:.1f} | {rss:.0f} |")
            print(f"| Prometheus answering the same {calls} queries ({size / 2**20:.0f} MiB JSON), HTTP only | "
                  f"{floor:.1f} | | |")
            print(f"\nimport / Prometheus floor: {wall / floor:.1f}x; import stderr: {err.strip().splitlines()[-1]}")
        finally:
            server.terminate()
            server.wait(30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
