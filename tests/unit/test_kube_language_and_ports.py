"""Which profiler a pod gets (language from catalog, command, image, ports, exec probe) and which ports are scraped."""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from profkit.bundle.writer import BundleWriter
from profkit.catalog import load_collector_file, resolve
from profkit.errors import BadInput
from profkit.kube.client import KubeAccess
from profkit.kube.deployment import PodFollower, PodScoped, ResolvedDeployment
from profkit.kube.endpoints import PodEndpoint, for_language, from_ports, select_endpoints, skipped_ports
from profkit.kube.language import detect, from_probe
from profkit.kube.portprobe import ProbedMetricsCollector, is_prometheus_text
from profkit.kube.pyspy_collector import PodPySpyCollector
from profkit.model import Target
from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.sources.http import HttpFetcher
from profkit.sources.metrics import MetricsCollector
from profkit.sources.pprof import PprofCollector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pod-specs"
METRICS_TEXT = (Path(__file__).resolve().parents[1] / "fixtures" / "controller-metrics.txt").read_bytes()


def pod_spec(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((FIXTURES / f"{name}.yaml").read_text()))


def container(name: str) -> dict[str, Any]:
    return dict(pod_spec(name)["containers"][0])


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    writer = BundleWriter(tmp_path / "bundle")
    yield Sink(writer)
    writer.close()


def test_a_kopf_operator_is_python_from_its_command_and_its_healthz_port_is_not_scraped() -> None:
    kopf = container("kopf-operator")
    choice = detect(kopf, None)
    assert (choice.language, choice.evidence, choice.profiler) == ("python", "command", "py-spy")
    assert choice.reason == "container command runs kopf"
    assert from_ports(kopf) == []
    assert skipped_ports(kopf, []) == ["healthz (8080): named for something else than metrics"]


def test_the_python_example_is_python_from_its_image_and_gets_no_pprof_collector() -> None:
    spec = pod_spec("e2e-python-example")
    choice = detect(spec["containers"][0], None)
    assert (choice.language, choice.evidence) == ("python", "image")
    _, endpoints = select_endpoints(None, spec)
    kept = for_language(endpoints, choice.language)
    assert [(e.role, e.port, e.confirmed) for e in kept] == [("metrics", 8080, True)]
    assert skipped_ports(spec["containers"][0], kept, "python") == [
        "pprof (6060): Go's pprof port, and this is a Python container (py-spy profiles it)"]


def test_go_examples_stay_go_and_the_catalog_has_the_last_word() -> None:
    go = detect(container("e2e-go-example"), None)
    assert (go.language, go.evidence, go.profiler) == ("go", "ports", "pprof")
    catalog = detect(container("e2e-go-example"), resolve("example-python"))
    assert (catalog.language, catalog.evidence) == ("python", "catalog")
    plain = detect({"name": "manager", "image": "registry.k8s.io/cluster-api/cluster-api-controller:v1.9.4",
                    "command": ["/manager"], "args": ["--leader-elect"]}, None)
    assert (plain.language, plain.evidence) == ("go", "default")


def test_a_shell_wrapped_server_is_python_and_an_unnamed_port_is_only_a_candidate() -> None:
    app = container("gunicorn-sh-wrapper")
    assert detect(app, None).reason == "container command runs gunicorn"
    endpoints = from_ports(app)
    assert [(e.role, e.port, e.confirmed) for e in endpoints] == [("metrics", 9000, False)]
    assert skipped_ports(app, endpoints) == ["health (8081): named for something else than metrics"]


def test_the_exec_probe_reads_the_process_executable() -> None:
    assert from_probe("/usr/local/bin/python3.12\n") is not None
    python = from_probe("/usr/local/bin/python3.12\n")
    assert python is not None and (python.language, python.evidence) == ("python", "exec probe")
    go = from_probe("/manager\n")
    assert go is not None and go.language == "go"
    assert from_probe("") is None


def test_a_collector_file_language_must_be_go_or_python(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("alias: x\ndeployment: x\nnamespace: ns\nlanguage: rust\n")
    with pytest.raises(BadInput, match=r"c\.yaml: language must be one of go, python \(got 'rust'\)"):
        load_collector_file(path)


class _Pages(http.server.BaseHTTPRequestHandler):
    """/metrics on the "metrics" server is Prometheus text; the "healthz" server answers 404 as kopf's does."""

    serves_metrics = False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.serves_metrics and self.path == "/metrics":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(METRICS_TEXT)
            return
        self.send_response(404)
        self.end_headers()
        self.wfile.write(b"404: Not Found")

    def log_message(self, *args: Any) -> None:
        pass


def _serve(serves_metrics: bool) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("Handler", (_Pages,), {"serves_metrics": serves_metrics})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_probed_port_is_scraped_only_when_it_answers_prometheus_text(sink: Sink) -> None:
    health, health_url = _serve(False)
    metrics, metrics_url = _serve(True)
    try:
        candidates = [(PodEndpoint("metrics", 8080, name="web", confirmed=False), HttpFetcher(health_url)),
                      (PodEndpoint("metrics", 9090, confirmed=False, name="9090"), HttpFetcher(metrics_url))]
        collector = ProbedMetricsCollector(sink, "op", "pod-a", CaptureOptions(startup_grace=0.0), candidates)
        chosen = collector.choose(threading.Event())
        assert chosen is not None and chosen.port == 9090 and collector.fetcher.describe() == metrics_url
        assert collector.scrape_once() and collector.stats.points > 0
        assert collector.stats.notes == [f"pod-a: port web (8080) not scraped: GET /metrics failed "
                                         f"(GET {health_url}/metrics: HTTP 404: 404: Not Found)"]
    finally:
        health.shutdown()
        metrics.shutdown()
    assert is_prometheus_text(METRICS_TEXT) and not is_prometheus_text(b"<html><body>ok</body></html>")
    assert not is_prometheus_text(b'{"status": "ok"}')


def test_a_python_deployment_gets_py_spy_per_pod_and_records_the_path(sink: Sink) -> None:
    spec = pod_spec("e2e-python-example")
    choice = detect(spec["containers"][0], None)
    container_name, endpoints = select_endpoints(None, spec)
    deployment = ResolvedDeployment("py", "py", "ns", "app=py", None, container_name,
                                    for_language(endpoints, choice.language), [], language=choice)
    access = KubeAccess(api=None, server="https://s", context="c", namespace="ns")
    target = Target("py", "deployment", deployment.target_spec())
    started: list[Collector] = []
    follower = PodFollower(sink, CaptureOptions(), access, deployment, target)
    follower.spawn = started.append
    pod = {"metadata": {"name": "py-1", "uid": "u"}, "spec": {"nodeName": "n", **spec},
           "status": {"phase": "Running", "podIP": "10.0.0.2"}}
    follower.handle("MODIFIED", pod, mid_capture=False)
    kinds = [type(c.inner) for c in started if isinstance(c, PodScoped)]
    assert PodPySpyCollector in kinds and MetricsCollector in kinds and PprofCollector not in kinds
    spy = next(c.inner for c in started if isinstance(c, PodScoped) and isinstance(c.inner, PodPySpyCollector))
    spy._tell_path("exec")
    spy._tell_path("exec")  # said once
    assert follower.stats.notes == ["py-1: py-spy via exec"]
    assert deployment.plan_text().startswith("deployment ns/py: each pod gets py-spy through exec where allowed")
    with sqlite3.connect(sink.directory / "profkit.db") as db:
        stored = json.loads(db.execute("SELECT spec FROM targets WHERE name='py'").fetchone()[0])
    assert stored["language"] == "python" and stored["language_reason"]["evidence"] == "image"
    assert [p["profiler"] for p in stored["pods"]] == ["py-spy via exec"]


def test_a_pod_with_no_language_hint_is_probed_and_gets_py_spy_when_python(sink: Sink) -> None:
    from profkit.kube.deployment import LanguageProbe

    spec = {"containers": [{"name": "op", "image": "registry.example.com/team/op:1",
                            "ports": [{"name": "metrics", "containerPort": 8080}]}]}
    choice = detect(spec["containers"][0], None)
    assert choice.evidence == "default"
    deployment = ResolvedDeployment("op", "op", "ns", "app=op", None, "op", from_ports(spec["containers"][0]), [],
                                    language=choice)
    assert deployment.plan_text().endswith("or py-spy if an exec probe finds a Python process (language go: no "
                                           "Python interpreter in the container's command, args or image)")
    access = KubeAccess(api=None, server="https://s", context="c", namespace="ns")
    follower = PodFollower(sink, CaptureOptions(), access, deployment, Target("op", "deployment",
                                                                              deployment.target_spec()))
    started: list[Collector] = []
    follower.spawn = started.append
    pod = {"metadata": {"name": "op-1", "uid": "u"}, "spec": {"nodeName": "n", **spec},
           "status": {"phase": "Running", "podIP": "10.0.0.3"}}
    follower.handle("MODIFIED", pod, mid_capture=False)
    inner = [type(c.inner) for c in started if isinstance(c, PodScoped)]
    assert LanguageProbe in inner and PodPySpyCollector not in inner
    found = from_probe("/usr/local/bin/python3.11")
    assert found is not None
    follower.pod_language("op-1", "op", found)
    assert isinstance(started[-1], PodScoped) and isinstance(started[-1].inner, PodPySpyCollector)
    assert follower.stats.notes == ["op-1: py-spy (the container's process runs /usr/local/bin/python3.11)"]
    with sqlite3.connect(sink.directory / "profkit.db") as db:
        stored = json.loads(db.execute("SELECT spec FROM targets WHERE name='op'").fetchone()[0])
    assert stored["language"] == "python" and stored["pods"][0]["language"]["evidence"] == "exec probe"
