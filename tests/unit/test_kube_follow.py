"""Following a Deployment's pods (added, removed, restarts, rollouts), log lines and object events, on a bundle."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from profkit.bundle.writer import BundleWriter
from profkit.catalog import resolve
from profkit.kube.client import KubeAccess
from profkit.kube.deployment import PodFollower, PodScoped, ResolvedDeployment
from profkit.kube.endpoints import select_endpoints
from profkit.kube.logs import PodLogCollector, split_timestamp
from profkit.kube.errors import Forbidden, KubeError
from profkit.kube.listwatch import Listed
from profkit.kube.watch import ObjectWatchCollector, is_ready, object_event
from profkit.model import Target
from profkit.sources.base import CaptureOptions, Collector, Sink


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    writer = BundleWriter(tmp_path / "bundle")
    yield Sink(writer)
    writer.close()


def rows(sink: Sink, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(sink.directory / "profkit.db") as db:
        return list(db.execute(sql).fetchall())


def pod(name: str, template: str = "abc", restarts: int = 0, phase: str = "Running",
        deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "labels": {"app": "w", "pod-template-hash": template}}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-24T09:00:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": "node-1", "containers": [{"name": "manager", "ports": [
            {"name": "metrics", "containerPort": 8080}, {"name": "pprof", "containerPort": 6060}]}]},
        "status": {"phase": phase, "podIP": "10.0.0.1",
                   "containerStatuses": [{"name": "manager", "restartCount": restarts}]},
    }


def follower(sink: Sink) -> tuple[PodFollower, list[Collector]]:
    spec = resolve("example")
    container, endpoints = select_endpoints(spec, pod("x")["spec"])
    deployment = ResolvedDeployment("example", "widget-controller", "widgets", "app=w", spec, container, endpoints,
                                    [], resources=("widgets.scale.profkit.dev",))
    access = KubeAccess(api=None, server="https://s", context="c", namespace="widgets")
    target = Target("example", "deployment", deployment.target_spec())
    started: list[Collector] = []
    f = PodFollower(sink, CaptureOptions(), access, deployment, target)
    f.spawn = started.append
    return f, started


def test_each_pod_gets_the_shared_pprof_metrics_and_log_collectors(sink: Sink) -> None:
    f, started = follower(sink)
    f.handle("MODIFIED", pod("a"), mid_capture=False)
    f.handle("MODIFIED", pod("b"), mid_capture=False)
    f.handle("MODIFIED", pod("b"), mid_capture=False)  # seen again: nothing new
    assert sorted((c.kind, c.instance) for c in started) == [
        ("logs", "a"), ("logs", "b"), ("metrics", "a"), ("metrics", "b"), ("pprof", "a"), ("pprof", "b")]
    assert all(isinstance(c, PodScoped) for c in started)
    kinds = {type(c.inner).__name__ for c in started if isinstance(c, PodScoped)}
    assert kinds == {"PprofCollector", "MetricsCollector", "PodLogCollector"}
    assert rows(sink, "SELECT kind, instance FROM events") == [("pod-added", "a"), ("pod-added", "b")]


def test_pending_pods_wait_and_a_removed_pod_stops_only_its_collectors(sink: Sink) -> None:
    f, started = follower(sink)
    f.handle("ADDED", pod("a", phase="Pending"))
    assert started == []
    f.handle("MODIFIED", pod("a"))
    f.handle("ADDED", pod("b"))
    f.handle("MODIFIED", pod("a", deleting=True))
    f.handle("DELETED", pod("a", deleting=True))
    stops = {c.instance: c.pod_stop.is_set() for c in started if isinstance(c, PodScoped)}
    assert stops == {"a": True, "b": False}
    events = rows(sink, "SELECT kind, instance FROM events")
    assert events.count(("pod-removed", "a")) == 1
    spec = rows(sink, "SELECT spec FROM targets")[0][0]
    assert '"removed": null' in spec and spec.count('"removed": ') == 2


def test_restarts_and_rollouts_are_recorded(sink: Sink) -> None:
    f, _ = follower(sink)
    f.handle("MODIFIED", pod("a", template="v1"), mid_capture=False)
    f.handle("MODIFIED", pod("a", template="v1", restarts=1))
    f.handle("MODIFIED", pod("a", template="v1", restarts=1))
    f.handle("ADDED", pod("b", template="v2"))
    kinds = [k for k, in rows(sink, "SELECT kind FROM events")]
    assert kinds == ["pod-added", "restart", "rollout", "pod-added"]
    message = rows(sink, "SELECT message FROM events WHERE kind='restart'")[0][0]
    assert "restartCount 0 -> 1" in message


def test_session_stop_reaches_every_pod_collector(sink: Sink) -> None:
    f, started = follower(sink)
    f.handle("MODIFIED", pod("a"), mid_capture=False)
    stop = threading.Event()
    relay = threading.Thread(target=f._relay, args=(stop,))
    relay.start()
    stop.set()
    relay.join(2)
    assert all(c.pod_stop.is_set() for c in started if isinstance(c, PodScoped))


def test_log_lines_keep_api_timestamps_and_drop_what_a_reconnect_reads_again(sink: Sink) -> None:
    access = KubeAccess(api=None, server="https://s", context="c", namespace="ns")
    logs = PodLogCollector(sink, "example", "pod-a", CaptureOptions(), access, "ns", "pod-a", "manager")
    first = '2026-11-24T09:03:51.238744321Z {"level":"info","ts":"2026-11-24T09:03:51Z","msg":"widget is ready",' \
            '"controller":"widget","namespace":"w","name":"a"}'
    second = "2026-11-24T09:03:52.000000001Z I1124 09:03:52.000000       1 request.go:700] Waited for 1.2s"
    for line in (first, second, first, second, ""):
        logs.add_line(line)
    logs.batch.flush()
    stored = rows(sink, "SELECT ts, instance, controller, object_key, message FROM logs ORDER BY ts")
    assert len(stored) == 2 and logs.stats.log_lines == 2
    assert stored[0][0] == pytest.approx(1795511031.2387443) and stored[0][1:4] == ("pod-a", "widget", "w/a")
    assert split_timestamp("no-stamp here") == (None, "no-stamp here")


def test_object_events_carry_deletion_finalizers_and_readiness(sink: Sink) -> None:
    obj = {"metadata": {"name": "w1", "namespace": "ns", "uid": "u1", "deletionTimestamp": "2026-11-24T09:00:00Z",
                        "finalizers": ["scale.profkit.dev/cleanup"]}, "status": {"ready": True}}
    event = object_event(obj, "modified", "widgets.scale.profkit.dev", "example", ts=5.0)
    assert (event.key, event.uid, event.deletion_ts, event.finalizers, event.ready) == \
        ("ns/w1", "u1", 1795510800.0, ["scale.profkit.dev/cleanup"], True)
    assert is_ready({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}) is False
    assert is_ready({"status": {}}) is None


def test_a_relist_turns_differences_into_events(sink: Sink) -> None:
    access = KubeAccess(api=None, server="https://s", context="c", namespace="ns")
    watcher = ObjectWatchCollector(sink, "example", CaptureOptions(started=100.0), access, "widgets.scale.profkit.dev")

    def item(name: str, rv: str, created: str = "2026-11-24T09:00:00Z") -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": rv,
                             "creationTimestamp": created}}

    watcher.relist(Listed([item("old", "1"), item("kept", "2")], "10", first=True))
    watcher.relist(Listed([item("kept", "3"), item("new", "4")], "20", first=False))
    events = rows(sink, "SELECT event, name FROM objects ORDER BY id")
    assert events[:2] == [("added", "old"), ("added", "kept")]  # created after the capture started (100.0)
    assert sorted(events[2:]) == [("added", "new"), ("deleted", "old"), ("modified", "kept")]
    assert watcher.resource_version == "20"


def test_pod_collector_errors_are_quiet_during_an_api_server_outage(sink: Sink) -> None:
    f, started = follower(sink)
    f.handle("MODIFIED", pod("a"), mid_capture=False)
    metrics = next(c for c in started if c.kind == "metrics" and isinstance(c, PodScoped))
    f.access.health.failed("connection refused")
    metrics.inner.error("scrape: connection refused")
    assert rows(sink, "SELECT kind FROM events WHERE kind IN ('error', 'gap')") == []  # no emitter attached
    f.access.health.down_since = None
    metrics.inner.error("scrape: HTTP 500")
    assert rows(sink, "SELECT kind, message FROM events WHERE kind='error'") == [("error", "scrape: HTTP 500")]


def test_pod_metrics_become_cpu_cores_and_working_set_bytes() -> None:
    from profkit.kube.usage import CPU_SERIES, MEMORY_SERIES, pod_samples

    item = {"metadata": {"name": "p"}, "containers": [
        {"name": "manager", "usage": {"cpu": "250m", "memory": "64Mi"}},
        {"name": "kube-rbac-proxy", "usage": {"cpu": "1234567n", "memory": "10Mi"}}]}
    labels = {"container": "manager", "source": "metrics.k8s.io"}
    assert pod_samples(item, "manager") == [(CPU_SERIES, labels, 0.25), (MEMORY_SERIES, labels, 64 * 1024 * 1024)]
    everything = pod_samples(item, None)
    assert len(everything) == 4 and everything[2][2] == pytest.approx(0.001234567)


def test_a_pprof_base_path_other_than_debug_pprof_is_mapped() -> None:
    from profkit.kube.deployment import PrefixedFetcher

    asked: list[str] = []

    class Recorder:
        def describe(self) -> str:
            return "pod"

        def fetch(self, path: str, timeout: float) -> bytes:
            asked.append(path)
            return b""

    fetcher = PrefixedFetcher(Recorder(), "/internal/pprof/")
    fetcher.fetch("/debug/pprof/profile?seconds=30", 45)
    fetcher.fetch("/metrics", 5)
    assert asked == ["/internal/pprof/profile?seconds=30", "/metrics"]


class FakeStream:
    """A log response: the given bytes, then EOF (a dropped follow or a terminated container)."""

    def __init__(self, data: bytes) -> None:
        self.chunks = [data] if data else []

    def read1(self, amt: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def read(self, amt: int | None = None) -> bytes:
        data = b"".join(self.chunks)
        self.chunks = []
        return data

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_logs_reconnect_after_a_drop_and_read_the_previous_container_after_a_restart(
        sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from kubernetes import client

    stop = threading.Event()
    calls: list[dict[str, Any]] = []
    restarts = iter([0, 1, 1, 1, 1])
    line = '2026-11-24T09:00:0{}.000000000Z {{"level":"info","msg":"{}"}}\n'
    streams = {
        (False, 0): FakeStream((line.format(1, "one") + line.format(2, "two")).encode()),
        (True, 0): FakeStream((line.format(2, "two") + line.format(3, "last words")).encode()),
        (False, 1): FakeStream((line.format(3, "last words") + line.format(4, "after restart")).encode()),
    }
    follows = [0]

    class FakeCore:
        def __init__(self, api: object) -> None:
            pass

        def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: Any) -> FakeStream:
            calls.append(kwargs)
            previous = bool(kwargs.get("previous"))
            if not previous:
                follows[0] += 1
                if follows[0] > 2:
                    stop.set()
                    return FakeStream(b"")
            return streams[(previous, 0 if previous else follows[0] - 1)]

        def read_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> Any:
            status = SimpleNamespace(name="manager", restart_count=next(restarts))
            return SimpleNamespace(status=SimpleNamespace(container_statuses=[status]))

    monkeypatch.setattr(client, "CoreV1Api", FakeCore)
    access = KubeAccess(api=None, server="https://s", context="c", namespace="ns")
    logs = PodLogCollector(sink, "example", "pod-a", CaptureOptions(started=1.0), access, "ns", "pod-a", "manager")
    logs.run(stop)
    messages = [m for m, in rows(sink, "SELECT message FROM logs ORDER BY ts")]
    assert messages == ["one", "two", "last words", "after restart"]
    assert calls[0]["follow"] and calls[0]["timestamps"] and calls[0]["container"] == "manager"
    assert [bool(c.get("previous")) for c in calls] == [False, True, False, False]
    assert all("since_seconds" in c for c in calls[1:])  # reconnects start from the last line read
    assert rows(sink, "SELECT kind FROM events") == []


class ScriptedSource:
    """A fake list/watch API: one list answer (or error), then the scripted watch events, then quiet."""

    def __init__(self, listing: dict[str, Any] | KubeError, events: list[dict[str, Any]],
                 stop_after: threading.Event | None = None) -> None:
        self.listing, self.events, self.stop_after = listing, events, stop_after

    def list(self) -> dict[str, Any]:
        if isinstance(self.listing, KubeError):
            raise self.listing
        return self.listing

    def watch(self, resource_version: str) -> Iterator[dict[str, Any]]:
        events, self.events = self.events, []
        yield from events
        if self.stop_after is not None:
            self.stop_after.set()  # the capture ends after the scripted events


def test_a_forbidden_cluster_wide_watch_falls_back_to_the_namespace(sink: Sink) -> None:
    access = KubeAccess(api=None, server="https://s", context="c", namespace="ns")
    watcher = ObjectWatchCollector(sink, "example", CaptureOptions(started=0.0), access, "widgets.scale.profkit.dev",
                                   fallback_namespace="ns")
    watcher.version = "v1"
    watcher._discovered = lambda stop: True  # type: ignore[method-assign]
    stop = threading.Event()
    widget = {"metadata": {"name": "w1", "namespace": "ns", "uid": "u1", "resourceVersion": "6"}}
    sources = {None: ScriptedSource(Forbidden("forbidden: cannot list widgets in all namespaces", 403), []),
               "ns": ScriptedSource({"metadata": {"resourceVersion": "5"}, "items": []},
                                    [{"type": "ADDED", "object": widget}], stop)}
    watcher.source = lambda: sources[watcher.namespace]  # type: ignore[method-assign]
    watcher.run(stop)
    assert watcher.namespace == "ns" and watcher.resource_version == "6"
    assert rows(sink, "SELECT event, name FROM objects") == [("added", "w1")]
    assert rows(sink, "SELECT kind FROM events WHERE kind='error'") == []


def test_the_pod_follower_starts_listed_pods_and_stops_deleted_ones(sink: Sink) -> None:
    f, started = follower(sink)
    stop = threading.Event()
    source = ScriptedSource({"metadata": {"resourceVersion": "1"}, "items": [pod("a")]},
                            [{"type": "ADDED", "object": pod("b")}, {"type": "DELETED", "object": pod("a")}], stop)
    f.source = lambda: source  # type: ignore[method-assign,assignment,return-value]
    f.run(stop)
    assert set(f.pods) == {"a", "b"} and f.pods["a"].stop.is_set() and f.answered
    kinds = rows(sink, "SELECT kind, instance FROM events WHERE kind LIKE 'pod-%' ORDER BY id")
    assert kinds == [("pod-added", "a"), ("pod-added", "b"), ("pod-removed", "a")]
