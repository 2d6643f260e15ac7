"""KubeListWatch through the real kubernetes client against a local HTTP server speaking the list/watch protocol."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from profkit.kube.errors import Forbidden
from profkit.kube.listwatch import Changed, Failed, KubeListWatch, Listed, list_watch
from profkit.sources.backoff import Backoff


def pod(name: str, rv: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}",
                                                           "resourceVersion": rv}}


class ApiServer(http.server.BaseHTTPRequestHandler):
    """Lists at resourceVersion 10 then 20; watches: from 10 an ADDED and a BOOKMARK, from 15 a 410, from 20 a 403."""

    asked: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        watching = query.get("watch") == "true"
        rv = query.get("resourceVersion", "")
        self.asked.append(("watch" if watching else "list", rv))
        if not watching:
            lists = sum(1 for kind, _ in self.asked if kind == "list")
            items = [pod("a", "5")] if lists == 1 else [pod("b", "11")]
            self._json(200, {"kind": "PodList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": "10" if lists == 1 else "20"}, "items": items})
            return
        if rv == "20":
            self._json(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                             "code": 403, "message": 'pods is forbidden: User "u" cannot watch resource "pods"'})
            return
        events = {"10": [{"type": "ADDED", "object": pod("b", "11")},
                         {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                                         "metadata": {"resourceVersion": "15"}}}],
                  "15": [{"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                      "reason": "Expired", "code": 410,
                                                      "message": "too old resource version: 15 (18)"}}]}[rv]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        for event in events:
            self.wfile.write(json.dumps(event).encode() + b"\n")
            self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[Any]:
    ApiServer.asked = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    yield client.ApiClient(configuration)
    server.shutdown()


def test_list_watch_with_the_kubernetes_client_follows_bookmarks_relists_on_410_and_names_a_403(api: Any) -> None:
    source = KubeListWatch(client.CoreV1Api(api).list_namespaced_pod, ("ns",), {"label_selector": "app=x"},
                           api.sanitize_for_serialization, "pods", "ns", "http://test")
    stop = threading.Event()
    steps = list(list_watch(source, stop, iterations=3, backoff=Backoff(first=0.01, cap=0.01)))
    assert [type(s).__name__ for s in steps] == ["Listed", "Changed", "Listed", "Failed"]
    first, added, relisted, failed = steps
    assert isinstance(first, Listed) and first.resource_version == "10" and first.first
    assert [p["metadata"]["name"] for p in first.items] == ["a"]
    assert isinstance(added, Changed) and added.kind == "ADDED" and added.obj["metadata"]["name"] == "b"
    assert isinstance(relisted, Listed) and relisted.resource_version == "20" and not relisted.first
    assert isinstance(failed, Failed) and isinstance(failed.error, Forbidden)
    assert str(failed.error).startswith("forbidden: cannot watch pods in namespace ns (needs get/list/watch on pods)")
    assert ApiServer.asked == [("list", ""), ("watch", "10"), ("watch", "15"), ("list", ""), ("watch", "20")]
