"""profkit import prometheus streams a long window: peak memory does not grow with the window's length, the
bundle is the same however the window is sliced, kube-state-metrics' series give the pods' nodes and
restarts, and cAdvisor's are kept per container of the pod. The data is a backfilled real Prometheus
(promtool tsdb create-blocks-from openmetrics)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from profkit.bundle import open_bundle
from profkit.sources import prometheus as source
from tests.integration.capture_helpers import cli_env
from tests.integration.prometheus_server import PROMETHEUS, PrometheusServer, start_prometheus

pytestmark = pytest.mark.skipif(PROMETHEUS is None or shutil.which("promtool") is None,
                                reason="prometheus/promtool not installed (scripts/test.sh installs them)")
PODS = [f"kcp-controller-manager-7d9f8b6c4-{suffix}" for suffix in ("abcde", "fghij", "klmno", "pqrst")]
NAMESPACE = "capi-kubeadm-control-plane-system"
INTERVAL = 10  # seconds between the backfilled scrapes
HOURS = 2
RESTART_AT = 1800  # seconds into the data: the first pod's container restarts


def _openmetrics(t0: int, t1: int) -> str:
    """Controller metrics of four pods and kube-state-metrics' series about them, every INTERVAL seconds."""
    stamps = range(t0, t1 + 1, INTERVAL)
    lines: list[str] = []

    def family(name: str, kind: str, series: list[tuple[str, dict[str, str], Any]]) -> None:
        lines.append(f"# TYPE {name} {kind}")
        for sample, labels, value in series:
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.extend(f"{sample}{{{text}}} {value(i, t):g} {t}" for i, t in enumerate(stamps))

    def pod(p: str) -> dict[str, str]:
        return {"namespace": NAMESPACE, "pod": p, "job": "kcp", "container": "manager",
                "instance": f"10.0.0.{PODS.index(p) + 1}:8443"}

    family("controller_runtime_reconcile", "counter", [
        ("controller_runtime_reconcile_total", {**pod(p), "controller": "kubeadmcontrolplane", "result": r},
         lambda i, t, k=k: i * (3 + k)) for k, p in enumerate(PODS) for r in ("success", "error", "requeue")])
    family("workqueue_depth", "gauge", [("workqueue_depth", {**pod(p), "name": "kubeadmcontrolplane"},
                                         lambda i, t: (i * 7) % 13) for p in PODS])
    family("go_goroutines", "gauge", [("go_goroutines", pod(p), lambda i, t: 100 + i % 17) for p in PODS])
    family("process_cpu_seconds", "counter", [("process_cpu_seconds_total", pod(p), lambda i, t: i * 0.4)
                                              for p in PODS])
    buckets = [(f"controller_runtime_reconcile_time_seconds_bucket", {**pod(p), "controller": "kcp", "le": le},
                lambda i, t, f=f: i * f) for p in PODS for le, f in (("0.1", 1), ("0.5", 2), ("1.0", 3), ("+Inf", 3))]
    family("controller_runtime_reconcile_time_seconds", "histogram", buckets + [
        (f"controller_runtime_reconcile_time_seconds_{part}", {**pod(p), "controller": "kcp"},
         lambda i, t, f=f: i * f) for p in PODS for part, f in (("sum", 0.7), ("count", 3))])
    kubelet = {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "namespace": NAMESPACE}
    family("container_cpu_usage_seconds", "counter", [
        ("container_cpu_usage_seconds_total", {**kubelet, "pod": p, "container": c, "instance": f"node-{k}:10250"},
         lambda i, t: i * 0.5) for k, p in enumerate(PODS) for c in ("manager", "kube-rbac-proxy", "POD", "")])
    ksm = {"job": "kube-state-metrics", "instance": "10.0.9.9:8080", "namespace": NAMESPACE}
    family("kube_pod_info", "gauge", [("kube_pod_info", {**ksm, "pod": p, "node": f"node-{k}"}, lambda i, t: 1)
                                      for k, p in enumerate(PODS)])
    family("kube_pod_container_status_restarts", "counter", [
        ("kube_pod_container_status_restarts_total", {**ksm, "pod": p, "container": "manager"},
         lambda i, t, k=k: 1 if k == 0 and t >= t0 + RESTART_AT else 0) for k, p in enumerate(PODS)])
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, int, int]]:
    tmp = tmp_path_factory.mktemp("backfill")
    t1 = int(time.time()) // 3600 * 3600 - 3600
    t0 = t1 - HOURS * 3600
    (tmp / "data.om").write_text(_openmetrics(t0, t1))
    made = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(tmp / "data.om"),
                           str(tmp / "tsdb")], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    server = start_prometheus(tmp, [])
    try:
        yield server, t0, t1
    finally:
        server.stop()


SELECTOR = f'{{namespace="{NAMESPACE}",pod=~"kcp\\\\-controller\\\\-manager-[a-z0-9]+-[a-z0-9]+"}}'
PEAK = """
import sys, tracemalloc
from pathlib import Path
from profkit.sources import prometheus as source
url, out, start, end, per_slice = sys.argv[1:]
source.POINTS_PER_SLICE = int(per_slice)
client = source.PrometheusClient(url)
tracemalloc.start()
done = source.import_run(client, "kcp", source.selector("kcp-controller-manager", "{ns}", None), float(start),
                         float(end), Path(out), [])
print(tracemalloc.get_traced_memory()[1], done.points)
""".replace("{ns}", NAMESPACE)


def _peak(server: PrometheusServer, out: Path, start: float, end: float, per_slice: int) -> tuple[int, int]:
    result = subprocess.run([sys.executable, "-c", PEAK, server.url, str(out), repr(start), repr(end),
                             str(per_slice)], capture_output=True, text=True, timeout=600, env=cli_env())
    assert result.returncode == 0, result.stderr
    peak, points = result.stdout.split()
    return int(peak), int(points)


def test_peak_memory_does_not_grow_with_the_window(backfilled: tuple[PrometheusServer, int, int],
                                                   tmp_path: Path) -> None:
    server, t0, t1 = backfilled
    short, long = (t1 - 1800, t1), (t0, t1)  # half an hour, two hours
    streamed = [_peak(server, tmp_path / f"s{i}", a, b, 5_000) for i, (a, b) in enumerate((short, long))]
    whole = [_peak(server, tmp_path / f"w{i}", a, b, 10**9) for i, (a, b) in enumerate((short, long))]
    assert streamed[1][1] == whole[1][1] > 3.5 * streamed[0][1]  # four times the points read either way
    # One slice for the whole window grows with it (the measurement can tell); slices of 5 000 samples do not.
    assert whole[1][0] > 2.5 * whole[0][0], whole
    assert streamed[1][0] < 1.5 * streamed[0][0], streamed
    assert streamed[1][0] < whole[1][0] / 3, (streamed, whole)


def _content(directory: Path) -> dict[str, Any]:
    view = open_bundle(directory)
    return {
        "series": sorted((s.instance, s.name, json.dumps(s.labels, sort_keys=True), s.points) for s in view.series()),
        "instances": sorted(json.dumps(i, sort_keys=True) for i in view.instances()),
        "events": [(e.ts, e.kind, e.message, e.instance) for e in view.events()],
        "targets": [(t.name, t.kind, t.spec) for t in view.targets()],
    }


def test_slicing_changes_nothing_and_kube_state_and_cadvisor_series_are_about_the_pods(
        backfilled: tuple[PrometheusServer, int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server, t0, t1 = backfilled
    client = source.PrometheusClient(server.url)
    match = source.selector("kcp-controller-manager", NAMESPACE, None)
    assert match == SELECTOR
    start, end = t0 + 600.0, t0 + 2 * 3600.0
    calls: list[str] = []
    original = client.get
    monkeypatch.setattr(client, "get", lambda path, params: calls.append(path) or original(path, params))
    monkeypatch.setattr(source, "POINTS_PER_SLICE", 10**9)  # the whole window at once, as before streaming
    one = source.import_run(client, "kcp", match, start, end, tmp_path / "one", ["x"])
    single = calls.count("/api/v1/query")
    monkeypatch.setattr(source, "POINTS_PER_SLICE", 1_000)
    many = source.import_run(client, "kcp", match, start, end, tmp_path / "many", ["x"])
    # the series, restarts and kube_pod_info read once, then in 20+ slices
    assert single == 3 and calls.count("/api/v1/query") - single >= 3 * 20
    assert one == many and one.instances == len(PODS) and one.points == (end - start) / INTERVAL * one.series + one.series
    a, b = _content(tmp_path / "one"), _content(tmp_path / "many")
    assert a == b
    view = open_bundle(tmp_path / "one")
    info = {i["instance"]: i["info"] for i in view.instances()}
    assert sorted(info) == PODS  # kube-state-metrics' series are about the pods, not another scrape target in them
    assert [info[p]["node"] for p in PODS] == [f"node-{k}" for k in range(len(PODS))]
    assert info[PODS[0]]["restarts"] == {"manager": 1.0} and info[PODS[1]]["restarts"] == {"manager": 0.0}
    restarts = view.events("restart")
    assert [(e.instance, math.isclose(e.ts, t0 + RESTART_AT, abs_tol=INTERVAL)) for e in restarts] == [(PODS[0], True)]
    assert not any(s.name.startswith("kube_") for s in view.series())
    cadvisor = view.series("container_cpu_usage_seconds_total", instance=PODS[0])  # per container, no pause or total
    assert sorted(s.labels["container"] for s in cadvisor) == ["kube-rbac-proxy", "manager"]
