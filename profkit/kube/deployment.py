"""Deployment -> pods: resolve a name or catalog alias, then follow every replica through rollouts and restarts."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from profkit.catalog import CollectorSpec, version_from_image
from profkit.errors import BadInput
from profkit.kube.client import KubeAccess
from profkit.kube.errors import Forbidden, NotFound, Unreachable, api_call, translate
from profkit.kube.listwatch import Changed, KubeListWatch, Listed, list_watch
from profkit.kube.endpoints import (
    PodEndpoint, container_args, cpu_limit_cores, for_language, pick_container, select_endpoints, skipped_ports,
)
from profkit.kube.language import LanguageChoice, detect
from profkit.kube.logs import PodLogCollector
from profkit.kube.podhttp import PodProxyFetcher, PortForwardFetcher
from profkit.kube.portprobe import ProbedMetricsCollector
from profkit.kube.pyspy_collector import PodPySpyCollector
from profkit.model import CaptureEvent, CaptureEventKind, Target
from profkit.sources.backoff import Backoff
from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.sources.http import Fetcher
from profkit.sources.metrics import MetricsCollector
from profkit.sources.pprof import PprofCollector

MAX_BACKOFF = 10.0
TEMPLATE_HASH = "pod-template-hash"
DEFAULT_PPROF = "/debug/pprof"  # the path the pprof collector asks for
PROBE_TIMEOUT = 15.0  # seconds the exec probe of a pod's language may take
POD_STARTUP_GRACE = 30.0  # seconds a pod that appeared mid-capture may take before its endpoints answer


UNDECIDED = LanguageChoice("go", "default", "not looked at")


@dataclass
class ResolvedDeployment:
    """A Deployment found in the cluster, with what its pod template says about endpoints."""

    target: str  # the alias for catalog entries, else the deployment name
    name: str
    namespace: str
    selector: str
    spec: CollectorSpec | None
    container: str | None
    endpoints: list[PodEndpoint]
    args: list[str]
    token: str | None = None
    resources: tuple[str, ...] = ()
    watched: tuple[str, ...] = ()  # --watch resources (plural.group), watched in this namespace only
    language: LanguageChoice = UNDECIDED  # resolve_deployment looks at the pod template; else the catalog's word
    skipped_ports: tuple[str, ...] = ()
    image: str = ""  # the controller container's image in the pod template; its tag is the release
    cpu_limit: float | None = None  # cores, the profiled container's resources.limits.cpu (the report's CPU line)

    def __post_init__(self) -> None:
        if self.language is UNDECIDED:
            self.language = detect(None, self.spec)

    def target_spec(self) -> dict[str, Any]:
        return {
            "alias": self.spec.alias if self.spec else None, "deployment": self.name, "namespace": self.namespace,
            "selector": self.selector, "container": self.container, "args": self.args,
            "endpoints": [e.as_dict() for e in self.endpoints], "resources": list(self.resources),
            "watched": list(self.watched), "language": self.language.language, "language_reason": self.language.as_dict(),
            "skipped_ports": list(self.skipped_ports), "pods": [], "cpu_limit": self.cpu_limit,
            "image": self.image or None, **self.release(),
        }

    def release(self) -> dict[str, Any]:
        """``version`` and ``version_source`` from the image tag, for recommendations that depend on the release."""
        version = version_from_image(self.image)
        return {"version": version, "version_source": f"image tag of {self.image}"} if version else {}

    def plan_text(self) -> str:
        """One line for the terminal: which profiler each pod gets and why, and which ports are left alone."""
        pprof = [f"port {e.label}" for e in self.endpoints if e.role == "pprof"]
        if self.language.language == "python":
            how = "py-spy through exec where allowed, else a node agent"
        else:
            how = f"pprof from {', '.join(pprof)}" if pprof else "no pprof (no pprof port)"
            if self.language.evidence == "default":
                how += ", or py-spy if an exec probe finds a Python process"
        skipped = f"; ports skipped: {'; '.join(self.skipped_ports)}" if self.skipped_ports else ""
        version = self.release().get("version")
        release = f"; release {version} (image tag)" if version else ""
        return (f"deployment {self.namespace}/{self.name}: each pod gets {how} (language {self.language.language}: "
                f"{self.language.reason}){skipped}{release}")


def selector_text(selector: dict[str, Any]) -> str:
    """A label selector dict (matchLabels, matchExpressions) as the string the list API takes."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def pod_ready_for_capture(pod: dict[str, Any]) -> bool:
    """Running, with an IP, and not being deleted."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    return not meta.get("deletionTimestamp") and status.get("phase") == "Running" and bool(status.get("podIP"))


def restart_counts(pod: dict[str, Any]) -> dict[str, int]:
    """containerStatuses restartCount by container name."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {str(s.get("name")): int(s.get("restartCount") or 0) for s in statuses}


class PrefixedFetcher:
    """Serves the collectors' ``/debug/pprof/...`` paths from another base path (a catalog ``pprof:`` value)."""

    def __init__(self, inner: Fetcher, base: str) -> None:
        self.inner, self.base = inner, base.rstrip("/")

    def describe(self) -> str:
        return self.inner.describe()

    def fetch(self, path: str, timeout: float) -> bytes:
        if path.startswith(DEFAULT_PPROF):
            path = self.base + path[len(DEFAULT_PPROF):]
        return self.inner.fetch(path, timeout)


class PodScoped(Collector):
    """Runs a per-pod collector until its pod goes away or the capture stops (whichever comes first)."""

    def __init__(self, inner: Collector, pod_stop: threading.Event,
                 quiet: Callable[[], bool] = lambda: False) -> None:
        self.inner = inner
        super().__init__(inner.sink, inner.target, inner.instance, inner.options)
        self.kind = inner.kind
        self.stats = inner.stats
        self.pod_stop = pod_stop
        report = inner.error

        def error(message: str) -> None:
            if not quiet():  # during an API server outage the one gap event says it all
                report(message)

        setattr(inner, "error", error)

    @property
    def expected_done(self) -> float | None:
        return self.inner.expected_done

    @expected_done.setter
    def expected_done(self, value: float | None) -> None:
        pass  # the inner collector's own value is what counts

    def describe(self) -> str:
        return self.inner.describe()

    def run(self, stop: threading.Event) -> None:
        self.inner.run(self.pod_stop)


@dataclass
class _Pod:
    name: str
    stop: threading.Event
    restarts: dict[str, int]
    info: dict[str, Any] = field(default_factory=dict)


class PodFollower(Collector):
    """Lists and watches the Deployment's pods: starts collectors per new pod, stops them when it goes."""

    kind = "pods"

    def __init__(self, sink: Sink, options: CaptureOptions, access: KubeAccess, deployment: ResolvedDeployment,
                 target: Target) -> None:
        super().__init__(sink, deployment.target, "", options)
        self.access = access
        self.deployment = deployment
        self.target_record = target
        self.pods: dict[str, _Pod] = {}
        self.hashes: set[str] = set()
        self.resource_version = ""
        self._lock = threading.Lock()

    def describe(self) -> str:
        d = self.deployment
        return f"pods of deployment {d.namespace}/{d.name}"

    def event(self, kind: CaptureEventKind, message: str, pod: str = "") -> None:
        self.sink.add_event(CaptureEvent(time.time(), kind, message, self.target, pod, self.kind))

    # -- per pod ---------------------------------------------------------------------------------
    def fetcher(self, pod: str, endpoint: PodEndpoint) -> Fetcher:
        d = self.deployment
        if endpoint.auth == "bearer":
            return PortForwardFetcher(self.access, d.namespace, pod, endpoint.port, endpoint.scheme, d.token)
        return PodProxyFetcher(self.access, d.namespace, pod, endpoint.port, endpoint.scheme)

    def pod_collectors(self, pod: dict[str, Any], mid_capture: bool) -> list[Collector]:
        """The same pprof/metrics collectors as for local endpoints, with a pod Fetcher; logs per container."""
        d = self.deployment
        name = str(pod["metadata"]["name"])
        container, endpoints = select_endpoints(d.spec, pod.get("spec") or {})
        options = self.options
        if mid_capture:  # a new pod's controller may take a while to serve: no errors while it starts
            options = dataclasses.replace(self.options, started=time.time(), startup_grace=POD_STARTUP_GRACE)
        out: list[Collector] = []
        candidates: list[tuple[PodEndpoint, Fetcher]] = []
        for endpoint in for_language(endpoints, d.language.language):
            fetcher = self.fetcher(name, endpoint)
            if endpoint.role == "pprof":
                if endpoint.path.rstrip("/") != DEFAULT_PPROF:
                    fetcher = PrefixedFetcher(fetcher, endpoint.path)
                out.append(PprofCollector(self.sink, d.target, name, options, fetcher))
            elif not options.scrape_metrics:  # capture --prometheus: no scrape load on the pod
                continue
            elif endpoint.confirmed:
                out.append(MetricsCollector(self.sink, d.target, name, options, fetcher, endpoint.path))
            else:
                candidates.append((endpoint, fetcher))
        if candidates:
            out.append(ProbedMetricsCollector(self.sink, d.target, name, options, candidates))
        containers: list[str | None] = [container] if d.spec is not None and container else [
            str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
        for each in list(containers) or [None]:
            out.append(PodLogCollector(self.sink, d.target, name, options, self.access, d.namespace, name,
                                       each, from_start=mid_capture))
        if d.language.language == "python":
            out.append(self.pyspy(name, container, options))
        elif d.language.evidence == "default":
            out.append(LanguageProbe(self, name, container, options))
        return out

    def pyspy(self, pod: str, container: str | None, options: CaptureOptions) -> PodPySpyCollector:
        d = self.deployment
        return PodPySpyCollector(self.sink, d.target, pod, options, self.access, d.namespace, pod, container,
                                 on_path=functools.partial(self.profiled_through, pod))

    def pod_language(self, pod: str, container: str | None, choice: LanguageChoice) -> None:
        """What the exec probe found for ``pod``: recorded and said; a Python process gets py-spy from now on."""
        with self._lock:
            entry = self.pods.get(pod)
            if entry is None or entry.stop.is_set():
                return
            entry.info["language"] = choice.as_dict()
            if choice.language == "python":
                self.target_record.spec["language"] = "python"
        self.stats.notes.append(f"{pod}: {choice.profiler} ({choice.reason})")
        self.event("info", f"pod {pod} gets {choice.profiler}: {choice.reason}", pod)
        self._save_target()
        if choice.language == "python":
            self.spawn(PodScoped(self.pyspy(pod, container, self.options), entry.stop, lambda: self.access.health.down))

    def profiled_through(self, pod: str, path: str) -> None:
        """Record (bundle target spec, capture summary) which path py-spy took into ``pod``: exec or node agent."""
        with self._lock:
            entry = self.pods.get(pod)
            if entry is None:
                return
            entry.info["profiler"] = f"py-spy via {path}"
        self.stats.notes.append(f"{pod}: py-spy via {path}")
        self.event("info", f"py-spy profiles pod {pod} via {path}", pod)
        self._save_target()

    def start_pod(self, pod: dict[str, Any], mid_capture: bool) -> None:
        meta, status = pod["metadata"], pod.get("status") or {}
        name = str(meta["name"])
        with self._lock:
            if name in self.pods:
                return
            entry = _Pod(name, threading.Event(), restart_counts(pod),
                         {"name": name, "node": (pod.get("spec") or {}).get("nodeName"), "ip": status.get("podIP"),
                          "uid": meta.get("uid"), "added": time.time(), "removed": None})
            self.pods[name] = entry
        template_hash = (meta.get("labels") or {}).get(TEMPLATE_HASH)
        if template_hash and template_hash not in self.hashes:
            if self.hashes and mid_capture:
                self.event("rollout", f"rollout: pod {name} from new template {template_hash} "
                                      f"(before: {', '.join(sorted(self.hashes))})", name)
            self.hashes.add(template_hash)
        self.event("pod-added", f"pod {name} on {entry.info['node']} "
                                + ("appeared during the capture" if mid_capture else "present at capture start"), name)
        self.sink.touch_instance(self.target, name)
        self._save_target()
        for collector in self.pod_collectors(pod, mid_capture):
            self.spawn(PodScoped(collector, entry.stop, lambda: self.access.health.down))

    def stop_pod(self, name: str, why: str) -> None:
        with self._lock:
            entry = self.pods.get(name)
            if entry is None or entry.stop.is_set():
                return
            entry.stop.set()
            entry.info["removed"] = time.time()
        self.event("pod-removed", f"pod {name} {why}; its data is kept", name)
        self._save_target()

    def check_restarts(self, pod: dict[str, Any]) -> None:
        name = str(pod["metadata"]["name"])
        entry = self.pods.get(name)
        if entry is None:
            return
        counts = restart_counts(pod)
        for container, count in counts.items():
            before = entry.restarts.get(container, 0)
            if count > before:
                self.event("restart", f"container {container} of pod {name} restarted "
                                      f"(restartCount {before} -> {count})", name)
        entry.restarts = counts

    def _save_target(self) -> None:
        with self._lock:
            self.target_record.spec["pods"] = [dict(p.info) for p in self.pods.values()]
        self.sink.add_target(self.target_record)

    def handle(self, kind: str, pod: dict[str, Any], mid_capture: bool = True) -> None:
        """One watch event (ADDED/MODIFIED/DELETED) of one pod."""
        name = str((pod.get("metadata") or {}).get("name") or "")
        if not name:
            return
        if kind == "DELETED":
            self.stop_pod(name, "was deleted")
            return
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.stop_pod(name, "is terminating")
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            self.stop_pod(name, f"ended ({phase})")
            return
        if name in self.pods:
            self.check_restarts(pod)
        elif pod_ready_for_capture(pod):
            self.start_pod(pod, mid_capture)

    # -- list and watch --------------------------------------------------------------------------
    def source(self) -> KubeListWatch:
        from kubernetes import client

        d = self.deployment
        return KubeListWatch(client.CoreV1Api(self.access.api).list_namespaced_pod, (d.namespace,),
                             {"label_selector": d.selector}, self.access.api.sanitize_for_serialization,
                             "pods", d.namespace, self.access.server)

    def relist(self, listed: Listed) -> None:
        """Every pod there is now: start the new ones, stop those that went while we were not watching."""
        d = self.deployment
        self.resource_version = listed.resource_version
        seen = set()
        for pod in listed.items:
            seen.add(pod["metadata"]["name"])
            self.handle("MODIFIED", pod, mid_capture=not listed.first)
        for name in [n for n in self.pods if n not in seen]:
            self.stop_pod(name, "was deleted")
        if listed.first and not self.pods:
            self.info(f"deployment {d.namespace}/{d.name} has no running pod yet; waiting for one")
        self.answered = True

    def _relay(self, stop: threading.Event) -> None:
        stop.wait()
        with self._lock:
            for entry in self.pods.values():
                entry.stop.set()

    def run(self, stop: threading.Event) -> None:
        threading.Thread(target=self._relay, args=(stop,), daemon=True, name=f"pod-stop-relay:{self.target}").start()
        d = self.deployment
        for step in list_watch(self.source(), stop, what=("pods", d.namespace), health=self.access.health,
                               backoff=Backoff(cap=MAX_BACKOFF)):
            if isinstance(step, Listed):
                self.relist(step)
            elif isinstance(step, Changed):
                self.resource_version = str((step.obj.get("metadata") or {}).get("resourceVersion")
                                            or self.resource_version)
                self.handle(step.kind, step.obj)
            elif isinstance(step.error, Forbidden):
                self.error(str(step.error))
            elif not isinstance(step.error, Unreachable):  # an outage is one gap event, told by ApiHealth
                self.error(f"watching pods: {step.error}")


def resolve_deployment(access: KubeAccess, given: str, namespace: str | None, extra: list[CollectorSpec],
                       token_file: str | None = None) -> ResolvedDeployment:
    """Find the Deployment (catalog alias or plain name), check pods can be listed, and choose endpoints."""
    from kubernetes import client

    from profkit.catalog import resolve
    from profkit.kube.podhttp import TOKEN_ENV, resolve_token
    from profkit.kube.rbac import first_missing, required_permissions

    explicit_ns, _, given = given.rpartition("/")  # NAMESPACE/NAME: one namespace per --deployment
    spec = resolve(given, extra)
    name = spec.deployment if spec else given
    ns = explicit_ns or namespace or (spec.namespace if spec else access.namespace)
    apps = client.AppsV1Api(access.api)
    try:
        with api_call("get", "deployments", ns, name, server=access.server):
            found = apps.read_namespaced_deployment(name, ns, _request_timeout=(5, 15))
    except NotFound as exc:
        hint = f" (catalog alias {spec.alias!r}; use -n if it runs elsewhere)" if spec else ""
        raise NotFound(f"deployment {name} not found in namespace {ns}{hint}", exc.status) from exc
    data = access.api.sanitize_for_serialization(found)
    selector = selector_text((data.get("spec") or {}).get("selector") or {})
    if not selector:
        raise BadInput(f"deployment {ns}/{name} has an empty selector")
    with api_call("list", "pods", ns, server=access.server):
        client.CoreV1Api(access.api).list_namespaced_pod(ns, label_selector=selector, limit=1, _request_timeout=(5, 15))
    pod_spec = ((data.get("spec") or {}).get("template") or {}).get("spec") or {}
    container, endpoints = select_endpoints(spec, pod_spec)
    chosen = pick_container(pod_spec, container)
    language = detect(chosen, spec)  # with no hint, each pod's process is probed through exec as it starts
    endpoints = for_language(endpoints, language.language)
    resolved = ResolvedDeployment(spec.alias if spec else name, name, ns, selector, spec, container, endpoints,
                                  container_args(chosen) if chosen else [], resources=spec.resources if spec else (),
                                  language=language, skipped_ports=tuple(skipped_ports(chosen, endpoints, language.language)),
                                  image=str(chosen.get("image") or "") if chosen else "",
                                  cpu_limit=cpu_limit_cores(chosen))
    missing = first_missing(access.api, ns, required_permissions([e.via for e in endpoints]))
    if missing:
        raise BadInput(missing)
    secure = [e for e in endpoints if e.auth == "bearer"]
    if secure:
        resolved.token = resolve_token(token_file, access)
        if not resolved.token:
            e = secure[0]
            raise BadInput(f"endpoint {e.name} ({e.scheme} port {e.port}) of {ns}/{name} needs a bearer token: the "
                           f"kubeconfig user has none; pass --token-file FILE or set {TOKEN_ENV} (a token allowed "
                           "to get nonResourceURLs /metrics and /debug/pprof/*)")
    return resolved


def probe_language(access: KubeAccess, namespace: str, pod: str, container: str | None,
                   fallback: LanguageChoice) -> LanguageChoice:
    """Ask a running pod through exec which executable its process runs; ``fallback`` when exec cannot tell."""
    from profkit.kube.language import from_probe, probe_command
    from profkit.kube.pyspy import run_exec

    try:
        result = run_exec(access.websocket_client(), namespace, pod, container, probe_command(), PROBE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - forbidden, no shell in the image, the pod went away
        reason = str(translate(exc, verb="create", resource="pods/exec", namespace=namespace)).split(";")[0]
        return LanguageChoice(fallback.language, fallback.evidence, f"{fallback.reason}; exec probe: {reason}")
    found = from_probe(result.stdout.decode(errors="replace")) if result.exit_code == 0 else None
    if found is None:
        return LanguageChoice(fallback.language, fallback.evidence,
                              f"{fallback.reason}; exec probe could not tell ({result.error or 'no answer'})")
    return found


class LanguageProbe(Collector):
    """For a container with no language hint: probes its process once, and starts py-spy when it is Python."""

    kind = "language"

    def __init__(self, follower: PodFollower, pod: str, container: str | None, options: CaptureOptions) -> None:
        super().__init__(follower.sink, follower.target, pod, options)
        self.follower, self.pod, self.container = follower, pod, container

    def describe(self) -> str:
        return f"language probe {self.follower.deployment.namespace}/{self.pod}"

    def run(self, stop: threading.Event) -> None:
        d = self.follower.deployment
        self.follower.pod_language(self.pod, self.container,
                                   probe_language(self.follower.access, d.namespace, self.pod, self.container,
                                                  d.language))
