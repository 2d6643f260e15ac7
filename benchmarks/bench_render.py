"""Time report generation for the 2-hour, 10-pod bundle and SVG flame graph rendering for a 100 000-node profile."""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from profkit.model import Frame, Profile  # noqa: E402

BUNDLE = REPO / "benchmarks" / "data" / "big-bundle"


def hundred_thousand_node_profile(seed: int = 5) -> Profile:
    """Random walks over a 4000-function call graph: deep stacks with shared prefixes (>= 100 000 tree nodes)."""
    rng = random.Random(seed)
    names = [f"k8s.io/pkg{i % 40}.Function{i}" for i in range(4000)]
    calls = [[rng.randrange(len(names)) for _ in range(3)] for _ in names]
    stacks: dict[tuple[str, ...], float] = {}
    while len(stacks) < 30_000:
        function, stack = 0, ["main"]
        for _ in range(rng.randrange(5, 40)):
            function = calls[function][rng.randrange(3)]
            stack.append(names[function])
        stacks[tuple(stack)] = stacks.get(tuple(stack), 0) + rng.randrange(1, 100)
    index: dict[str, int] = {}
    frames: list[Frame] = []
    out_stacks = []
    for names_ in stacks:
        for name in names_:
            if name not in index:
                index[name] = len(frames)
                frames.append(Frame(name))
        out_stacks.append(tuple(index[n] for n in names_))
    return Profile(frames, out_stacks, list(stacks.values()))


def best_of(runs: int, action: object) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from profkit.analyze import run_analyzers
    from profkit.bundle import open_bundle
    from profkit.render.flamegraph_svg import build_tree, render_flamegraph_svg
    from profkit.render.report_html import write_report
    from profkit.render.report_model import build_report

    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{__import__('os').cpu_count()} cpus")
    if args.bundle.is_dir():
        out = Path("/tmp/profkit-bench-report.html")
        best: tuple[float, float, float, float] | None = None
        for _ in range(args.runs):  # as `profkit report` does it: one view shared by analyzers and panels
            view = open_bundle(args.bundle)
            wall, cpu = time.perf_counter(), time.process_time()
            findings = run_analyzers(view)
            mid_wall, mid_cpu = time.perf_counter(), time.process_time()
            write_report(build_report(view, findings), out)
            run = (mid_wall - wall, time.perf_counter() - mid_wall, mid_cpu - cpu, time.process_time() - mid_cpu)
            best = run if best is None or sum(run[:2]) < sum(best[:2]) else best
        assert best is not None
        print(f"report: analyze {best[0]:.2f} s + render {best[1]:.2f} s = {best[0] + best[1]:.2f} s wall "
              f"(CPU {best[2]:.2f} + {best[3]:.2f} s), {out.stat().st_size / 2**20:.2f} MiB, {len(findings)} findings")
    profile = hundred_thousand_node_profile()
    nodes = build_tree(profile, 0.0).frame.size
    default = best_of(args.runs, lambda: render_flamegraph_svg(profile))
    drawn = build_tree(profile, 0.001).frame.size
    everything = best_of(args.runs, lambda: render_flamegraph_svg(profile, min_fraction=0.0))
    print(f"svg: {nodes} nodes; default (frames < 0.1 % left out, {drawn} drawn) {default:.2f} s; "
          f"every node drawn {everything:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
