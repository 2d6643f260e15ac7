"""Install the unmodified Cluster API managers on the e2e control plane the way clusterctl does.

Each provider's manifests are rendered from its own ``config/default`` in the Go module
cache (``kubectl kustomize``, no network), clusterctl variables (``${VAR:=default}``)
substituted, cert-manager's part done here (a CA of our own signs each Certificate's
serving cert into its Secret, and its CA is injected where ``cert-manager.io/inject-ca-from``
asks), and everything applied: CRDs, RBAC, webhook configurations, Services, the
Deployments with their real names, namespaces and arguments.

Each Deployment's pod is a kwok pod backed by a local process run like a container:
its own network and mount namespaces (podnet.py), the Secret volumes and the
ServiceAccount token mounted where the pod spec says, ``KUBERNETES_SERVICE_HOST``/``PORT``
pointing at the API server through the relay, the container's ``args`` and ``env``
exactly as rendered (``status.podIP`` is the namespace's loopback, where the in-memory
provider's workload-cluster listeners then live). Its container ports are relayed to
host loopback ports and mapped through the harness (kwok PortForward for
``kubectl port-forward``, the egress proxy for pod and service proxying and webhooks).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from . import capi
from .certs import _openssl
from .harness import HERE, ControlPlane, ControlPlaneError
from .podnet import holder_command
from .procs import free_port

#: The providers in install order, as `clusterctl init --infrastructure in-memory` installs them.
PROVIDERS = ("capi", "cabpk", "kcp", "capim")
#: Release images (what the released components YAML names; kwok pulls nothing).
IMAGES = {
    "capi": "registry.k8s.io/cluster-api/cluster-api-controller",
    "cabpk": "registry.k8s.io/cluster-api/kubeadm-bootstrap-controller",
    "kcp": "registry.k8s.io/cluster-api/kubeadm-control-plane-controller",
    "capim": "gcr.io/k8s-staging-cluster-api/capim-manager",
}
#: The seed's `clusterctl init` environment: ClusterClass needs the topology feature gate.
DEFAULT_VARIABLES = {"CLUSTER_TOPOLOGY": "true", "EXP_RUNTIME_SDK": "false"}
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
#: The in-memory provider's workload-cluster listeners (DefaultDebugPort, DefaultMinPort).
INMEMORY_DEBUG_PORT = 19000
INMEMORY_MIN_PORT = 20000
CERT_MANAGER_GROUP = "cert-manager.io"
INJECT_ANNOTATION = "cert-manager.io/inject-ca-from"

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[=-])([^}]*))?\}")


class InstallError(ControlPlaneError):
    """Rendering or installing a Cluster API provider failed."""


def _log(msg: str) -> None:
    print(f"[capi] {msg}", file=sys.stderr, flush=True)


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """clusterctl's variable substitution: ``${VAR}``, ``${VAR:=default}``, ``${VAR:-default}``."""
    missing: list[str] = []

    def repl(m: re.Match[str]) -> str:
        name, op, default = m.group(1), m.group(2), m.group(3)
        if name in variables:
            return variables[name]
        if op is not None:
            return default or ""
        missing.append(name)
        return m.group(0)

    out = _VAR.sub(repl, text)
    if missing:
        raise InstallError(f"variables without a value: {', '.join(sorted(set(missing)))}")
    return out


def render(kubectl: str, key: str, variables: Mapping[str, str]) -> list[dict[str, Any]]:
    """The provider's objects: ``kubectl kustomize`` of its config/default, variables substituted."""
    m = capi.MANAGERS[key]
    src = capi.module_dir(m.module) / m.config
    proc = subprocess.run([kubectl, "kustomize", str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InstallError(f"kubectl kustomize {src} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(substitute(proc.stdout, variables)) if d]


@dataclass
class WebhookPki:
    """The CA standing in for cert-manager, and the serving certs it signed."""

    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    def ensure_ca(self) -> None:
        if self.ca_crt.is_file():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        _openssl("genrsa", "-out", "ca.key", "2048", cwd=self.dir)
        _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=profkit-e2e-capi-webhook-ca",
                 "-days", "3650", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", "ca.crt", cwd=self.dir)

    def serving(self, name: str, dns_names: Iterable[str]) -> tuple[Path, Path]:
        """Key and certificate for ``dns_names`` signed by the CA."""
        self.ensure_ca()
        d = self.dir
        sans = ",".join(f"DNS:{n}" for n in dns_names)
        _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=d)
        _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name[-64:]}", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                                       f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "3650", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)
        return d / f"{name}.key", d / f"{name}.crt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def stand_in_for_cert_manager(objs: list[dict[str, Any]], pki: WebhookPki) -> list[dict[str, Any]]:
    """Drop Issuers/Certificates; add each Certificate's TLS Secret; inject the CA bundle."""
    out: list[dict[str, Any]] = []
    certs: dict[str, dict[str, Any]] = {}
    for o in objs:
        if str(o.get("apiVersion", "")).startswith(CERT_MANAGER_GROUP + "/"):
            if o["kind"] == "Certificate":
                certs[f"{o['metadata']['namespace']}/{o['metadata']['name']}"] = o
            continue
        out.append(o)
    ca = pki.ca_crt
    for ref, cert in certs.items():
        ns, name = ref.split("/")
        key, crt = pki.serving(name, cert["spec"]["dnsNames"])
        out.append({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": cert["spec"]["secretName"], "namespace": ns,
                         "labels": dict(cert["metadata"].get("labels", {}))},
            "data": {"tls.crt": _b64(crt.read_bytes()), "tls.key": _b64(key.read_bytes()),
                     "ca.crt": _b64(ca.read_bytes())},
        })
    bundle = _b64(ca.read_bytes()) if certs else ""
    for o in out:
        ref = o.get("metadata", {}).get("annotations", {}).get(INJECT_ANNOTATION)
        if not ref:
            continue
        if ref not in certs:
            raise InstallError(f"{o['kind']} {o['metadata']['name']} asks for the CA of {ref}, which is not rendered")
        if o["kind"] == "CustomResourceDefinition":
            conv = o.get("spec", {}).get("conversion", {})
            if conv.get("strategy") == "Webhook":
                conv["webhook"]["clientConfig"]["caBundle"] = bundle
        elif o["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            for w in o.get("webhooks", []):
                w["clientConfig"]["caBundle"] = bundle
    return out


def clusterctl_touches(objs: list[dict[str, Any]], key: str, version: str) -> None:
    """What clusterctl adds to the components: its label, and the release image."""
    for o in objs:
        o.setdefault("metadata", {}).setdefault("labels", {})["clusterctl.cluster.x-k8s.io"] = ""
        if o["kind"] == "Deployment":
            for c in o["spec"]["template"]["spec"]["containers"]:
                if c["name"] == "manager":
                    c["image"] = f"{IMAGES[key]}:{version}"


@dataclass
class ManagerPod:
    """One manager: its Deployment, its kwok pod and the local process behind it."""

    key: str
    namespace: str
    deployment: str
    pod: str = ""
    pod_ip: str = ""
    pod_uid: str = ""
    holder: str = ""
    process: str = ""
    log_file: Path = Path()
    #: containerPort -> the host loopback port relayed to it.
    ports: dict[int, int] = field(default_factory=dict)
    port_names: dict[str, int] = field(default_factory=dict)

    @property
    def diagnostics_port(self) -> int:
        return self.ports[self.port_names["metrics"]]

    @property
    def health_port(self) -> int:
        return self.ports[self.port_names["healthz"]]


@dataclass
class Installation:
    """What ``install`` set up, saved to DIR/capi/install.json."""

    version: str
    managers: dict[str, ManagerPod] = field(default_factory=dict)
    relay: str = "capi-podnet"

    def save(self, path: Path) -> None:
        data = {"version": self.version, "relay": self.relay,
                "managers": {k: {**m.__dict__, "log_file": str(m.log_file)} for k, m in self.managers.items()}}
        path.write_text(json.dumps(data, indent=1))


def _deployment(objs: list[dict[str, Any]]) -> dict[str, Any]:
    deps = [o for o in objs if o["kind"] == "Deployment"]
    if len(deps) != 1:
        raise InstallError(f"expected one Deployment in the rendered config, found {len(deps)}")
    return deps[0]


def _apply(cp: ControlPlane, objs: list[dict[str, Any]]) -> None:
    cp.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
               input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}), timeout=180)


def _token(cp: ControlPlane, sa: str, namespace: str, pod: str, pod_uid: str) -> str:
    return cp.kubectl("create", "token", sa, "-n", namespace, "--duration=48h",
                      "--bound-object-kind=Pod", f"--bound-object-name={pod}", f"--bound-object-uid={pod_uid}"
                      ).stdout.strip()


def _env(container: dict[str, Any], pod: ManagerPod) -> dict[str, str]:
    fields = {"metadata.namespace": pod.namespace, "metadata.name": pod.pod, "metadata.uid": pod.pod_uid,
              "status.podIP": "127.0.0.1"}
    env: dict[str, str] = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif "fieldRef" in (e.get("valueFrom") or {}):
            path = e["valueFrom"]["fieldRef"]["fieldPath"]
            if path not in fields:
                raise InstallError(f"{pod.deployment}: env {e['name']} from unsupported field {path}")
            env[e["name"]] = fields[path]
        else:
            raise InstallError(f"{pod.deployment}: env {e['name']} has an unsupported source")
    return env


def _mounts(cp: ControlPlane, dep: dict[str, Any], container: dict[str, Any], pod: ManagerPod,
            objs: list[dict[str, Any]], workdir: Path) -> list[tuple[Path, str]]:
    """Host directories to bind where the container mounts its volumes (Secrets) and its SA token."""
    spec = dep["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs if o["kind"] == "Secret"}
    binds: list[tuple[Path, str]] = []
    for vm in container.get("volumeMounts", []):
        vol = volumes.get(vm["name"], {})
        if "secret" not in vol:
            raise InstallError(f"{pod.deployment}: volume {vm['name']} is not a Secret volume")
        secret = secrets.get((pod.namespace, vol["secret"]["secretName"]))
        if secret is None:
            raise InstallError(f"{pod.deployment}: Secret {vol['secret']['secretName']} is not rendered")
        d = workdir / "volumes" / vm["name"]
        d.mkdir(parents=True, exist_ok=True)
        for k, v in secret["data"].items():
            (d / k).write_bytes(base64.b64decode(v))
        binds.append((d, vm["mountPath"]))
    sa_dir = workdir / "serviceaccount"
    sa_dir.mkdir(parents=True, exist_ok=True)
    (sa_dir / "token").write_text(_token(cp, spec.get("serviceAccountName", "default"), pod.namespace, pod.pod,
                                         pod.pod_uid))
    (sa_dir / "ca.crt").write_bytes(cp.pki.ca_crt.read_bytes())
    (sa_dir / "namespace").write_text(pod.namespace)
    binds.append((sa_dir, SA_MOUNT))
    return binds


def _wait(what: str, check: Any, timeout: float, cp: ControlPlane, procs: Iterable[str] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in procs:
            if cp.procs.exited(name) is not None:
                raise InstallError(f"{name} exited while waiting for {what}; see {cp.procs.log_dir / (name + '.log')}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not yet
            pass
        time.sleep(0.5)
    raise InstallError(f"timed out after {timeout:.0f}s waiting for {what}")


def install(cp: ControlPlane, variables: Mapping[str, str] | None = None, workload_ports: int = 64,
            extra_args: Mapping[str, list[str]] | None = None, timeout: float = 180) -> Installation:
    """Render, apply and start the four managers; return when each one's /readyz answers 200."""
    bins = capi.build()
    version = capi.capi_version()
    vars_ = {**DEFAULT_VARIABLES, **(variables or {})}
    root = cp.dir / "capi"
    root.mkdir(parents=True, exist_ok=True)
    pki = WebhookPki(root / "pki")
    pki.ensure_ca()
    inst = Installation(version=version)
    rendered: dict[str, list[dict[str, Any]]] = {}
    t0 = time.monotonic()
    for key in PROVIDERS:
        objs = stand_in_for_cert_manager(render(cp.binary("kubectl"), key, vars_), pki)
        clusterctl_touches(objs, key, version)
        rendered[key] = objs
        (root / f"{key}-components.json").write_text(json.dumps(objs, indent=1))
    crds = [o for objs in rendered.values() for o in objs if o["kind"] == "CustomResourceDefinition"]
    nss = [o for objs in rendered.values() for o in objs if o["kind"] == "Namespace"]
    _apply(cp, nss + crds)
    cp.kubectl("wait", "--for=condition=Established", "--timeout=120s",
               *(f"crd/{o['metadata']['name']}" for o in crds), timeout=150)
    for key in PROVIDERS:
        _apply(cp, [o for o in rendered[key] if o["kind"] not in ("Namespace", "CustomResourceDefinition")])
    _log(f"applied {sum(len(v) for v in rendered.values())} objects in {time.monotonic() - t0:.1f}s")

    # The pods, their namespaces, mounts and ports.
    pods: dict[str, tuple[ManagerPod, dict[str, Any], dict[str, Any]]] = {}
    for key in PROVIDERS:
        dep = _deployment(rendered[key])
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        sel = ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())
        pod = cp.wait_for_pods_running(ns, sel, 1, timeout=120)[0]
        meta, status = pod["metadata"], pod["status"]
        assert isinstance(meta, dict) and isinstance(status, dict)
        mp = ManagerPod(key, ns, name, pod=str(meta["name"]), pod_ip=str(status["podIP"]), pod_uid=str(meta["uid"]))
        container = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "manager")
        mp.port_names = {p["name"]: int(p["containerPort"]) for p in container.get("ports", [])}
        mp.ports = {p: free_port() for p in mp.port_names.values()}
        workdir = root / key
        workdir.mkdir(parents=True, exist_ok=True)
        mp.log_file = workdir / f"{mp.pod}.log"
        binds = _mounts(cp, dep, container, mp, rendered[key], workdir)
        tag = workdir / "netns.ready"
        tag.unlink(missing_ok=True)
        mp.holder = f"capi-{key}-netns"
        cp.procs.start(mp.holder, holder_command(binds, tag))
        _wait(f"{mp.holder}", tag.is_file, 10, cp, [mp.holder])
        pods[key] = (mp, dep, container)
        inst.managers[key] = mp

    # One relay for all: pod -> API server, host -> pod ports, managers -> in-memory workload clusters.
    def ns_of(mp: ManagerPod) -> str:
        return f"/proc/{cp.procs.recorded()[mp.holder]}/ns/net"

    api_port = cp.state.apiserver_port
    forwards: list[dict[str, Any]] = []
    for key, (mp, _, _) in pods.items():
        forwards.append({"listen": {"ns": ns_of(mp), "port": api_port}, "connect": {"ns": None, "port": api_port}})
        for cport, lport in mp.ports.items():
            forwards.append({"listen": {"ns": None, "port": lport}, "connect": {"ns": ns_of(mp), "port": cport}})
    capim = pods["capim"][0]
    for key, (mp, _, _) in pods.items():
        if key == "capim":
            continue
        for port in (INMEMORY_DEBUG_PORT, *range(INMEMORY_MIN_PORT, INMEMORY_MIN_PORT + workload_ports)):
            forwards.append({"listen": {"ns": ns_of(mp), "port": port}, "connect": {"ns": ns_of(capim), "port": port}})
    cfg = root / "podnet.json"
    cfg.write_text(json.dumps({"forwards": forwards}, indent=1))
    ready = root / "podnet.ready"
    ready.unlink(missing_ok=True)
    cp.procs.start(inst.relay, [sys.executable, str(HERE / "podnet.py"), "--config", str(cfg), "--ready", str(ready)])
    _wait("the pod relay", ready.is_file, 30, cp, [inst.relay])

    # The managers themselves, as their containers run them.
    for key, (mp, dep, container) in pods.items():
        env = _env(container, mp)
        env.update({"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api_port)})
        args = [*container.get("args", []), *((extra_args or {}).get(key, []))]
        binary = bins / capi.MANAGERS[key].binary
        mp.process = f"capi-{key}-manager"
        holder_pid = cp.procs.recorded()[mp.holder]
        cmd = ["nsenter", f"--target={holder_pid}", "--net", "--mount", "--",
               sys.executable, str(HERE / "crilog.py"), "--out", str(mp.log_file), "--", str(binary), *args]
        cp.procs.start(mp.process, cmd, env={**env, "KUBECONFIG": ""})
        cp.map_pod(mp.namespace, mp.pod, mp.ports, log_file=mp.log_file, pod_ip=mp.pod_ip)
        # Webhooks: the API server dials the Service's cluster IP; send it to the relayed container port.
        for svc in (o for o in rendered[key] if o["kind"] == "Service"):
            ip = cp.kubectl("get", "service", svc["metadata"]["name"], "-n", mp.namespace,
                            "-o", "jsonpath={.spec.clusterIP}").stdout.strip()
            for sp in svc["spec"]["ports"]:
                target = sp.get("targetPort", sp["port"])
                cport = mp.port_names.get(target) if isinstance(target, str) else int(target)
                if cport in mp.ports:
                    cp._update_egress({f"{ip}:{sp['port']}": f"127.0.0.1:{mp.ports[cport]}"})
    for key, (mp, _, _) in pods.items():
        url = f"http://127.0.0.1:{mp.health_port}/readyz"

        def ok(url: str = url) -> bool:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bool(r.status == 200)

        _wait(f"{mp.deployment} {url}", ok, timeout, cp, [mp.process, inst.relay])
    inst.save(root / "install.json")
    _log(f"{len(pods)} managers ready in {time.monotonic() - t0:.1f}s")
    return inst


def uninstall(cp: ControlPlane, inst: Installation) -> None:
    """Stop the managers, their namespaces' holders and the relay."""
    for mp in inst.managers.values():
        cp.procs.stop(mp.process)
        cp.unmap_pod(mp.namespace, mp.pod)
    for mp in inst.managers.values():
        cp.procs.stop(mp.holder)
    cp.procs.stop(inst.relay)


# ---- in-memory clusters from the provider's own templates ---------------------------------------
CLUSTERCLASS_TEMPLATE = "infrastructure/inmemory/templates/clusterclass-in-memory-quick-start.yaml"
CLUSTER_TEMPLATE = "infrastructure/inmemory/templates/cluster-template-in-memory-development.yaml"


def cluster_manifests(names: Iterable[str], namespace: str, kubernetes_version: str = "v1.29.0",
                      control_plane_machines: int = 1, worker_machines: int = 1) -> str:
    """`clusterctl generate cluster NAME --flavor in-memory-development` for each name, plus the
    ClusterClass it references, rendered locally from the module's templates."""
    tdir = capi.module_dir(capi.TEST_MODULE)
    base = {"NAMESPACE": namespace, "KUBERNETES_VERSION": kubernetes_version,
            "CONTROL_PLANE_MACHINE_COUNT": str(control_plane_machines), "WORKER_MACHINE_COUNT": str(worker_machines)}
    docs = [substitute((tdir / CLUSTERCLASS_TEMPLATE).read_text(), base)]
    cluster = (tdir / CLUSTER_TEMPLATE).read_text()
    docs += [substitute(cluster, {**base, "CLUSTER_NAME": n}) for n in names]
    return "\n---\n".join(d.strip() for d in docs) + "\n"


def _conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}


def cluster_status(cp: ControlPlane, namespace: str, clusters: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per kind, how many objects of ``clusters`` exist and how many are Ready (Machines: Running too)."""
    wanted = set(clusters)
    out: dict[str, dict[str, int]] = {}
    for kind in ("clusters.cluster.x-k8s.io", "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
                 "machinedeployments.cluster.x-k8s.io", "machines.cluster.x-k8s.io"):
        items = json.loads(cp.kubectl("get", kind, "-n", namespace, "-o", "json", timeout=120).stdout)["items"]
        items = [i for i in items if (i["metadata"]["name"] if kind.startswith("clusters.") else
                                      i["metadata"].get("labels", {}).get("cluster.x-k8s.io/cluster-name")) in wanted]
        if kind.startswith("machines."):
            ready = sum(1 for i in items if i.get("status", {}).get("phase") == "Running"
                        and _conditions(i).get("Ready") == "True")
        else:
            ready = sum(1 for i in items if _conditions(i).get("Ready") == "True")
        out[kind.split(".")[0]] = {"total": len(items), "ready": ready}
    return out


def create_clusters(cp: ControlPlane, count: int, namespace: str = "default", prefix: str = "capim",
                    timeout: float = 900, **template: Any) -> tuple[float, dict[str, dict[str, int]]]:
    """Create ``count`` in-memory clusters; wait until every Cluster, MachineDeployment and Machine is Ready
    (Machines: Running too). Returns (seconds, status)."""
    cp.kubectl("create", "namespace", namespace, check=False)
    names = [f"{prefix}-{i:04d}" for i in range(count)]
    t0 = time.monotonic()
    cp.kubectl("apply", "-f", "-", input=cluster_manifests(names, namespace, **template), timeout=300)
    status: dict[str, dict[str, int]] = {}
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        status = cluster_status(cp, namespace, names)
        line = " ".join(f"{k}={v['ready']}/{v['total']}" for k, v in status.items())
        if line != last:
            _log(f"{time.monotonic() - t0:6.0f}s {line}")
            last = line
        machines = count * (int(template.get("control_plane_machines", 1)) + int(template.get("worker_machines", 1)))
        if (status["clusters"]["ready"] >= count and status["machinedeployments"]["ready"] >= count
                and status["machines"]["ready"] >= machines):
            return time.monotonic() - t0, status
        time.sleep(5)
    raise InstallError(f"timed out after {timeout:.0f}s: {last}")


# ---- smoke check: secure diagnostics as shipped ------------------------------------------------
SMOKE_RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: capi-diagnostics-smoke, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: capi-diagnostics-smoke}
rules:
- nonResourceURLs: ["/metrics", "/debug/pprof/*"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: capi-diagnostics-smoke}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: capi-diagnostics-smoke}
subjects:
- {kind: ServiceAccount, name: capi-diagnostics-smoke, namespace: default}
"""


def _https_status(url: str, token: str | None) -> tuple[int, bytes]:
    import ssl
    import urllib.error

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # controller-runtime's diagnostics server makes its own self-signed cert
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), b""


def check_diagnostics(cp: ControlPlane, inst: Installation) -> list[str]:
    """For every manager: /metrics refused without a token, /metrics and a CPU-less pprof index served
    with a token bound to a ClusterRole on those non-resource URLs. Returns one line per manager."""
    cp.kubectl("apply", "-f", "-", input=SMOKE_RBAC)
    token = cp.kubectl("create", "token", "capi-diagnostics-smoke", "-n", "default", "--duration=1h").stdout.strip()
    lines, bad = [], []
    for key, mp in inst.managers.items():
        base = f"https://127.0.0.1:{mp.diagnostics_port}"
        anon, _ = _https_status(f"{base}/metrics", None)
        code, body = _https_status(f"{base}/metrics", token)
        pcode, _ = _https_status(f"{base}/debug/pprof/heap", token)
        series = sum(1 for ln in body.decode(errors="replace").splitlines() if ln and not ln.startswith("#"))
        ok = anon in (401, 403) and code == 200 and pcode == 200 and b"controller_runtime_reconcile_total" in body
        lines.append(f"{mp.namespace}/{mp.deployment}: no token -> {anon}, token /metrics -> {code} "
                     f"({series} samples), /debug/pprof/heap -> {pcode}: {'ok' if ok else 'FAILED'}")
        if not ok:
            bad.append(key)
    if bad:
        raise InstallError("secure diagnostics check failed for " + ", ".join(bad) + ":\n" + "\n".join(lines))
    return lines
