"""e2e: ``profkit capture --deployment`` on the real control plane: replicas, pod replacement, API restart, errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from tests.e2e.controlplane.certs import _sign
from tests.e2e.controlplane.harness import HERE
from tests.e2e.controlplane.example import (
    WIDGET_RESOURCE, ExampleDeployment, Replica, controller_command, deploy_example, ready_count,
    stop_example, widget_manifest,
)
from tests.e2e.controlplane.harness import ControlPlane
from tests.e2e.controlplane.procs import free_port

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parent.parent.parent
NAME = "widget-controller"  # the catalog's example entry (collectors/example.yaml) matches this deployment name
PLAIN = "plain-widgets"  # in no catalog: endpoints come from the pod spec's container ports
CLIENT_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=clientAuth\n")


def profkit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "profkit.cli.main", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("KUBECONFIG", None)
    return env


def run_profkit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(profkit_cmd(*args), capture_output=True, text=True, timeout=timeout, env=cli_env())


def run_profkit_measured(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run the CLI and sample its own CPU seconds and peak RSS (MiB) while it runs."""
    import psutil

    proc = subprocess.Popen(profkit_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env())
    watched = psutil.Process(proc.pid)
    cpu = rss = 0.0
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            times = watched.cpu_times()
            cpu = times.user + times.system
            rss = max(rss, watched.memory_info().rss / 2**20)
        except psutil.Error:
            break
        time.sleep(0.5)
    stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), cpu, rss


def query(bundle: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{bundle / 'profkit.db'}?mode=ro", uri=True) as db:
        return list(db.execute(sql, params).fetchall())


def when(ready: Callable[[], bool], action: Callable[[], object], errors: list[BaseException],
         timeout: float = 90.0) -> threading.Thread:
    """Run ``action`` in a thread once ``ready()`` holds (polled every 0.5 s), keeping any exception for the test."""

    def run() -> None:
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout:.0f}s waiting to run {action}")
                time.sleep(0.5)
            action()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def profiled(bundle: Path, pods: list[str], kind: str) -> Callable[[], bool]:
    """True once the capture writing ``bundle`` holds a ``kind`` profile of every one of ``pods``."""

    def check() -> bool:
        if not (bundle / "profkit.db").exists():
            return False
        try:
            have = {i for i, in query(bundle, "SELECT DISTINCT instance FROM profiles WHERE kind=?", kind)}
        except sqlite3.Error:
            return False
        return set(pods) <= have
    return check


def replace_pod(cp: ControlPlane, dep: ExampleDeployment, extra: list[str]) -> str:
    """Delete the first replica's pod and stand a new controller process behind its replacement."""
    old = dep.replicas[0]
    known = {r.pod for r in dep.replicas}
    cp.kubectl("delete", "pod", old.pod, "-n", dep.namespace, "--wait=false")
    cp.procs.stop(old.process)
    deadline = time.monotonic() + 60
    new: dict[str, Any] | None = None
    while new is None and time.monotonic() < deadline:
        pods = cp.wait_for_pods_running(dep.namespace, dep.selector, 1, timeout=30)
        new = next((p for p in pods if p["metadata"]["name"] not in known), None)  # type: ignore[index]
        if new is None:
            time.sleep(0.5)
    assert new is not None, "no replacement pod"
    name, ip = str(new["metadata"]["name"]), str(new["status"]["podIP"])
    metrics_port, pprof_port = free_port(), free_port()
    log_file = cp.dir / "examples" / dep.name / f"{name}.log"
    cmd, env = controller_command("go", cp.dir, dep.namespace, cp.kubeconfig, metrics_port, pprof_port, extra)
    process = f"example-{dep.namespace}-replacement"
    cp.procs.start(process, [sys.executable, str(HERE / "crilog.py"), "--out", str(log_file), "--", *cmd], env=env)
    cp.map_pod(dep.namespace, name, {8080: metrics_port, 6060: pprof_port}, log_file=log_file, pod_ip=ip)
    dep.replicas.append(Replica(name, ip, process, metrics_port, pprof_port, log_file))
    return name


def restart_apiserver(cp: ControlPlane, down_for: float = 6.0) -> None:
    cp.procs.stop("kube-apiserver")
    time.sleep(down_for)
    cp._start_apiserver(90)


def unprivileged_kubeconfig(cp: ControlPlane, path: Path, user: str = "nobody") -> Path:
    """A kubeconfig for user ``profkit-<user>``, signed by the CA; no RBAC binding mentions it unless a test adds one."""
    if not (cp.pki.dir / f"{user}.crt").is_file():
        _sign(cp.pki, user, f"/CN=profkit-{user}", CLIENT_EXT)
    text = cp.kubeconfig.read_text()
    import base64

    crt = base64.b64encode((cp.pki.dir / f"{user}.crt").read_bytes()).decode()
    key = base64.b64encode((cp.pki.dir / f"{user}.key").read_bytes()).decode()
    lines = []
    for line in text.splitlines():
        if "client-certificate-data:" in line:
            line = line.split(":")[0] + f": {crt}"
        elif "client-key-data:" in line:
            line = line.split(":")[0] + f": {key}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def keygen(control_plane: ControlPlane) -> Iterator[ExampleDeployment]:
    dep = deploy_example(control_plane, name=NAME, namespace="pk-keygen", replicas=2, objects=10,
                         controller_args=["--sync-period", "10s", "--keygen-per-reconcile", "2"], ready_timeout=60)
    yield dep
    stop_example(control_plane, dep)


@pytest.fixture(scope="module")
def healthy(control_plane: ControlPlane) -> Iterator[ExampleDeployment]:
    dep = deploy_example(control_plane, name=PLAIN, namespace="pk-healthy", replicas=2, objects=10,
                         controller_args=["--sync-period", "10s"], ready_timeout=60)
    yield dep
    stop_example(control_plane, dep)


def test_capture_every_replica_objects_logs_and_pod_replacement(
        control_plane: ControlPlane, keygen: ExampleDeployment, tmp_path: Path) -> None:
    cp, dep, out = control_plane, keygen, tmp_path / "bundle"
    errors: list[BaseException] = []
    more = [f"{NAME}-x-{i}" for i in range(5)]
    original = [r.pod for r in dep.replicas]
    # Each step waits for the capture, not for a clock: on a busy machine start-up takes a while, and a pod
    # deleted before its first CPU window ends has no CPU profile to show.
    collecting = profiled(out, original, "heap")
    steps = [
        when(collecting, lambda: (time.sleep(2), cp.kubectl("apply", "-f", "-",
                                                              input=widget_manifest(dep.namespace, more))), errors),
        # Deleted only once reconciled (ready, so holding the controller's finalizer): deleted earlier, the API
        # server removes them at once and no watch event carries a deletionTimestamp (seen under load in CI).
        when(lambda: ready_count(cp, dep.namespace, more[:3]) == 3,
             lambda: cp.kubectl("delete", WIDGET_RESOURCE, "-n", dep.namespace, "--wait=false", *more[:3]), errors),
        when(profiled(out, original, "cpu"),
             lambda: replace_pod(cp, dep, ["--sync-period", "10s", "--keygen-per-reconcile", "2"]), errors),
    ]
    started = time.monotonic()
    proc, own_cpu, own_rss = run_profkit_measured(
        "capture", "--deployment", NAME, "-n", dep.namespace, "--kubeconfig", str(cp.kubeconfig),
        "--duration", "45s", "--profile-window", "10s", "--scrape-interval", "3s", "--out", str(out), timeout=150)
    elapsed = time.monotonic() - started
    for step in steps:
        step.join(60)
    if errors:
        raise errors[0]
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"\ncapture took {elapsed:.1f}s; profkit's own CPU {own_cpu:.1f}s ({100 * own_cpu / elapsed:.1f}% of "
          f"a core, start-up included), peak RSS {own_rss:.0f} MiB\n{proc.stderr.strip()}")
    replacement = dep.replicas[-1].pod
    assert replacement not in original
    cpu = dict(query(out, "SELECT instance, count(*) FROM profiles WHERE kind='cpu' GROUP BY instance"))
    assert set(original) <= set(cpu) and replacement in cpu, cpu
    for pod in [*original, replacement]:
        folder = out / "profiles" / "example" / pod
        assert any(p.name.startswith("cpu-") and p.name.endswith(".pb.gz") for p in folder.iterdir()), folder
        assert (folder.glob("cpu-*.pb.gz").__next__().read_bytes()[:2]) == b"\x1f\x8b"
    series = dict(query(out, "SELECT instance, count(DISTINCT name) FROM series GROUP BY instance"))
    assert all(series.get(p, 0) > 50 for p in [*original, replacement]), series
    reconciles = query(out, "SELECT count(*) FROM series WHERE name='controller_runtime_reconcile_total'")[0][0]
    assert reconciles > 0
    logs = dict(query(out, "SELECT instance, count(*) FROM logs GROUP BY instance"))
    assert logs.get(original[1], 0) > 0 and logs.get(replacement, 0) > 0, logs
    objects = query(out, "SELECT event, name FROM objects WHERE resource=?", WIDGET_RESOURCE)
    assert {("added", n) for n in more} <= set(objects), objects
    assert {("deleted", n) for n in more[:3]} <= set(objects), objects
    deleting = query(out, "SELECT name FROM objects WHERE deletion_ts IS NOT NULL")
    assert {n for n, in deleting} >= set(more[:3])
    events = query(out, "SELECT kind, instance FROM events")
    assert ("pod-removed", original[0]) in events and ("pod-added", replacement) in events, events
    spec = json.loads(query(out, "SELECT spec FROM targets WHERE name='example'")[0][0])
    removed = {p["name"]: p["removed"] for p in spec["pods"]}
    assert removed[original[0]] is not None and removed[replacement] is None

    report = run_profkit("analyze", str(out), "--json", timeout=120)
    assert report.returncode in (0, 1), report.stderr
    ids = {f["id"] for f in json.loads(report.stdout)["findings"]}
    assert "repeated-key-generation" in ids, ids
    html = run_profkit("report", str(out), "-o", str(tmp_path / "report.html"), timeout=180)
    assert html.returncode == 0, html.stderr[-2000:]
    page = (tmp_path / "report.html").read_text()
    assert all(pod in page for pod in [*original, replacement])


def test_api_server_restart_records_a_gap_and_capture_resumes(
        control_plane: ControlPlane, healthy: ExampleDeployment, tmp_path: Path) -> None:
    cp, dep, out = control_plane, healthy, tmp_path / "bundle"
    errors: list[BaseException] = []
    # the API server goes down once the capture is collecting (not at a fixed time: start-up may be slow here)
    step = when(profiled(out, [r.pod for r in dep.replicas], "heap"), lambda: restart_apiserver(cp), errors)
    proc = run_profkit("capture", "--deployment", PLAIN, "-n", dep.namespace, "--kubeconfig", str(cp.kubeconfig),
                       "--duration", "40s", "--profile-window", "8s", "--scrape-interval", "2s", "--out", str(out),
                       timeout=150)
    step.join(120)
    if errors:
        raise errors[0]
    assert proc.returncode == 0, proc.stderr[-3000:]
    gaps = query(out, "SELECT ts, message FROM events WHERE kind='gap'")
    assert gaps, query(out, "SELECT kind, message FROM events")
    back = query(out, "SELECT ts FROM events WHERE kind='info' AND message LIKE '%reachable again%'")
    assert back and back[0][0] > gaps[0][0]
    after = query(out, "SELECT count(*) FROM profiles WHERE kind='cpu' AND start > ?", back[0][0])[0][0]
    scrapes_after = query(out, "SELECT count(*) FROM points WHERE ts > ?", back[0][0])[0][0]
    assert after > 0 and scrapes_after > 0, "capture did not resume after the API server came back"
    spec = json.loads(query(out, "SELECT spec FROM targets WHERE name=?", PLAIN)[0][0])
    assert {(e["role"], e["port"], e["via"]) for e in spec["endpoints"]} == {("metrics", 8080, "proxy"),
                                                                            ("pprof", 6060, "proxy")}
    cpu = {i for i, in query(out, "SELECT instance FROM profiles WHERE kind='cpu'")}
    assert cpu == {r.pod for r in dep.replicas}

    report = run_profkit("analyze", str(out), "--json", timeout=120)
    ids = {f["id"] for f in json.loads(report.stdout)["findings"]}
    assert "repeated-key-generation" not in ids, ids


def test_kubernetes_errors_are_one_line_exit_2(control_plane: ControlPlane, tmp_path: Path) -> None:
    kc = str(control_plane.kubeconfig)
    cases = {
        "not found": (["--deployment", "nope", "-n", "default", "--kubeconfig", kc],
                      "deployment nope not found in namespace default"),
        "no kubeconfig": (["--deployment", "x", "--kubeconfig", str(tmp_path / "missing")], "no kubeconfig"),
        "unknown context": (["--deployment", "x", "--kubeconfig", kc, "--context", "elsewhere"],
                            "has no context 'elsewhere'"),
        "forbidden": (["--deployment", NAME, "-n", "default", "--kubeconfig",
                       str(unprivileged_kubeconfig(control_plane, tmp_path / "nobody.kubeconfig"))],
                      "forbidden: cannot get deployments in namespace default"),
    }
    for case, (args, expected) in cases.items():
        out = tmp_path / case.replace(" ", "-")
        proc = run_profkit("capture", *args, "--duration", "5s", "--out", str(out))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (case, proc.stderr)
        assert len(lines) == 1 and expected in lines[0], (case, proc.stderr)
        assert not (out / "profkit.db").exists(), case


def secure_collector(path: Path, scheme: str) -> Path:
    """The example as if its pprof port were a secure diagnostics endpoint (bearer token, port-forward)."""
    path.write_text(
        f"alias: secure-example\ndeployment: {PLAIN}\nnamespace: pk-healthy\ncontainer: manager\n"
        "endpoints:\n"
        f"  - {{name: diagnostics, port: pprof, scheme: {scheme}, auth: bearer, pprof: /debug/pprof}}\n"
        "  - {name: metrics, port: metrics, scheme: http, auth: none, metrics: /metrics}\n"
    )
    return path


def test_bearer_endpoint_needs_a_token_and_goes_through_port_forward(
        control_plane: ControlPlane, healthy: ExampleDeployment, tmp_path: Path) -> None:
    collector = secure_collector(tmp_path / "secure.yaml", "http")
    args = ["capture", "--deployment", "secure-example", "--collector", str(collector),
            "--kubeconfig", str(control_plane.kubeconfig), "--duration", "12s", "--profile-window", "5s"]
    proc = run_profkit(*args, "--out", str(tmp_path / "no-token"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "needs a bearer token" in proc.stderr and "--token-file" in proc.stderr
    token = tmp_path / "token"
    token.write_text("not-checked-by-the-example\n")
    out = tmp_path / "bundle"
    proc = run_profkit(*args, "--token-file", str(token), "--out", str(out), timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cpu = query(out, "SELECT instance FROM profiles WHERE kind='cpu'")
    assert {i for i, in cpu} == {r.pod for r in healthy.replicas}, cpu
    spec = json.loads(query(out, "SELECT spec FROM targets")[0][0])
    assert {e["role"]: e["via"] for e in spec["endpoints"]} == {"pprof": "port-forward", "metrics": "proxy"}


def test_printed_rbac_is_enough_for_a_capture(
        control_plane: ControlPlane, keygen: ExampleDeployment, tmp_path: Path) -> None:
    rbac = run_profkit("capture", "--print-rbac", "--deployment", "example", "-n", keygen.namespace)
    assert rbac.returncode == 0, rbac.stderr
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in yaml.safe_load_all(rbac.stdout)]
    assert kinds == [("Role", keygen.namespace), ("RoleBinding", keygen.namespace)]  # a Go controller, plain HTTP
    assert "pods/exec" not in rbac.stdout
    control_plane.apply(rbac.stdout.replace("REPLACE-WITH-USER", "profkit-rbac"))
    kubeconfig = unprivileged_kubeconfig(control_plane, tmp_path / "rbac.kubeconfig", user="rbac")
    out = tmp_path / "bundle"
    proc = run_profkit("capture", "--deployment", NAME, "-n", keygen.namespace, "--kubeconfig", str(kubeconfig),
                       "--duration", "10s", "--profile-window", "4s", "--scrape-interval", "2s", "--out", str(out),
                       timeout=90)
    control_plane.kubectl("delete", "rolebinding,role", "profkit-capture", "-n", keygen.namespace, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert query(out, "SELECT kind, message FROM events WHERE kind='error'") == []
    live = {r.pod for r in keygen.replicas if control_plane.procs.exited(r.process) is None}
    assert {i for i, in query(out, "SELECT instance FROM profiles WHERE kind='cpu'")} == live
    assert query(out, "SELECT count(*) FROM objects")[0][0] > 0


POD_METRICS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "pods.metrics.k8s.io",
                 "annotations": {"api-approved.kubernetes.io": "unapproved, e2e stand-in for metrics-server"}},
    "spec": {"group": "metrics.k8s.io", "scope": "Namespaced",
             "names": {"plural": "pods", "singular": "podmetrics", "kind": "PodMetrics"},
             "versions": [{"name": "v1beta1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def test_pod_usage_from_metrics_k8s_io_when_it_is_served(
        control_plane: ControlPlane, healthy: ExampleDeployment, tmp_path: Path) -> None:
    """A CRD serves metrics.k8s.io/v1beta1 pods here (no metrics-server without real kubelets): same API shape."""
    cp = control_plane
    cp.apply(json.dumps(POD_METRICS_CRD))
    cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/pods.metrics.k8s.io")
    try:
        items: list[dict[str, Any]] = [{"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                  "metadata": {"name": r.pod, "namespace": healthy.namespace, "labels": {"app": PLAIN}},
                  "timestamp": "2026-11-24T09:00:00Z", "window": "15s",
                  "containers": [{"name": "manager", "usage": {"cpu": f"{150 + i}m", "memory": "48Mi"}}]}
                 for i, r in enumerate(healthy.replicas) if cp.procs.exited(r.process) is None]
        cp.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        out = tmp_path / "bundle"
        proc = run_profkit("capture", "--deployment", PLAIN, "-n", healthy.namespace, "--kubeconfig",
                           str(cp.kubeconfig), "--duration", "12s", "--profile-window", "5s", "--out", str(out),
                           timeout=90)
        assert proc.returncode == 0, proc.stderr[-2000:]
        usage = query(out, "SELECT s.instance, p.value FROM series s JOIN points p ON p.series_id = s.id "
                           "WHERE s.name = 'container_cpu_usage_cores'")
        assert {i for i, _ in usage} == {i["metadata"]["name"] for i in items}, usage
        assert {round(v, 3) for _, v in usage} == {0.15, 0.151}
        memory = query(out, "SELECT DISTINCT p.value FROM series s JOIN points p ON p.series_id = s.id "
                            "WHERE s.name = 'container_memory_working_set_bytes'")
        assert memory == [(48 * 1024 * 1024,)]
        spec = json.loads(query(out, "SELECT spec FROM targets")[0][0])
        assert spec["usage_source"].startswith("metrics.k8s.io")
    finally:
        cp.kubectl("delete", "crd", "pods.metrics.k8s.io", "--wait=false", check=False)


class DiagnosticsServer:
    """A Cluster API style secure diagnostics endpoint: HTTPS (self-signed), bearer token, /metrics and pprof."""

    def __init__(self, directory: Path, token: str) -> None:
        import hashlib
        import ssl
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=diagnostics", "-keyout", str(directory / "tls.key"), "-out", str(directory / "tls.crt")],
                       check=True, capture_output=True)
        fixtures = REPO / "tests" / "fixtures"
        bodies = {"/metrics": b"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n"
                              b"# TYPE go_goroutines gauge\ngo_goroutines 42\n",
                  "/debug/pprof/profile": (fixtures / "go-cpu-keygen.pb.gz").read_bytes(),
                  "/debug/pprof/heap": (fixtures / "go-heap.pb.gz").read_bytes(),
                  "/debug/pprof/goroutine": (fixtures / "go-goroutine.pb.gz").read_bytes()}
        self.cpu_sha = hashlib.sha256(bodies["/debug/pprof/profile"]).hexdigest()
        self.seen_tokens: list[str] = []
        seen = self.seen_tokens

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                seen.append(self.headers.get("Authorization", ""))
                body = bodies.get(self.path.split("?")[0])
                status = 200 if self.headers.get("Authorization") == f"Bearer {token}" else 401
                if body is None:
                    status, body = 404, b"not found"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if status == 200 else 0))
                self.end_headers()
                if status == 200:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(directory / "tls.crt"), str(directory / "tls.key"))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_secure_diagnostics_port_over_https_port_forward_with_the_token(
        control_plane: ControlPlane, tmp_path: Path) -> None:
    import hashlib

    cp, ns, name = control_plane, "pk-secure", "secure-manager"
    server = DiagnosticsServer(tmp_path, token="s3cret")
    cp.kubectl("create", "namespace", ns, check=False)
    cp.apply(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"nodeSelector": {"type": "kwok"}, "containers": [{
                "name": "manager", "image": "capi:local", "args": ["--diagnostics-address=:8443"],
                "ports": [{"name": "diagnostics", "containerPort": 8443}]}]}}},
    }))
    try:
        pod = str(cp.wait_for_pods_running(ns, f"app={name}", 1)[0]["metadata"]["name"])  # type: ignore[index]
        log_file = tmp_path / "manager.log"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 20)) + ".0Z"  # after the capture starts
        log_file.write_text(f'{stamp} stderr F {{"level":"info","msg":"diagnostics up","controller":"cluster"}}\n')
        cp.map_pod(ns, pod, {8443: server.port}, log_file=log_file)
        token = tmp_path / "token"
        token.write_text("s3cret\n")
        out = tmp_path / "bundle"
        proc = run_profkit("capture", "--deployment", name, "-n", ns, "--kubeconfig", str(cp.kubeconfig),
                           "--token-file", str(token), "--duration", "8s", "--profile-window", "3s",
                           "--scrape-interval", "2s", "--out", str(out), timeout=90)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert query(out, "SELECT message FROM events WHERE kind='error'") == []
        assert set(server.seen_tokens) == {"Bearer s3cret"}
        cpu = sorted((out / "profiles" / name / pod).glob("cpu-*.pb.gz"))
        assert cpu and all(hashlib.sha256(p.read_bytes()).hexdigest() == server.cpu_sha for p in cpu)
        assert query(out, "SELECT count(*) FROM series WHERE name='go_goroutines'")[0][0] == 1
        assert query(out, "SELECT message, controller FROM logs") == [("diagnostics up", "cluster")]
        spec = json.loads(query(out, "SELECT spec FROM targets")[0][0])
        assert {(e["role"], e["scheme"], e["via"]) for e in spec["endpoints"]} == {
            ("metrics", "https", "port-forward"), ("pprof", "https", "port-forward")}
    finally:
        server.close()
        cp.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_ctrl_c_stops_a_deployment_capture_promptly_with_a_valid_bundle(
        control_plane: ControlPlane, healthy: ExampleDeployment, tmp_path: Path) -> None:
    import signal

    out = tmp_path / "bundle"
    proc = subprocess.Popen(profkit_cmd("capture", "--deployment", PLAIN, "-n", healthy.namespace, "--kubeconfig",
                                        str(control_plane.kubeconfig), "--profile-window", "30s", "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    def capturing() -> bool:  # the bundle holds a first scrape (on a loaded machine start-up alone can take 8 s)
        try:
            return query(out, "SELECT count(*) FROM series")[0][0] > 0
        except sqlite3.Error:
            return False

    deadline = time.monotonic() + 60
    while not capturing() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # a CPU window and the log follows are under way
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 8, "a 30 s CPU window or a log follow held the exit up"
    assert query(out, "SELECT value FROM meta WHERE key='status'") == [("interrupted",)]
    assert query(out, "SELECT count(*) FROM series")[0][0] > 0


def test_two_deployments_in_two_namespaces_in_one_capture(
        control_plane: ControlPlane, keygen: ExampleDeployment, healthy: ExampleDeployment, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    proc = run_profkit("capture", "--deployment", f"{keygen.namespace}/{NAME}",
                       "--deployment", f"{healthy.namespace}/{PLAIN}", "--kubeconfig", str(control_plane.kubeconfig),
                       "--duration", "10s", "--profile-window", "4s", "--scrape-interval", "2s", "--out", str(out),
                       timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    targets = dict(query(out, "SELECT name, kind FROM targets"))
    assert targets == {"example": "deployment", PLAIN: "deployment"}
    live = {r.pod for dep in (keygen, healthy) for r in dep.replicas if control_plane.procs.exited(r.process) is None}
    assert {i for i, in query(out, "SELECT DISTINCT instance FROM profiles WHERE kind='cpu'")} == live


def test_missing_pod_proxy_permission_is_named_before_the_capture_starts(
        control_plane: ControlPlane, healthy: ExampleDeployment, tmp_path: Path) -> None:
    ns = healthy.namespace
    rules = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]
    control_plane.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "partial", "namespace": ns},
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "partial", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "partial"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "profkit-partial"}]}]}))
    kubeconfig = unprivileged_kubeconfig(control_plane, tmp_path / "partial.kubeconfig", user="partial")
    proc = run_profkit("capture", "--deployment", PLAIN, "-n", ns, "--kubeconfig", str(kubeconfig),
                       "--duration", "5s", "--out", str(tmp_path / "bundle"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"profkit: forbidden: cannot get pods/proxy in namespace {ns} (needs get on "
                                   "pods/proxy); see profkit capture --print-rbac")


def test_a_rollout_mid_capture_is_recorded_and_followed(control_plane: ControlPlane, tmp_path: Path) -> None:
    """Pods here have no process behind them: this is about following the pods, not their data."""
    cp, ns, name = control_plane, "pk-rollout", "rolling"
    cp.kubectl("create", "namespace", ns, check=False)
    cp.apply(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"nodeSelector": {"type": "kwok"}, "containers": [{"name": "manager", "image": "x:1"}]}}},
    }))
    try:
        before = {str(p["metadata"]["name"]) for p in cp.wait_for_pods_running(ns, f"app={name}", 2)}  # type: ignore[index]
        errors: list[BaseException] = []
        out = tmp_path / "bundle"

        def following() -> bool:  # the capture has seen every pod of the first template
            try:
                return before <= {i for i, in query(out, "SELECT instance FROM events WHERE kind='pod-added'")}
            except sqlite3.Error:
                return False

        step = when(following, lambda: (time.sleep(2), cp.kubectl("set", "image", f"deployment/{name}", "-n", ns,
                                                                   "manager=x:2")), errors)
        proc = run_profkit("capture", "--deployment", name, "-n", ns, "--kubeconfig", str(cp.kubeconfig),
                           "--duration", "20s", "--out", str(out), timeout=90)
        step.join(30)
        # No process stands behind these pods, so the capture got no data from the target: exit 3, said plainly,
        # with the pods it followed kept in the bundle.
        assert not errors and proc.returncode == 3, proc.stderr[-2000:]
        assert "no data from target" in proc.stderr, proc.stderr[-2000:]
        events = query(out, "SELECT kind, instance FROM events WHERE kind IN ('pod-added', 'pod-removed', 'rollout')")
        added = {i for k, i in events if k == "pod-added"}
        removed = {i for k, i in events if k == "pod-removed"}
        assert before <= added and before <= removed, events
        assert len(added - before) >= 2, events
        assert any(k == "rollout" for k, _ in events), events
    finally:
        cp.kubectl("delete", "namespace", ns, "--wait=false", check=False)
