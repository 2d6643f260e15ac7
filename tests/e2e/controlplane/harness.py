"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, controller-manager, scheduler, kwok."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from . import build as buildmod
from .certs import Pki, make_pki, write_kubeconfig
from .procs import ProcessSet, free_port, port_open

HERE = Path(__file__).resolve().parent
MANIFESTS = HERE / "manifests"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: Stop order for ``down``: workloads first (Cluster API managers, their relay and namespace holders
#: from capi_install.py), etcd last.
STOP_ORDER = (*(f"capi-{k}-manager" for k in ("capim", "kcp", "cabpk", "capi")), "capi-podnet",
              *(f"capi-{k}-netns" for k in ("capim", "kcp", "cabpk", "capi")), "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "egress", "etcd")
POD_CIDR = "10.244.0.1/16"
SERVICE_CIDR = "10.96.0.0/16"


#: Control planes started by this process and not yet stopped (for atexit/signal teardown).
_LIVE: list["ControlPlane"] = []


def down_all() -> None:
    """Stop every control plane this process started; used by atexit and signal handlers."""
    for cp in list(_LIVE):
        try:
            cp.down()
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            _log(f"down of {cp.dir} failed: {exc}")


class ControlPlaneError(RuntimeError):
    """The control plane failed to start or a command against it failed."""


def _log(msg: str) -> None:
    print(f"[controlplane] {msg}", file=sys.stderr, flush=True)


@dataclass
class State:
    """What ``up`` chose: ports and paths, saved to DIR/state.json for ``down``/``env``."""

    bin_dir: str
    etcd_port: int = 0
    etcd_peer_port: int = 0
    apiserver_port: int = 0
    kcm_port: int = 0
    scheduler_port: int = 0
    kwok_port: int = 0
    egress_socket: str = ""
    nodes: list[str] = field(default_factory=list)

    def ports(self) -> list[int]:
        return [p for p in (self.etcd_port, self.etcd_peer_port, self.apiserver_port,
                            self.kcm_port, self.scheduler_port, self.kwok_port) if p]


class ControlPlane:
    """One control plane living in ``directory`` (certs, kubeconfig, data, logs, pids)."""

    def __init__(self, directory: Path | str, bin_dir: Path | None = None, nodes: int = 2) -> None:
        self.dir = Path(directory).resolve()
        self.bin_dir = Path(bin_dir) if bin_dir else buildmod.bin_dir()
        self.node_count = nodes
        self.procs = ProcessSet(self.dir)
        self.pki = Pki(self.dir / "pki")
        self.state = State(bin_dir=str(self.bin_dir))
        self._egress_map = self.dir / "egress-map.json"
        #: Seconds the last ``up`` took once binaries were there (build time excluded).
        self.startup_seconds = 0.0

    # ---- paths and helpers -------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.state.apiserver_port}"

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    def env_exports(self) -> str:
        """Shell lines that point kubectl (ours, first on PATH) at this control plane."""
        return f"export KUBECONFIG={self.kubeconfig}\nexport PATH={self.bin_dir}:$PATH\n"

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
        binary_output: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run our kubectl against this control plane."""
        cmd = [self.binary("kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=manifest)

    def _save_state(self) -> None:
        (self.dir / "state.json").write_text(json.dumps(asdict(self.state), indent=2))

    def load_state(self) -> bool:
        path = self.dir / "state.json"
        if not path.is_file():
            return False
        self.state = State(**json.loads(path.read_text()))
        self.bin_dir = Path(self.state.bin_dir)
        return True

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_crt))
        ctx.load_cert_chain(str(self.pki.admin_crt), str(self.pki.admin_key))
        return ctx

    def api_get(self, path: str, timeout: float = 5) -> bytes:
        """GET a path from the API server with the admin certificate."""
        with urllib.request.urlopen(self.server + path, context=self._ssl_context(), timeout=timeout) as r:
            return bytes(r.read())

    def _wait(self, what: str, check: Callable[[], bool], timeout: float, watch: Sequence[str] = ()) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in watch:
                if self.procs.exited(name) is not None:
                    tail = self._log_tail(name)
                    raise ControlPlaneError(f"{name} exited while waiting for {what}:\n{tail}")
            try:
                if check():
                    return
            except Exception:  # noqa: BLE001 - anything short of success means "not yet"
                pass
            time.sleep(0.2)
        raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}")

    def _log_tail(self, name: str, lines: int = 30) -> str:
        path = self.procs.log_dir / f"{name}.log"
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # ---- lifecycle ---------------------------------------------------------
    def cleanup_stale(self) -> None:
        """Kill what a previous (killed) run in this directory left behind."""
        leftovers = self.procs.recorded()
        if leftovers:
            _log(f"cleaning up stale processes from a previous run: {', '.join(leftovers)}")
        self.procs.stop_all(STOP_ORDER, timeout=5)
        logs = self.procs.log_dir
        if logs.is_dir():  # keep the previous run's logs once, for post-mortems
            shutil.rmtree(self.dir / "logs.prev", ignore_errors=True)
            logs.rename(self.dir / "logs.prev")
        for name in ("etcd-data", "egress-map.json", "state.json", "kwok-home", "examples"):
            p = self.dir / name
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def up(self, timeout: float = 120) -> None:
        """Start everything (building binaries first if needed) and wait until usable."""
        missing = buildmod.missing_binaries(self.bin_dir)
        if missing:
            buildmod.build()
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cleanup_stale()
        make_pki(self.pki.dir)
        s = self.state = State(bin_dir=str(self.bin_dir))
        s.etcd_port, s.etcd_peer_port, s.apiserver_port = free_port(), free_port(), free_port()
        s.kcm_port, s.scheduler_port, s.kwok_port = free_port(), free_port(), free_port()
        s.egress_socket = self._socket_path()
        self._save_state()
        write_kubeconfig(self.kubeconfig, self.pki, self.server)
        _LIVE.append(self)
        try:
            self._start_egress()
            self._start_etcd()
            self._start_apiserver(timeout)
            self.apply((MANIFESTS / "kwok-crds.yaml").read_text())
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                         "crd/portforwards.kwok.x-k8s.io", "crd/logs.kwok.x-k8s.io", "crd/execs.kwok.x-k8s.io")
            self._start_controllers()
            self._create_nodes(timeout)
            self._wait("default service account", lambda: self.kubectl(
                "get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0, timeout)
        except BaseException:
            _log(f"start-up failed; logs are in {self.procs.log_dir}; stopping")
            self.down()
            raise
        self.startup_seconds = time.monotonic() - t0
        _log(f"control plane up in {self.startup_seconds:.1f}s; KUBECONFIG={self.kubeconfig}")

    def down(self) -> None:
        """Stop every process (process groups), then check no port is left listening."""
        if self in _LIVE:
            _LIVE.remove(self)
        self.load_state()
        self.procs.stop_all(STOP_ORDER)
        busy = [p for p in self.state.ports() if port_open(p)]
        sock = self.state.egress_socket
        if sock:
            Path(sock).unlink(missing_ok=True)
        if busy:
            raise ControlPlaneError(f"ports still listening after down: {busy}")

    def _socket_path(self) -> str:
        path = self.dir / "egress.sock"
        if len(str(path)) < 100:
            return str(path)
        digest = hashlib.sha1(str(self.dir).encode()).hexdigest()[:12]
        return str(Path(tempfile.gettempdir()) / f"profkit-e2e-{digest}.sock")

    def _start_egress(self) -> None:
        if not self._egress_map.exists():
            self._egress_map.write_text("{}")
        self.procs.start("egress", [sys.executable, str(HERE / "egress.py"),
                                    "--socket", self.state.egress_socket, "--map", str(self._egress_map)])
        self._wait("egress proxy socket", lambda: Path(self.state.egress_socket).exists(), 10, ["egress"])

    def _start_etcd(self) -> None:
        s = self.state
        client, peer = f"http://127.0.0.1:{s.etcd_port}", f"http://127.0.0.1:{s.etcd_peer_port}"
        self.procs.start("etcd", [
            self.binary("etcd"), "--name", "e2e", "--data-dir", str(self.dir / "etcd-data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"e2e={peer}", "--unsafe-no-fsync", "--log-level", "warn",
        ])

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as r:
                return b'"health":"true"' in r.read()

        self._wait("etcd", healthy, 30, ["etcd"])

    def _start_apiserver(self, timeout: float) -> None:
        s, p = self.state, self.pki
        egress = self.dir / "egress-selector.yaml"
        egress.write_text(
            "apiVersion: apiserver.k8s.io/v1beta1\nkind: EgressSelectorConfiguration\negressSelections:\n"
            "- name: cluster\n  connection:\n    proxyProtocol: HTTPConnect\n"
            f"    transport:\n      uds:\n        udsName: {s.egress_socket}\n"
        )
        self.procs.start("kube-apiserver", [
            self.binary("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{s.etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={s.apiserver_port}",
            "--advertise-address=127.0.0.1",
            f"--tls-cert-file={p.apiserver_crt}", f"--tls-private-key-file={p.apiserver_key}",
            f"--client-ca-file={p.ca_crt}",
            f"--service-account-key-file={p.sa_pub}", f"--service-account-signing-key-file={p.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={p.kubelet_client_crt}",
            f"--kubelet-client-key={p.kubelet_client_key}",
            f"--egress-selector-config-file={egress}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
        ])
        self._wait("kube-apiserver /readyz", lambda: self.api_get("/readyz") == b"ok", timeout, ["kube-apiserver"])

    def _start_controllers(self) -> None:
        s, p, kc = self.state, self.pki, str(self.kubeconfig)
        self.procs.start("kube-controller-manager", [
            self.binary("kube-controller-manager"), f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", f"--secure-port={s.kcm_port}", "--leader-elect=false",
            f"--service-account-private-key-file={p.sa_key}", f"--root-ca-file={p.ca_crt}",
            f"--cluster-signing-cert-file={p.ca_crt}", f"--cluster-signing-key-file={p.ca_key}",
            "--use-service-account-credentials=false", f"--service-cluster-ip-range={SERVICE_CIDR}",
        ])
        self.procs.start("kube-scheduler", [
            self.binary("kube-scheduler"), f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", f"--secure-port={s.scheduler_port}", "--leader-elect=false",
        ])
        kwok_home = self.dir / "kwok-home"
        kwok_home.mkdir(exist_ok=True)
        self.procs.start("kwok", [
            self.binary("kwok"), f"--kubeconfig={kc}",
            f"--config={MANIFESTS / 'kwok-stages.yaml'}",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
            "--node-ip=127.0.0.1", f"--node-port={s.kwok_port}",
            f"--server-address=127.0.0.1:{s.kwok_port}",
            f"--tls-cert-file={p.kwok_crt}", f"--tls-private-key-file={p.kwok_key}",
            f"--cidr={POD_CIDR}", "--node-lease-duration-seconds=40",
            "--enable-crds=PortForward,Logs,ClusterPortForward,ClusterLogs,Exec,ClusterExec",
        ], env={"KWOK_WORKDIR": str(kwok_home), "HOME": str(kwok_home)})

    def _create_nodes(self, timeout: float) -> None:
        names = [f"kwok-node-{i}" for i in range(self.node_count)]
        docs = []
        for name in names:
            docs.append(
                "apiVersion: v1\nkind: Node\nmetadata:\n"
                f"  name: {name}\n  annotations:\n    {FAKE_NODE_ANNOTATION}: fake\n"
                f"  labels:\n    type: kwok\n    kubernetes.io/hostname: {name}\n    kubernetes.io/os: linux\n"
                "    kubernetes.io/arch: amd64\n"
            )
        self.apply("---\n".join(docs))
        self.state.nodes = names
        self._save_state()

        def all_ready() -> bool:
            out = self.kubectl("get", "nodes", "-o", "json").stdout
            ready = 0
            for item in json.loads(out)["items"]:
                conds = {c["type"]: c["status"] for c in item.get("status", {}).get("conditions", [])}
                ready += conds.get("Ready") == "True"
            return ready >= len(names)

        self._wait("kwok nodes Ready", all_ready, timeout, ["kwok", "kube-controller-manager", "kube-scheduler"])

    # ---- kwok debugging mappings -----------------------------------------
    def map_pod(
        self, namespace: str, pod: str, ports: dict[int, int], log_file: Path | None = None,
        pod_ip: str | None = None,
    ) -> None:
        """Map a kwok pod's container ports to local ports and its logs to a CRI log file.

        ``kubectl port-forward`` and ``kubectl logs`` go API server -> kwok -> the
        PortForward/Logs objects created here; the API server's pod proxy goes
        through the egress proxy, which maps ``podIP:containerPort`` to the local port.
        """
        forwards = "".join(
            f"  - ports: [{cport}]\n    target:\n      address: 127.0.0.1\n      port: {lport}\n"
            for cport, lport in sorted(ports.items())
        )
        docs = [
            "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: PortForward\n"
            f"metadata:\n  name: {pod}\n  namespace: {namespace}\nspec:\n  forwards:\n{forwards}"
        ]
        if log_file is not None:
            docs.append(
                "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Logs\n"
                f"metadata:\n  name: {pod}\n  namespace: {namespace}\nspec:\n  logs:\n"
                f"  - logsFile: {json.dumps(str(Path(log_file).resolve()))}\n    follow: true\n"
            )
        self.apply("---\n".join(docs))
        if pod_ip is None:
            pod_ip = self.kubectl("get", "pod", pod, "-n", namespace, "-o", "jsonpath={.status.podIP}").stdout
        if pod_ip:
            self._update_egress({f"{pod_ip}:{c}": f"127.0.0.1:{l}" for c, l in ports.items()})

    def egress_map(self) -> dict[str, str]:
        """The pod network as mapped so far: ``podIP:containerPort`` -> the local ``127.0.0.1:PORT`` behind it."""
        if not self._egress_map.is_file():
            return {}
        return dict(json.loads(self._egress_map.read_text() or "{}"))

    def _update_egress(self, entries: dict[str, str]) -> None:
        mapping = self.egress_map()
        mapping.update(entries)
        tmp = self._egress_map.with_suffix(".tmp")
        tmp.write_text(json.dumps(mapping, indent=1))
        os.replace(tmp, self._egress_map)

    def unmap_pod(self, namespace: str, pod: str) -> None:
        self.kubectl("delete", "portforward.kwok.x-k8s.io,logs.kwok.x-k8s.io", pod, "-n", namespace,
                     "--ignore-not-found", check=False)

    # ---- convenience -------------------------------------------------------
    def wait_for_pods_running(self, namespace: str, selector: str, count: int, timeout: float = 60) -> list[dict[str, object]]:
        """Wait until ``count`` pods matching selector are Running with a pod IP; return them."""
        pods: list[dict[str, object]] = []

        def running() -> bool:
            nonlocal pods
            out = self.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
            items = [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]
            pods = [p for p in items if p.get("status", {}).get("phase") == "Running"
                    and p["status"].get("podIP")]
            return len(pods) >= count

        self._wait(f"{count} running pods {selector} in {namespace}", running, timeout, ["kwok"])
        return pods
