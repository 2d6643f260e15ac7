"""e2e: a real Prometheus discovers the example controller's pods through kubernetes_sd_configs on the control plane;
``profkit import prometheus`` of a run gives a direct capture's findings and per-replica counts, and
``capture --prometheus`` of the same run fetches only profiles from the pods and keeps every replica apart.

One run of the Go example with the "errors" pathology (2 replicas, 30 Widgets) is scraped every 2 s by upstream
Prometheus 2.42 (Debian's has no Kubernetes service discovery; build.py builds the release from its Go module),
which finds the pods by listing them from the harness' API server and reaches their ``metrics`` port the way the
harness' pod network maps it (its egress map). Each pod port sits behind a request log, so what the pods were
asked, and by whom, is seen from the pod's side. Over the same window two captures run at once: a direct one,
which scrapes each replica's /metrics itself (straight to the process, not through the pod's network, so the
request logs see only Prometheus and ``capture --prometheus``; and without CPU profiles, since a Go process
serves one CPU profile at a time and the other capture profiles the pods), and ``capture --deployment
--prometheus``. Then ``import prometheus`` reads the direct capture's window back from Prometheus.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from profkit.analyze import AnalyzeOptions, run_analyzers
from profkit.bundle import open_bundle
from profkit.bundle.reader import BundleView
from profkit.model import Finding
from tests.e2e.controlplane import build as buildmod
from tests.e2e.controlplane.example import METRICS_PORT, PPROF_PORT, ExampleDeployment, deploy_example, stop_example
from tests.e2e.controlplane.harness import ControlPlane
from tests.e2e.test_analyzer_scenarios import SCENARIOS
from tests.integration.capture_helpers import RequestLog, profkit, profkit_popen
from tests.integration.prometheus_server import PrometheusServer, kubernetes_pod_scrape_config, start_prometheus

pytestmark = pytest.mark.e2e
NAME = "prom-widgets"  # in no catalog: profkit takes the endpoints from the pod spec's container ports
NAMESPACE = "pk-prometheus"
ARGS, OBJECTS, _, EXPECTED = SCENARIOS["errors"]
INTERVAL = 2.0  # Prometheus' scrape interval and both captures' --scrape-interval
DURATION = "45s"
RECONCILES = "controller_runtime_reconcile_total"
SLACK = 0.25  # seconds between a scrape's timestamp (its start) and the moment the process wrote its answer


@dataclass
class Run:
    """What the module's one run left: the deployment, the pods' request logs, Prometheus and three bundles."""

    cp: ControlPlane
    dep: ExampleDeployment
    logs: dict[tuple[str, int], RequestLog]  # (pod, container port) -> what reached that port of the pod
    prometheus: PrometheusServer
    direct: Path
    via_prometheus: Path
    imported: Path
    window: tuple[float, float]


def _wait_for_targets(server: PrometheusServer, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = server.api("/api/v1/targets?state=active")["activeTargets"]
        if len(active) >= count and all(t["health"] == "up" for t in active):
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus has not scraped {count} pods: {server.log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def run(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    binary = buildmod.build_prometheus()  # cached after the first build (scripts/test.sh builds it up front)
    tmp = tmp_path_factory.mktemp("prom-e2e")
    cp = control_plane
    dep = deploy_example(cp, name=NAME, namespace=NAMESPACE, replicas=2, objects=OBJECTS, controller_args=ARGS,
                         ready_timeout=60)
    logs: dict[tuple[str, int], RequestLog] = {}
    server: PrometheusServer | None = None
    try:
        for r in dep.replicas:  # the pod's ports now lead through a request log to the process
            logs[(r.pod, METRICS_PORT)] = RequestLog(f"http://127.0.0.1:{r.metrics_port}")
            logs[(r.pod, PPROF_PORT)] = RequestLog(f"http://127.0.0.1:{r.pprof_port}")
            cp.map_pod(NAMESPACE, r.pod, {port: logs[(r.pod, port)].port for port in (METRICS_PORT, PPROF_PORT)},
                       log_file=r.log_file, pod_ip=r.pod_ip)
        pod_ips = {r.pod_ip for r in dep.replicas}
        network = {k: v for k, v in cp.egress_map().items() if k.rpartition(":")[0] in pod_ips}
        scrape = kubernetes_pod_scrape_config(NAME, cp.server, cp.pki.ca_crt, cp.pki.admin_crt, cp.pki.admin_key,
                                              NAMESPACE, "metrics", network)
        server = start_prometheus(tmp, [scrape], interval=f"{INTERVAL:g}s", binary=str(binary))
        _wait_for_targets(server, len(dep.replicas))
        server.wait_for_samples(f'{RECONCILES}{{namespace="{NAMESPACE}"}}', 2)
        direct, via, imported = tmp / "direct", tmp / "via-prometheus", tmp / "imported"
        own = [a for r in dep.replicas for a in (
            "--endpoint", f"metrics=http://127.0.0.1:{r.metrics_port},name={NAME}", "--log-file", f"{r.log_file},name={NAME}")]
        captures = [
            profkit_popen("capture", *own, "--duration", DURATION, "--scrape-interval", f"{INTERVAL:g}s",
                          "--out", str(direct)),
            profkit_popen("capture", "--deployment", NAME, "-n", NAMESPACE, "--kubeconfig", str(cp.kubeconfig),
                          "--prometheus", server.url, "--duration", DURATION, "--profile-window", "15s",
                          "--scrape-interval", f"{INTERVAL:g}s", "--out", str(via)),
        ]
        for proc in captures:
            _, stderr = proc.communicate(timeout=180)
            assert proc.returncode == 0, stderr[-3000:]
        window = open_bundle(direct).time_range()
        result = profkit("import", "prometheus", server.url, "--deployment", NAME, "-n", NAMESPACE,
                         "--start", f"{window[0]:.3f}", "--end", f"{window[1]:.3f}", "--out", str(imported),
                         timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        yield Run(cp, dep, logs, server, direct, via, imported, window)
    finally:
        if server is not None:
            server.stop()
        stop_example(cp, dep)
        cp.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        for log in logs.values():
            log.close()


def flagged(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.id, f.severity, f.target) for f in findings if f.severity in ("warning", "critical")}


def reconciles(view: BundleView, instance: str, start: float, end: float) -> tuple[float, float]:
    """(increase of controller_runtime_reconcile_total over [start, end], the largest increase between two
    consecutive samples) for one instance, summed over its controller/result series."""
    total = step = 0.0
    for s in view.series(RECONCILES):
        if s.instance != instance:
            continue
        inside = dataclasses.replace(s, points=[(t, v) for t, v in s.points if start <= t <= end])
        total += inside.increase()
        step = max([step, *(dataclasses.replace(inside, points=list(pair)).increase()
                            for pair in zip(inside.points, inside.points[1:]))])
    return total, step


def bracket_violations(view: BundleView, instance: str, direct: BundleView, own: str) -> tuple[int, list[str]]:
    """Every controller_runtime_reconcile_total sample of ``instance`` against the direct capture's samples of
    the same series (``own``): a counter read at t lies between what the direct capture read before and after t.
    (samples compared, violations)."""
    mine = {s.label_text(): s.points for s in direct.series(RECONCILES) if s.instance == own}
    compared, bad = 0, []
    for s in view.series(RECONCILES):
        if s.instance != instance:
            continue
        points = mine.get(s.label_text(), [])
        for t, value in s.points:
            before = [v for ts, v in points if ts <= t - SLACK]
            after = [v for ts, v in points if ts >= t + SLACK]
            if before and after:
                compared += 1
                if not before[-1] <= value <= after[0]:
                    bad.append(f"{s.label_text()} at {t:.3f}: {before[-1]:g} <= {value:g} <= {after[0]:g} fails")
    return compared, bad


def test_prometheus_discovers_exactly_the_replica_pods_through_the_api_server(run: Run) -> None:
    targets = run.prometheus.api("/api/v1/targets?state=any")
    active = targets["activeTargets"]
    by_pod = {t["labels"]["pod"]: t for t in active}
    assert sorted(by_pod) == sorted(r.pod for r in run.dep.replicas) and len(active) == len(run.dep.replicas), active
    for r in run.dep.replicas:
        t = by_pod[r.pod]
        found = t["discoveredLabels"]  # what the API server said about the pod, before relabelling
        assert found["__meta_kubernetes_pod_name"] == r.pod and found["__meta_kubernetes_pod_ip"] == r.pod_ip, found
        assert found["__meta_kubernetes_pod_container_port_number"] == str(METRICS_PORT), found
        local = run.cp.egress_map()[f"{r.pod_ip}:{METRICS_PORT}"]  # where the harness' pod network leads
        assert t["health"] == "up" and t["scrapeUrl"] == f"http://{local}/metrics", t
        assert t["labels"] == {"namespace": NAMESPACE, "pod": r.pod, "container": "manager", "endpoint": "metrics",
                               "job": f"{NAMESPACE}/{NAME}", "instance": f"{r.pod_ip}:{METRICS_PORT}"}, t["labels"]
    # the pprof port was discovered too, and dropped: only the port named metrics is scraped
    dropped = {(d["discoveredLabels"]["__meta_kubernetes_pod_name"],
                d["discoveredLabels"]["__meta_kubernetes_pod_container_port_number"]) for d in targets["droppedTargets"]}
    assert dropped == {(r.pod, str(PPROF_PORT)) for r in run.dep.replicas}, dropped


def test_import_of_the_window_gives_the_findings_of_the_direct_capture(run: Run) -> None:
    options = AnalyzeOptions()
    direct = run_analyzers(open_bundle(run.direct), options)
    imported = run_analyzers(open_bundle(run.imported), options)
    via = run_analyzers(open_bundle(run.via_prometheus), options)
    print(f"\nfindings at warning and above: direct {sorted(flagged(direct))}; imported {sorted(flagged(imported))}; "
          f"capture --prometheus {sorted(flagged(via))}")
    assert {i for i, _, _ in flagged(direct)} >= EXPECTED, [(f.id, f.severity, f.title) for f in direct]
    assert flagged(imported) == flagged(direct), ([(f.id, f.severity, f.title) for f in imported],
                                                  [(f.id, f.severity, f.title) for f in direct])
    assert not [f for f in [*direct, *imported] if f.id == "analyzer-error"]


def test_reconcile_counts_per_replica_agree_and_every_replica_stays_apart(run: Run) -> None:
    start, end = run.window  # the direct capture's, which the import was asked for
    views = {"direct": open_bundle(run.direct), "imported": open_bundle(run.imported),
             "capture --prometheus": open_bundle(run.via_prometheus)}
    pods = sorted(r.pod for r in run.dep.replicas)
    for label in ("imported", "capture --prometheus"):  # one instance per pod, named after it, with its own series
        with_series = sorted({s.instance for s in views[label].series(RECONCILES)})
        assert with_series == pods, (label, with_series)
    labels = {i["instance"]: i["info"].get("labels", {}) for i in views["imported"].instances()}
    assert all(labels[p].get("pod") == p and labels[p].get("namespace") == NAMESPACE for p in pods), labels
    # no replica's samples under another's name: each process' start time is its own, read back exactly
    started = {label: {s.instance: s.values[-1] for s in views[label].series("process_start_time_seconds")}
               for label in views}
    own_start = {r.pod: started["direct"][f"127.0.0.1:{r.metrics_port}"] for r in run.dep.replicas}
    assert len(set(own_start.values())) == len(pods), own_start
    assert started["imported"] == own_start and started["capture --prometheus"] == own_start, started
    rows = []
    for r in run.dep.replicas:  # each replica's counters are that replica's: between the direct reads around them
        for label in ("imported", "capture --prometheus"):
            compared, bad = bracket_violations(views[label], r.pod, views["direct"], f"127.0.0.1:{r.metrics_port}")
            assert compared >= 20 and not bad, (label, r.pod, compared, bad[:5])
            rows.append(f"{r.pod} {label}: {compared} samples between the direct capture's reads around them")
    for r in run.dep.replicas:
        for label in ("imported", "capture --prometheus"):  # over the window both bundles span
            own_range = views[label].time_range()
            common = (max(start, own_range[0]), min(end, own_range[1]))
            mine, step = reconciles(views["direct"], f"127.0.0.1:{r.metrics_port}", *common)
            assert mine > 0, r.pod
            theirs, their_step = reconciles(views[label], r.pod, *common)
            # each side's samples cover the window but for at most one scrape interval at either end: the two
            # increases differ by at most what one interval at each end adds
            tolerance = 2 * max(step, their_step)
            rows.append(f"{r.pod} direct {mine:.0f} {label} {theirs:.0f} (tolerance {tolerance:.0f})")
            assert abs(theirs - mine) <= tolerance, rows
    print("\n" + "\n".join(rows))


def test_capture_prometheus_fetched_only_profiles_from_the_pods(run: Run) -> None:
    for r in run.dep.replicas:
        metrics_port = run.logs[(r.pod, METRICS_PORT)].requests
        pprof_port = run.logs[(r.pod, PPROF_PORT)].requests
        scrapes = [p for p, agent in metrics_port if agent.startswith("Prometheus/")]
        others = [(p, agent) for p, agent in metrics_port if not agent.startswith("Prometheus/")]
        assert scrapes and set(scrapes) == {"/metrics"}, metrics_port[:20]  # the log sees the pod's scrapes
        assert others == [], others  # nothing but Prometheus asked the metrics port anything
        assert pprof_port and all(p.startswith("/debug/pprof/") for p, _ in pprof_port), pprof_port
        assert "/debug/pprof/profile" in {p for p, _ in pprof_port}, pprof_port
        print(f"\n{r.pod}: metrics port {len(scrapes)} Prometheus scrapes, 0 other requests; pprof port "
              f"{json.dumps(sorted({p for p, _ in pprof_port}))} ({len(pprof_port)} requests)")
    view = open_bundle(run.via_prometheus)
    assert view.meta["metrics_source"] == "prometheus"
    assert {ref.instance for ref in view.profile_refs(kind="cpu")} == {r.pod for r in run.dep.replicas}

