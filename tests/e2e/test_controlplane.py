"""End-to-end: the real control plane, the Go example controller behind kwok pods, reached via the API server."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.controlplane.example import (
    GO_EXAMPLE,
    WIDGET_RESOURCE,
    ExampleDeployment,
    deploy_example,
    stop_example,
)
from tests.e2e.controlplane.harness import ControlPlane
from tests.e2e.controlplane.procs import pid_alive, port_open

pytestmark = pytest.mark.e2e

NS = "e2e-plain"


# ---- helpers ------------------------------------------------------------------
def pprof_strings(data: bytes) -> list[str]:
    """The string table (field 6) of a gzipped pprof profile, read with a tiny protobuf walker."""
    raw = gzip.decompress(data)
    out: list[str] = []
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            b = raw[i]
            i += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    while i < len(raw):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            varint()
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n = varint()
            if field == 6:
                out.append(raw[i:i + n].decode("utf-8", "replace"))
            i += n
        else:
            raise ValueError(f"bad wire type {wire} at {i}")
    return out


def proxy_get(cp: ControlPlane, ns: str, pod: str, port: int, path: str, timeout: float = 60) -> bytes:
    """GET through the API server's pod proxy (kubectl get --raw), bytes as served."""
    url = f"/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path.lstrip('/')}"
    proc = subprocess.run([cp.binary("kubectl"), "--kubeconfig", str(cp.kubeconfig), "get", "--raw", url],
                          capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def requeue_after_total(metrics: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("controller_runtime_reconcile_total{") and 'result="requeue_after"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def live_widgets(cp: ControlPlane, ns: str, names: list[str]) -> list[str]:
    out = cp.kubectl("get", WIDGET_RESOURCE, "-n", ns, "-o", "json").stdout
    present = {w["metadata"]["name"] for w in json.loads(out)["items"]}
    return [n for n in names if n in present]


@pytest.fixture(scope="module")
def go_example_ready(control_plane: ControlPlane) -> None:
    if not (GO_EXAMPLE / "go.mod").is_file() or not (GO_EXAMPLE / "config" / "crd.yaml").is_file():
        pytest.fail(f"the Go example controller is missing under {GO_EXAMPLE}")


@pytest.fixture(scope="module")
def plain(control_plane: ControlPlane, go_example_ready: None) -> Iterator[ExampleDeployment]:
    dep = deploy_example(control_plane, name="plain", namespace=NS, replicas=2, objects=10,
                         controller_args=["--sync-period", "10s"])
    yield dep
    stop_example(control_plane, dep)


# ---- control plane ---------------------------------------------------------------
def test_nodes_ready(control_plane: ControlPlane) -> None:
    out = control_plane.kubectl("get", "nodes", "--no-headers").stdout
    rows = [r.split() for r in out.splitlines() if r.strip()]
    assert len(rows) == 2, out
    assert all(r[1] == "Ready" for r in rows), out
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1."), version
    assert version["clientVersion"]["gitVersion"] == version["serverVersion"]["gitVersion"]


def test_cached_startup_is_fast(control_plane: ControlPlane) -> None:
    took = control_plane.startup_seconds
    assert 0 < took < 60, f"cached control plane start-up took {took:.1f}s"


# ---- the Go example behind kwok pods ----------------------------------------------
def test_deployment_running(control_plane: ControlPlane, plain: ExampleDeployment) -> None:
    status = json.loads(control_plane.kubectl("get", "deployment", "plain", "-n", NS, "-o", "json").stdout)
    assert status["status"].get("readyReplicas") == 2, status["status"]
    phases = control_plane.kubectl("get", "pods", "-n", NS, "-l", "app=plain",
                                   "-o", "jsonpath={.items[*].status.phase}").stdout.split()
    assert phases == ["Running", "Running"]


def test_port_forward_pprof(control_plane: ControlPlane, plain: ExampleDeployment) -> None:
    pod = plain.replicas[0].pod
    pf = subprocess.Popen(
        [control_plane.binary("kubectl"), "--kubeconfig", str(control_plane.kubeconfig), "port-forward",
         "--address", "127.0.0.1", "-n", NS, f"pod/{pod}", ":6060"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert pf.stdout is not None
        line = pf.stdout.readline()
        m = re.search(r"127\.0\.0\.1:(\d+) -> 6060", line)
        assert m, line + (pf.stderr.read() if pf.poll() is not None and pf.stderr else "")
        url = f"http://127.0.0.1:{m.group(1)}/debug/pprof/profile?seconds=2"
        with urllib.request.urlopen(url, timeout=30) as r:
            data = r.read()
        assert data[:2] == b"\x1f\x8b"
        strings = pprof_strings(data)
        assert "samples" in strings and "cpu" in strings and "nanoseconds" in strings
        with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/debug/pprof/heap", timeout=30) as r:
            assert "inuse_space" in pprof_strings(r.read())
    finally:
        pf.terminate()
        pf.wait(timeout=10)


def test_pod_proxy_metrics(control_plane: ControlPlane, plain: ExampleDeployment) -> None:
    for r in plain.replicas:
        text = proxy_get(control_plane, NS, r.pod, 8080, "/metrics").decode()
        assert "controller_runtime_reconcile_total" in text
        assert "workqueue_depth" in text


def test_pod_logs_json(control_plane: ControlPlane, plain: ExampleDeployment) -> None:
    pod = plain.replicas[0].pod
    out = control_plane.kubectl("logs", "-n", NS, pod, "--tail=50").stdout
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert records, out[:2000]
    assert all(isinstance(r, dict) for r in records)
    # follow: a streaming reader sees lines too
    proc = subprocess.Popen(
        [control_plane.binary("kubectl"), "--kubeconfig", str(control_plane.kubeconfig), "logs", "-f",
         "--timestamps", "-n", NS, pod], stdout=subprocess.PIPE, text=True)
    got: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            got.append(line)
            if len(got) >= 3:
                return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout=30)
    proc.terminate()
    proc.wait(timeout=10)
    assert len(got) >= 3 and got[0][:4].isdigit(), got


def test_keygen_profile_through_api_server(control_plane: ControlPlane, plain: ExampleDeployment) -> None:
    """A 20 s CPU profile via the pod proxy names crypto/rsa.GenerateKey with the switch on, not without."""
    keygen = deploy_example(control_plane, name="keygen", namespace="e2e-keygen", replicas=1, objects=6,
                            controller_args=["--keygen-per-reconcile", "4", "--sync-period", "10s"])
    try:
        results: dict[str, bytes] = {}

        def fetch(name: str, dep: ExampleDeployment) -> None:
            results[name] = proxy_get(control_plane, dep.namespace, dep.replicas[0].pod, 6060,
                                      "/debug/pprof/profile?seconds=20", timeout=90)

        threads = [threading.Thread(target=fetch, args=a) for a in (("keygen", keygen), ("plain", plain))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert results.keys() == {"keygen", "plain"}
        assert "crypto/rsa.GenerateKey" in pprof_strings(results["keygen"])
        assert "crypto/rsa.GenerateKey" not in pprof_strings(results["plain"])
    finally:
        stop_example(control_plane, keygen)


def test_requeue_deleted(control_plane: ControlPlane, go_example_ready: None) -> None:
    """requeue_after keeps rising after deleted objects are gone with --requeue-deleted; flat without."""
    deps = {
        flag: deploy_example(control_plane, name=name, namespace=f"e2e-{name}", replicas=1, objects=6,
                             delete=4, controller_args=args)
        for flag, name, args in ((True, "requeue", ["--requeue-deleted"]), (False, "norequeue", []))
    }
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
                live_widgets(control_plane, d.namespace, d.deleted) for d in deps.values()):
            time.sleep(1)
        assert not any(live_widgets(control_plane, d.namespace, d.deleted) for d in deps.values())

        def counter(flag: bool) -> float:
            d = deps[flag]
            text = proxy_get(control_plane, d.namespace, d.replicas[0].pod, 8080, "/metrics").decode()
            return requeue_after_total(text)

        first = {flag: counter(flag) for flag in deps}
        samples = [first[True]]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(set(samples)) < 3:
            time.sleep(3)
            samples.append(counter(True))
        assert len(set(samples)) >= 3 and samples == sorted(samples), (
            f"requeue_after did not keep rising with --requeue-deleted: {samples}")
        assert counter(False) == first[False], "requeue_after moved without --requeue-deleted"
    finally:
        for d in deps.values():
            stop_example(control_plane, d)


def test_down_leaves_nothing_and_survives_a_killed_run(tmp_path: Path, control_plane: ControlPlane) -> None:
    """A run whose harness died (processes left behind) does not break the next ``up``; ``down`` cleans all."""
    directory = tmp_path / "cp"
    killed = ControlPlane(directory, nodes=1)
    killed.up()
    leftover = killed.procs.recorded()
    assert leftover and all(pid_alive(p) for p in leftover.values())
    # a new harness in the same DIR, as after a killed test run: up must clean the leftovers first
    fresh = ControlPlane(directory, nodes=1)
    fresh.up()
    assert not any(pid_alive(p) for p in leftover.values()), "stale processes survived up"
    ports = fresh.state.ports()
    pids = list(fresh.procs.recorded().values())
    fresh.down()
    time.sleep(0.5)
    assert not any(pid_alive(p) for p in pids)
    assert not [p for p in ports if port_open(p)]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(directory) not in ps
