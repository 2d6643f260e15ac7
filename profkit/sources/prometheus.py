"""Prometheus (or Thanos/Mimir) as a source: an HTTP API client and the import of a past run into a bundle."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from profkit.errors import BadInput
from profkit.model import CaptureEvent, Target

MAX_POINTS_PER_SERIES = 11_000  # Prometheus refuses a query_range over this many steps
CHUNK_STEPS = 10_000  # what one query_range asks for, under the limit
MAX_SAMPLES_PER_QUERY = 5_000_000  # well under the default --query.max-samples (50M)
POINTS_PER_SLICE = 200_000  # samples a slice of a streaming read holds at one sample per series a second
# Labels the scrape (service discovery, kube-prometheus-stack relabelling) adds; not the process' own.
TARGET_LABELS = ("job", "instance", "namespace", "pod", "container", "endpoint", "service", "node",
                 "prometheus", "prometheus_replica", "metrics_path")
APART = ("container", "job", "instance")  # what tells two scrape targets of one pod apart, in this order
KSM_RESTARTS = "kube_pod_container_status_restarts_total"
# kube-state-metrics' series carry the pods they describe as labels (honor_labels): about the pod, not its metrics
KSM_PREFIX = "kube_"
KUBELET_JOB = "kubelet"  # kube-prometheus-stack's kubelet/cAdvisor job: per-container series about the pod


def from_kubelet(labels: dict[str, str]) -> bool:
    """cAdvisor's (the kubelet's) series about a pod's containers: kept per container, not a scrape target."""
    return labels.get("job") == KUBELET_JOB or labels.get("metrics_path", "").startswith("/metrics/cadvisor")
# Series Prometheus makes about each scrape itself; not the process' metrics.
SCRAPE_SERIES = ("up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                 "scrape_series_added", "scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes")

Labels = tuple[tuple[str, str], ...]
# The API paths that take a form-encoded POST (Prometheus' router, Thanos' and Mimir's alike); the others GET only.
POST_PATHS = frozenset({"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
                        "/api/v1/query_exemplars"})


@dataclass(frozen=True)
class Auth:
    """How to authenticate: a bearer token, or basic auth; a CA file for HTTPS."""

    token: str | None = None
    user: str | None = None
    password: str | None = None
    ca_file: Path | None = None


class PrometheusClient:
    """The Prometheus HTTP API (``/api/v1/...``) under a base URL that may carry a path prefix (Mimir's /prometheus)."""

    def __init__(self, url: str, auth: Auth = Auth(), timeout: float = 60.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BadInput(f"{url}: not an http(s) URL of a Prometheus server")
        self.url = url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.context: ssl.SSLContext | None = None
        if parsed.scheme == "https":
            try:
                self.context = ssl.create_default_context(cafile=str(auth.ca_file) if auth.ca_file else None)
            except (OSError, ssl.SSLError) as exc:
                raise BadInput(f"--ca-file {auth.ca_file}: {getattr(exc, 'strerror', None) or exc}") from None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "profkit"}
        if self.auth.token:
            headers["Authorization"] = f"Bearer {self.auth.token}"
        elif self.auth.user is not None:
            pair = f"{self.auth.user}:{self.auth.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return headers

    def get(self, path: str, params: list[tuple[str, str]]) -> Any:
        """``data`` of an API answer; every HTTP, transport and PromQL error is a one-line BadInput.

        Queries and series lookups are POSTed (a long selector does not fit a URL); the rest of the API
        (metadata, status) answers GET only: Prometheus 2.42 says 405 to a POST there.
        """
        encoded = urllib.parse.urlencode(params)
        if path in POST_PATHS:
            request = urllib.request.Request(f"{self.url}{path}", data=encoded.encode(), headers={
                **self._headers(), "Content-Type": "application/x-www-form-urlencoded"}, method="POST")
        else:
            request = urllib.request.Request(f"{self.url}{path}" + (f"?{encoded}" if encoded else ""),
                                             headers=self._headers(), method="GET")
        where = f"{self.url}{path}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
            raise BadInput(f"{where}: {_http_error(status, raw, self.auth)}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = getattr(reason, "strerror", None) or str(reason)
            raise BadInput(f"{self.url}: unreachable ({text})") from None
        except (TimeoutError, OSError) as exc:
            raise BadInput(f"{self.url}: unreachable ({getattr(exc, 'strerror', None) or exc or 'timed out'})") from None
        answer = _json(raw)
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise BadInput(f"{where}: {_http_error(status, raw, self.auth)}")
        return answer.get("data")

    def series(self, match: str, start: float, end: float) -> list[dict[str, str]]:
        data = self.get("/api/v1/series", [("match[]", match), ("start", _ts(start)), ("end", _ts(end))])
        return [dict(item) for item in data or []]

    def query(self, query: str, at: float) -> Any:
        return self.get("/api/v1/query", [("query", query), ("time", _ts(at))])

    def query_range(self, query: str, start: float, end: float, step: float, series_count: int = 1
                    ) -> dict[Labels, list[tuple[float, float]]]:
        """A range query in chunks of at most CHUNK_STEPS steps (and a bounded sample count), merged per series."""
        if step <= 0:
            raise BadInput(f"step {step:g}s: must be positive")
        steps_per_chunk = max(1, min(CHUNK_STEPS, MAX_SAMPLES_PER_QUERY // max(series_count, 1)))
        out: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + step * (steps_per_chunk - 1))
            data = self.get("/api/v1/query_range", [("query", query), ("start", _ts(chunk_start)),
                                                    ("end", _ts(chunk_end)), ("step", f"{step:g}")])
            if not isinstance(data, dict) or data.get("resultType") != "matrix":
                raise BadInput(f"{self.url}: query_range of {query!r} did not return a matrix")
            for item in data.get("result", []):
                labels = tuple(sorted(item.get("metric", {}).items()))
                out[labels].extend((float(t), _float(v)) for t, v in item.get("values", []))
            chunk_start = chunk_end + step
        return dict(out)


def _ts(value: float) -> str:
    return f"{value:.3f}"


def _float(text: str) -> float:
    return float(text)  # Prometheus writes NaN, +Inf, -Inf as Python reads them


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _http_error(status: int, raw: bytes, auth: Auth) -> str:
    """One line for a failed API call: Prometheus' own errorType and error when it sent them."""
    answer = _json(raw)
    if isinstance(answer, dict) and answer.get("status") == "error":
        return f"{answer.get('errorType', 'error')}: {str(answer.get('error', '')).splitlines()[0][:300]} (HTTP {status})"
    if status == 401:
        how = "the token was refused" if auth.token else "the password was refused" if auth.user else \
            "authentication required: pass --token/--token-file or --user/--password"
        return f"HTTP 401 Unauthorized ({how})"
    if status == 403:
        return "HTTP 403 Forbidden (the credentials may not read this Prometheus)"
    text = raw.decode(errors="replace").strip().splitlines()
    detail = text[0][:200] if text else "empty body"
    if status == 200:
        return f"not a Prometheus API answer ({detail!r}); is the URL (and its path prefix) right?"
    return f"HTTP {status} ({detail})"


def choose_step(span: float) -> float:
    """Step from the range: 1 s for short runs, at most 15 s, ~2000 steps per series for anything between."""
    return float(min(15.0, max(1.0, math.ceil(span / 2000))))


def selector(deployment: str | None, namespace: str | None, extra: str | None) -> str:
    """PromQL matchers for a Deployment's pods (``pod=~"NAME-<hash>-<id>"``), a namespace and ``--selector``."""
    matchers: list[str] = []
    if namespace:
        matchers.append(f'namespace="{_quote(namespace)}"')
    if deployment:
        matchers.append(f'pod=~"{regex_alternatives([deployment])}-[a-z0-9]+-[a-z0-9]+"')
    if extra:
        text = extra.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        if text.strip():
            matchers.append(text.strip())
    if not matchers:
        raise BadInput("import prometheus: pass --deployment NAME [-n NS] or --selector '{job=\"...\"}'")
    return "{" + ",".join(matchers) + "}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def regex_alternatives(values: Iterable[str]) -> str:
    """``a|b|...`` matching exactly these values, as the inside of a PromQL string (its backslashes doubled:
    PromQL reads ``"\\."`` as an unknown escape; ``re.escape`` writes one before ``-`` and ``.``)."""
    return "|".join(_quote(re.escape(v)) for v in dict.fromkeys(values))


def own_labels(labels: dict[str, str]) -> dict[str, str]:
    """The process' own labels: scrape-added ones dropped, ``exported_X`` (a clash with one of them) back to X."""
    out = {k: v for k, v in labels.items() if k not in TARGET_LABELS and k != "__name__"}
    for key in list(out):
        if key.startswith("exported_") and key[len("exported_"):] in TARGET_LABELS:
            out[key[len("exported_"):]] = out.pop(key)
    return out


def instance_of(labels: dict[str, str]) -> str:
    return labels.get("pod") or labels.get("instance") or labels.get("job") or "prometheus"


def raw_samples(client: PrometheusClient, match: str, start: float, end: float,
                after: float | None = None) -> dict[Labels, list[tuple[float, float]]]:
    """The samples Prometheus stored in ``[start, end]`` (``(after, end]`` when given), at their own timestamps.

    A range vector at ``end`` (``SEL[Nms]``): the raw samples as scraped, every one exactly once, where a
    query_range would give values at its evaluation times (and ``timestamp()`` of anything but a bare
    selector gives those times too, not the samples').
    """
    lower = start if after is None else after
    window_ms = max(1, math.ceil((end - lower) * 1000) + 1)
    data = client.get("/api/v1/query", [("query", f"{match}[{window_ms}ms]"), ("time", _ts(end))])
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise BadInput(f"{client.url}: query of {match}[{window_ms}ms] did not return a matrix")
    out: dict[Labels, list[tuple[float, float]]] = {}
    for item in data.get("result", []):
        points = [(round(float(t), 3), _float(v)) for t, v in item.get("values", [])]
        kept = [(t, v) for t, v in points if (t > lower + 1e-6 if after is not None else t >= lower - 1e-6)
                and t <= end + 1e-6]
        out[tuple(sorted(item.get("metric", {}).items()))] = kept
    return out


# (instance, sample time) -> that scrape's (name, own labels, value) samples, as BundleWriter.add_points takes them
Scrapes = dict[tuple[str, float], list[tuple[str, dict[str, str], float]]]


class PointSink(Protocol):
    def add_points(self, target: str, instance: str, ts: float,
                   samples: Iterable[tuple[str, dict[str, str], float]]) -> int: ...


class SeriesReader:
    """A selection read from Prometheus slice by slice, each slice ready for the bundle as scrapes.

    A slice holds about POINTS_PER_SLICE samples (a shorter time when many series match), so what is in
    memory does not grow with the range: ``import prometheus`` and ``capture --prometheus`` write each
    slice before reading the next. A sample is read once however the range is cut; ``step`` is the
    shortest slice. ``rename`` maps Prometheus' instance (pod, else the
    instance label) to the bundle's (a capture's ``--endpoint`` instance).
    """

    def __init__(self, client: PrometheusClient, target: str, match: str, start: float, step: float,
                 series_count: int = 1, rename: Callable[[str], str] = lambda name: name) -> None:
        self.client, self.target, self.match, self.step = client, target, match, step
        self.series_count = max(series_count, 1)
        self.rename = rename
        self.start = start
        self.read_until: float | None = None  # samples up to here were read
        self.scrape_targets: dict[str, set[tuple[str, ...]]] = defaultdict(set)  # pod -> what was scraped in it
        self.instances: dict[str, dict[str, Any]] = {}
        self.keys: set[tuple[str, str, Labels]] = set()  # (instance, name, own labels) of every series read
        self.names: set[str] = set()
        self.events: list[CaptureEvent] = []
        self._restarts: dict[tuple[str, str], float] = {}  # (pod, container) -> last kube-state-metrics count
        self._restart_events: list[CaptureEvent] = []
        self._nodes: dict[str, str] = {}
        self._slice_after: float | None = None  # where the slice read last began (exclusive), for kube_state

    def learn(self, found: Iterable[dict[str, str]]) -> None:
        """Series labels (from /api/v1/series or a slice): which scrape targets share a pod."""
        for labels in found:
            if labels.get("__name__", "").startswith(KSM_PREFIX) or from_kubelet(labels):
                continue
            self.scrape_targets[self.rename(instance_of(labels))].add(tuple(labels.get(k, "") for k in APART))

    def slices(self, until: float) -> Iterator[tuple[float, float]]:
        """Time ranges from where the last read ended up to ``until``, each of at most POINTS_PER_SLICE samples
        at one sample per series per second; read each with ``read`` before taking the next."""
        length = max(self.step, float(max(1, POINTS_PER_SLICE // self.series_count)))
        while self.read_until is None or self.read_until < until:
            begin = self.start if self.read_until is None else self.read_until
            yield begin, min(until, begin + length)

    def instance_for(self, plain: dict[str, str]) -> str:
        instance = self.rename(instance_of(plain))
        if from_kubelet(plain):
            return instance
        scraped = self.scrape_targets[instance]
        if len(scraped) > 1:  # a sidecar's metrics too (kube-rbac-proxy), or two jobs: keep them apart
            index = next(i for i in range(len(APART)) if len({t[i] for t in scraped}) > 1)
            instance = f"{instance}/{plain.get(APART[index], '')}"
        return instance

    def read(self, start: float, end: float) -> Scrapes:
        """One slice (evaluations ``start``..``end``) as scrapes; samples an earlier slice read are left out."""
        samples = raw_samples(self.client, self.match, start, end, self.read_until)
        self._slice_after = self.read_until
        self.learn(dict(labels) for labels in samples)
        scrapes: Scrapes = defaultdict(list)
        for labels, points in samples.items():
            plain = dict(labels)
            name = plain.get("__name__", "")
            if not points or not name or name in SCRAPE_SERIES or name.startswith(KSM_PREFIX):
                continue
            kubelet = from_kubelet(plain)
            if kubelet and plain.get("container", "") in ("", "POD"):
                continue  # the pod's total and its pause container
            instance = self.instance_for(plain)
            info = self.instances.setdefault(instance, {"source": "prometheus", "labels": {
                k: plain[k] for k in ("namespace", "pod", "container", "job", "instance", "node") if k in plain}})
            info["first_seen"] = min(info.get("first_seen", points[0][0]), points[0][0])
            info["last_seen"] = max(info.get("last_seen", points[-1][0]), points[-1][0])
            own = own_labels(plain)
            if kubelet:  # one series per container, as profkit's metrics.k8s.io usage keeps them
                own = {**own, "container": plain["container"]}
            self.keys.add((instance, name, tuple(sorted(own.items()))))
            self.names.add(name)
            for ts, value in points:
                scrapes[(instance, ts)].append((name, own, value))
        self.read_until = end
        return scrapes

    def write(self, sink: PointSink, scrapes: Scrapes) -> int:
        """Store a slice's scrapes in time order; the number of points stored."""
        written = 0
        for (instance, ts), samples in sorted(scrapes.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            written += sink.add_points(self.target, instance, ts, samples)
        return written

    def kube_state(self, start: float, end: float, pods: Iterable[str], namespaces: Iterable[str]) -> None:
        """Restarts and nodes of these pods from kube-state-metrics' raw samples in the slice just read
        (``start``..``end``), when Prometheus has them."""
        pod_list, ns_list = sorted(set(pods)), sorted(set(namespaces))
        if not pod_list:
            return
        where = f'pod=~"{regex_alternatives(pod_list)}"' + (
            f',namespace=~"{regex_alternatives(ns_list)}"' if ns_list else "")
        for labels, points in raw_samples(self.client, f"{KSM_RESTARTS}{{{where}}}", start, end,
                                          self._slice_after).items():
            plain = dict(labels)
            key = (plain.get("pod", ""), plain.get("container", ""))
            if not points:
                continue
            before = self._restarts.get(key)
            for t, after in points:
                if before is not None and after > before:
                    self._restart_events.append(CaptureEvent(
                        t, "restart", f"container {plain.get('container', '?')} of pod {key[0]} restarted "
                        f"(kube-state-metrics: {after:g} restarts)", self.target, key[0], "prometheus"))
                before = after
            self._restarts[key] = points[-1][1]
        for labels, points in raw_samples(self.client, f"kube_pod_info{{{where}}}", start, end,
                                          self._slice_after).items():
            plain = dict(labels)
            if points:
                self._nodes[plain.get("pod", "")] = plain.get("node", "")

    def kube_state_result(self) -> list[CaptureEvent]:
        """Put what kube-state-metrics said into the instances' info; the restart events of pods read."""
        for (pod, container), count in self._restarts.items():
            if pod in self.instances:
                self.instances[pod].setdefault("restarts", {})[container] = count
        for pod, node in self._nodes.items():
            if pod in self.instances:
                self.instances[pod]["node"] = node
                self.instances[pod]["kube_state_metrics"] = True
        return [e for e in self._restart_events if e.instance in self.instances]


def metric_types(client: PrometheusClient, names: set[str]) -> dict[str, str]:
    """TYPE per family from /api/v1/metadata (what the targets declared), as the scraper keeps them."""
    try:
        data = client.get("/api/v1/metadata", [])
    except BadInput:
        return {}  # Thanos and older servers may not answer it; types are then inferred from names
    types: dict[str, str] = {}
    if isinstance(data, dict):
        for family, entries in data.items():
            kinds = {e.get("type") for e in entries if isinstance(e, dict)}
            if len(kinds) == 1 and (family in names or any(n.startswith(family) for n in names)):
                types[family] = str(kinds.pop())
    return types


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _nothing_there(client: PrometheusClient, match: str, start: float, end: float) -> str:
    """Why a selector found nothing: no such series at all, or none in this range (retention, wrong times)."""
    ever = client.series(match, 0.0, time.time() + 60)
    span = f"between {_when(start)} and {_when(end)}"
    if not ever:
        return f"{client.url}: no series match {match} (check --deployment/-n/--selector against the labels there)"
    retention = ""
    try:
        flags = client.get("/api/v1/status/flags", [])
        if isinstance(flags, dict) and flags.get("storage.tsdb.retention.time"):
            retention = f"; retention is {flags['storage.tsdb.retention.time']}"
    except BadInput:
        pass
    return f"{client.url}: {match} has no samples {span} (beyond retention or the wrong range?{retention})"


@dataclass(frozen=True)
class ImportSummary:
    points: int
    series: int
    instances: int


def import_run(client: PrometheusClient, target_name: str, match: str, start: float, end: float, out: Path,
               command: list[str], step: float | None = None, spec: dict[str, Any] | None = None,
               progress: Callable[[str], None] = lambda _: None) -> ImportSummary:
    """Read the run from Prometheus into a bundle at ``out``, slice by slice (memory bounded whatever the range).

    The bundle is written into a hidden sibling and renamed to ``out`` once complete; any error (a
    one-line BadInput: nothing to import, an HTTP or PromQL error mid-way) removes it.
    """
    from profkit.bundle import BundleWriter

    if end <= start:
        raise BadInput(f"--start/--end: the range is empty ({_when(start)} .. {_when(end)})")
    step = step or choose_step(end - start)
    if (end - start) / step > 1e7:
        raise BadInput(f"--step {step:g}s: {(end - start) / step:.0f} steps per series is too fine for this range")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {out}: exists and is not an empty directory")
    found = client.series(match, start, end)
    if not found:
        raise BadInput(_nothing_there(client, match, start, end))
    progress(f"{len(found)} series match {match}; reading {end - start:.0f}s at a {step:g}s step")
    target = Target(target_name, "deployment", {"source": "prometheus", "url": client.url, "selector": match,
                                                **(spec or {})})
    reader = SeriesReader(client, target_name, match, start, step, len(found))
    reader.learn(found)
    pods = {labels["pod"] for labels in found if labels.get("pod")}
    namespaces = {labels["namespace"] for labels in found if labels.get("pod") and labels.get("namespace")}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    try:
        writer = BundleWriter(staging, command=command)
        writer.add_target(target)
        written = 0
        for slice_start, slice_end in reader.slices(end):
            written += reader.write(writer, reader.read(slice_start, slice_end))
            reader.kube_state(slice_start, slice_end, pods, namespaces)
        if not reader.keys:
            raise BadInput(f"{client.url}: {match} has series but no samples between {_when(start)} and {_when(end)}")
        events = reader.kube_state_result()
        types = metric_types(client, reader.names)
        for instance, info in reader.instances.items():
            writer.touch_instance(target_name, instance, None, at=float(info.get("first_seen", start)))
            writer.touch_instance(target_name, instance, {**info, "metric_types": types},
                                  at=float(info.get("last_seen", end)))
        for event in events:
            writer.add_event(event)
        writer.set_meta(source="prometheus", prometheus_url=client.url, started=repr(start), step=repr(step))
        writer.close("complete", ended=end)  # the bundle spans the imported range
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ImportSummary(written, len(reader.keys), len(reader.instances))
