"""Run the example controllers as local processes "inside" a kwok Deployment and drive Widgets at them."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import build as buildmod
from .harness import HERE, ControlPlane, ControlPlaneError
from .procs import free_port

REPO_ROOT = buildmod.REPO_ROOT
GO_EXAMPLE = REPO_ROOT / "examples" / "go-controller"
PY_EXAMPLE = REPO_ROOT / "examples" / "python-controller"
KOPF_EXAMPLE = REPO_ROOT / "examples" / "kopf-operator"
KOPF_GROUP = "profkit.example"
KOPF_RESOURCE = f"widgets.{KOPF_GROUP}"
METRICS_PORT = 8080
PPROF_PORT = 6060
WIDGET_GROUP = "scale.profkit.dev"
WIDGET_RESOURCE = f"widgets.{WIDGET_GROUP}"


@dataclass
class Replica:
    """One controller process standing behind one kwok pod."""

    pod: str
    pod_ip: str
    process: str
    metrics_port: int
    pprof_port: int
    log_file: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def pprof_url(self) -> str:
        return f"http://127.0.0.1:{self.pprof_port}/debug/pprof"


@dataclass
class ExampleDeployment:
    """What ``deploy_example`` set up."""

    name: str
    namespace: str
    lang: str
    replicas: list[Replica] = field(default_factory=list)
    widgets: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def selector(self) -> str:
        return f"app={self.name}"

    @property
    def resource(self) -> str:
        return KOPF_RESOURCE if self.lang == "kopf" else WIDGET_RESOURCE


def controller_command(lang: str, workdir: Path, namespace: str, kubeconfig: Path,
                       metrics_port: int, pprof_port: int, extra: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The command line (and extra environment) of one example controller replica."""
    common = [
        "--kubeconfig", str(kubeconfig),
        "--metrics-bind-address", f"127.0.0.1:{metrics_port}",
        "--namespace", namespace,
    ]
    if lang == "go":
        binary = buildmod.build_example_controller(workdir / "bin" / "go-controller")
        return [str(binary), *common, "--pprof-bind-address", f"127.0.0.1:{pprof_port}",
                "--health-probe-bind-address", "0", *extra], {}
    if lang == "python":
        # Hook for the Python example (examples/python-controller, package ``widgetctl``):
        # it runs as ``python -m widgetctl`` with the same flags as the Go example
        # (no pprof listener; py-spy reads the pid instead).
        if not (PY_EXAMPLE / "widgetctl" / "__main__.py").is_file():
            raise ControlPlaneError(f"{PY_EXAMPLE}/widgetctl/__main__.py is missing: the Python example is not there yet")
        return [sys.executable, "-m", "widgetctl", *common, *extra], {"PYTHONPATH": str(PY_EXAMPLE)}
    if lang == "kopf":
        # The kopf example (examples/kopf-operator) runs under kopf's own CLI, as users run it; its
        # pathologies are environment switches, so ``extra`` items ``WIDGETOP_X=V`` become the
        # environment and the rest go to ``kopf run``. The liveness endpoint stands in for the pod's
        # ``healthz`` port (kopf serves no /metrics).
        kopf_bin = Path(sys.executable).parent / "kopf"
        runner = [str(kopf_bin)] if kopf_bin.is_file() else [sys.executable, "-m", "kopf"]
        env = {"KUBECONFIG": str(kubeconfig)}
        env.update(item.split("=", 1) for item in extra if item.startswith("WIDGETOP_") and "=" in item)
        args = [a for a in extra if not (a.startswith("WIDGETOP_") and "=" in a)]
        return [*runner, "run", "--namespace", namespace, "--liveness", f"http://127.0.0.1:{metrics_port}/healthz",
                *args, str(KOPF_EXAMPLE / "widgetop" / "handlers.py")], env
    raise ControlPlaneError(f"unknown example language {lang!r} (go, python or kopf)")


def deployment_manifest(name: str, namespace: str, replicas: int, lang: str) -> str:
    """A Deployment whose pods land on kwok nodes, with metrics and pprof container ports.

    The kopf example's container runs ``kopf run`` and has only kopf's ``healthz`` (liveness) port.
    """
    container: dict[str, object] = {
        "name": "manager",
        "image": f"profkit.dev/example-{lang}-controller:local",
        "ports": [
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
            {"name": "pprof", "containerPort": PPROF_PORT, "protocol": "TCP"},
        ],
    }
    if lang == "kopf":
        container = {
            "name": "operator",
            "image": "profkit.dev/example-kopf-operator:local",
            "command": ["kopf", "run", "--namespace", namespace, "--liveness", f"http://0.0.0.0:{METRICS_PORT}/healthz",
                        "/app/widgetop/handlers.py"],
            "ports": [{"name": "healthz", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        }
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "profkit.dev/example": lang}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "automountServiceAccountToken": False,
                    "containers": [container],
                },
            },
        },
    })


def widget_manifest(namespace: str, names: Sequence[str], lang: str = "go") -> str:
    api_version = f"{KOPF_GROUP}/v1" if lang == "kopf" else f"{WIDGET_GROUP}/v1alpha1"
    items = [{
        "apiVersion": api_version, "kind": "Widget",
        "metadata": {"name": n, "namespace": namespace}, "spec": {"size": i % 5 + 1},
    } for i, n in enumerate(names)]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def _wait_http(url: str, timeout: float, proc_exited: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc_exited():
            raise ControlPlaneError(f"controller exited before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise ControlPlaneError(f"timed out waiting for {url}")


def ready_count(cp: ControlPlane, namespace: str, names: Sequence[str], lang: str = "go") -> int:
    """How many of ``names`` report status.ready (kopf: its handler's result, status.reconcile_widget.ready)."""
    resource = KOPF_RESOURCE if lang == "kopf" else WIDGET_RESOURCE
    out = cp.kubectl("get", resource, "-n", namespace, "-o", "json").stdout
    wanted = set(names)

    def ready(w: dict[str, Any]) -> bool:
        status = w.get("status", {})
        return bool((status.get("reconcile_widget") or {}).get("ready") if lang == "kopf" else status.get("ready"))
    return sum(1 for w in json.loads(out)["items"] if w["metadata"]["name"] in wanted and ready(w))


def deploy_example(
    cp: ControlPlane, *, name: str, namespace: str = "default", lang: str = "go", replicas: int = 1,
    objects: int = 0, delete: int = 0, controller_args: Sequence[str] = (), ready_timeout: float = 120,
) -> ExampleDeployment:
    """Start ``replicas`` controller processes behind a kwok Deployment, create and delete Widgets."""
    workdir = cp.dir / "examples" / name
    workdir.mkdir(parents=True, exist_ok=True)
    dep = ExampleDeployment(name=name, namespace=namespace, lang=lang)
    cp.kubectl("create", "namespace", namespace, check=False)
    if lang == "kopf":
        for crd in (KOPF_EXAMPLE / "deploy" / "crd.yaml", KOPF_EXAMPLE / "deploy" / "peering.yaml"):
            cp.kubectl("apply", "-f", str(crd))
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{KOPF_RESOURCE}",
                   "crd/kopfpeerings.kopf.dev")
        # The peering object the replicas share: one active (highest random priority), the rest standby.
        cp.apply(json.dumps({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                             "metadata": {"name": "default", "namespace": namespace}}))
    else:
        crd = GO_EXAMPLE / "config" / "crd.yaml"
        if not crd.is_file():
            raise ControlPlaneError(f"{crd} is missing: the Go example's CRD is needed for Widgets")
        cp.kubectl("apply", "-f", str(crd))
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{WIDGET_RESOURCE}")
    cp.apply(deployment_manifest(name, namespace, replicas, lang))
    pods = cp.wait_for_pods_running(namespace, f"app={name}", replicas, timeout=90)
    for i, pod in enumerate(sorted(pods, key=lambda p: str(p["metadata"]["name"]))[:replicas]):  # type: ignore[index]
        pod_name, pod_ip = str(pod["metadata"]["name"]), str(pod["status"]["podIP"])  # type: ignore[index]
        metrics_port, pprof_port = free_port(), free_port()
        log_file = workdir / f"{pod_name}.log"
        cmd, env = controller_command(lang, cp.dir, namespace, cp.kubeconfig, metrics_port, pprof_port, controller_args)
        process = f"example-{name}-{i}"
        cp.procs.start(process, [sys.executable, str(HERE / "crilog.py"), "--out", str(log_file), "--", *cmd],
                       env=env)
        replica = Replica(pod_name, pod_ip, process, metrics_port, pprof_port, log_file)
        dep.replicas.append(replica)
        ports = ({METRICS_PORT: metrics_port} if lang in ("python", "kopf")
                 else {METRICS_PORT: metrics_port, PPROF_PORT: pprof_port})
        cp.map_pod(namespace, pod_name, ports, log_file=log_file, pod_ip=pod_ip)
    for r in dep.replicas:
        process = r.process
        url = f"http://127.0.0.1:{r.metrics_port}/healthz" if lang == "kopf" else r.metrics_url
        _wait_http(url, 60, lambda: cp.procs.exited(process) is not None)
    if objects:
        dep.widgets = [f"{name}-w-{i:04d}" for i in range(objects)]
        for start in range(0, objects, 200):
            cp.kubectl("apply", "-f", "-", input=widget_manifest(namespace, dep.widgets[start:start + 200], lang),
                       timeout=120)
        deadline = time.monotonic() + ready_timeout
        while ready_count(cp, namespace, dep.widgets, lang) < objects and time.monotonic() < deadline:
            time.sleep(1)
    if delete:
        dep.deleted = dep.widgets[:delete]
        if lang == "kopf":
            # Their backing ConfigMaps go first (cleaned up out of band), so a deletion handler that
            # insists on deleting them (WIDGETOP_RETRY_DELETE) retries forever.
            cp.kubectl("delete", "configmap", "-n", namespace, "--ignore-not-found", "--wait=false", *dep.deleted,
                       timeout=120)
        cp.kubectl("delete", dep.resource, "-n", namespace, "--wait=false", *dep.deleted, timeout=120)
    return dep


def stop_example(cp: ControlPlane, dep: ExampleDeployment) -> None:
    """Stop the replica processes and delete the Deployment and its mappings."""
    for r in dep.replicas:
        cp.procs.stop(r.process)
        cp.unmap_pod(dep.namespace, r.pod)
    cp.kubectl("delete", "deployment", dep.name, "-n", dep.namespace, "--ignore-not-found", "--wait=false",
               check=False)
