"""Scenario bundles shared by several test modules: one pathology each (saturation, errors, requeue storm, slow, throttling, goroutine leak)."""

from __future__ import annotations

import json
from pathlib import Path

from controller_bundles import HEALTHY_DURATION, OLD_THROTTLE, T0, Bundle, ControllerLoad, const, healthy, ramp, zap

ERR = 'failed to reach workload cluster: Get "https://10.0.{i}.1:6443/api?timeout=10s": dial tcp 10.0.{i}.1:6443: connect: connection refused'


def saturated(path: Path, workers: int = 1, alias: str = "kcp") -> Bundle:
    b = Bundle(path, spec={"alias": alias, "args": [f"--kubeadmcontrolplane-concurrency={workers}"]})
    # 1 worker, 0.5 s per reconcile: 2 reconciles/s done while the queue grows 0 -> 400
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", workers=workers, active=const(workers),
                             results={"success": const(2.0 * workers)}, reconcile_seconds=0.5,
                             queue_seconds=8.0, depth=ramp(0, 400, HEALTHY_DURATION)), HEALTHY_DURATION)
    return b


def failing(path: Path, error_rate: float, panics: float = 0.0) -> Bundle:
    b = Bundle(path)
    b.metrics(ControllerLoad(results={"success": const(1.0 - error_rate), "error": const(error_rate)}),
              HEALTHY_DURATION)
    if panics:
        b.writer.add_points("ctl", "pod-0", T0, [("controller_runtime_reconcile_panics_total", {"controller": "widget"}, 0)])
        b.writer.add_points("ctl", "pod-0", T0 + 600,
                            [("controller_runtime_reconcile_panics_total", {"controller": "widget"}, panics)])
    b.logs([(t, zap(T0 + t, "Reconciler error", key=f"default/w-{t % 7}", level="error", error=ERR.format(i=t % 7)))
            for t in range(10, 1200, 20)])
    return b


def bmo_line(t: float, key: str) -> str:
    """The Bare Metal Operator's line for a host that is gone (issue 1190), zap JSON."""
    ns, name = key.split("/")
    return json.dumps({"level": "info", "ts": T0 + t, "logger": "controllers.HostFirmwareSettings",
                       "msg": "could not get baremetalhost, not running reconciler",
                       "hostfirmwaresettings": {"name": name, "namespace": ns}})


def storm_bundle(path: Path, hosts: int = 20, watcher: bool = True) -> Bundle:
    b = Bundle(path, spec={"alias": "bmo"})
    b.metrics(ControllerLoad(controller="hostfirmwaresettings",
                             results={"success": const(0.05), "requeue_after": const(hosts / 30)},
                             retries_per_s=const(0.02)), HEALTHY_DURATION)
    keys = [f"metal3/host-{i}" for i in range(hosts)]
    if watcher:
        b.objects([(0.0, k, "added") for k in keys], resource="baremetalhosts.metal3.io")
        b.objects([(300.0 + i, k, "deleted") for i, k in enumerate(keys)], resource="baremetalhosts.metal3.io")
    lines = [(t, bmo_line(t, k)) for i, k in enumerate(keys) for t in range(300 + i, 1200, 30)]
    b.logs(sorted(lines))
    return b


def slow(path: Path, seconds: float) -> Bundle:
    b = Bundle(path)
    b.metrics(ControllerLoad(results={"success": const(0.5)}, reconcile_seconds=seconds, workers=20), HEALTHY_DURATION)
    return b


def throttling(path: Path) -> Bundle:
    b = Bundle(path, spec={"alias": "kcp", "args": ["--kube-api-qps=5", "--kube-api-burst=10"]})
    b.metrics(ControllerLoad(controller="kubeadmcontrolplane", calls_per_reconcile=5,
                             results={"success": lambda t: 1.0}), HEALTHY_DURATION)
    b.logs([(60.0 + 30 * i, OLD_THROTTLE.format(s=i % 60, d=f"{1 + i % 3}.{i % 10}s", i=i)) for i in range(30)])
    return b


def goroutine_leak(path: Path) -> Bundle:
    b = healthy(path)
    b.metrics(ControllerLoad(goroutines=ramp(150, 3000, HEALTHY_DURATION)), HEALTHY_DURATION, instance="pod-1")
    return b
