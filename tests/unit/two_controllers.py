"""A capture of two controllers, one with two pods, for the controller/pod picker: real Go CPU profiles per pod."""

from __future__ import annotations

from pathlib import Path

from profkit.bundle import BundleWriter
from profkit.model import Target

T0 = 1_764_000_000.0
FIXTURES = Path(__file__).parent.parent / "fixtures"
CORES = {("kcp", "kcp-0"): 0.2, ("kcp", "kcp-1"): 0.6, ("capi", "capi-0"): 0.1}  # each pod's CPU use
DEPTH = {("kcp", "kcp-0"): 3.0, ("kcp", "kcp-1"): 7.0, ("capi", "capi-0"): 1.0}
SECONDS = 120


def two_controllers(path: Path) -> Path:
    """kcp with pods kcp-0 (0.2 cores) and kcp-1 (0.6 cores), capi with capi-0 (0.1 cores), 2 minutes."""
    writer = BundleWriter(path)
    profiles = {"kcp-0": "go-cpu-healthy.pb.gz", "kcp-1": "go-cpu-keygen.pb.gz", "capi-0": "go-cpu-healthy.pb.gz"}
    for target in ("kcp", "capi"):
        writer.add_target(Target(target, "deployment", {"namespace": "capi-system", "cpu_limit": 1.0}))
    writer.set_meta(started=repr(T0))
    for (target, pod), cores in CORES.items():
        for step in range(0, SECONDS + 1, 5):
            writer.add_points(target, pod, T0 + step, [
                ("process_cpu_seconds_total", {}, cores * step),
                ("process_resident_memory_bytes", {}, 30e6 + 10e6 * cores),
                ("controller_runtime_reconcile_total", {"controller": target, "result": "success"}, cores * 10 * step),
                ("workqueue_depth", {"name": target}, DEPTH[(target, pod)]),
            ])
        for window in range(2):
            writer.add_profile(target, pod, "cpu", "pprof", (FIXTURES / profiles[pod]).read_bytes(),
                               T0 + 10 + 50 * window, 10.0)
    writer.close()
    return path
