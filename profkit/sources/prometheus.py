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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from profkit.errors import BadInput
from profkit.model import CaptureEvent, Target

MAX_POINTS_PER_SERIES = 11_000  # Prometheus refuses a query_range over this many steps
CHUNK_STEPS = 10_000  # what one query_range asks for, under the limit
MAX_SAMPLES_PER_QUERY = 5_000_000  # well under the default --query.max-samples (50M)
# Labels the scrape (service discovery, kube-prometheus-stack relabelling) adds; not the process' own.
TARGET_LABELS = ("job", "instance", "namespace", "pod", "container", "endpoint", "service", "node",
                 "prometheus", "prometheus_replica", "metrics_path")
APART = ("container", "job", "instance")  # what tells two scrape targets of one pod apart, in this order
NAME_LABEL = "profkit_name"  # carries __name__ through timestamp(), which drops it
KSM_RESTARTS = "kube_pod_container_status_restarts_total"
# Series Prometheus makes about each scrape itself; not the process' metrics.
SCRAPE_SERIES = ("up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
                 "scrape_series_added", "scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes")

Labels = tuple[tuple[str, str], ...]


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
        """``data`` of an API answer; every HTTP, transport and PromQL error is a one-line BadInput."""
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=body, headers={
            **self._headers(), "Content-Type": "application/x-www-form-urlencoded"}, method="POST")
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
        matchers.append(f'pod=~"{re.escape(deployment)}-[a-z0-9]+-[a-z0-9]+"')
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


@dataclass
class ImportedRun:
    """Everything one import fetched, validated before a byte is written."""

    target: Target
    start: float
    end: float
    step: float
    # (instance, metric name, own labels) -> raw samples (the sample timestamps, as the scraper stores them)
    series: dict[tuple[str, str, Labels], list[tuple[float, float]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[CaptureEvent] = field(default_factory=list)


def own_labels(labels: dict[str, str]) -> dict[str, str]:
    """The process' own labels: scrape-added ones dropped, ``exported_X`` (a clash with one of them) back to X."""
    out = {k: v for k, v in labels.items() if k not in TARGET_LABELS and k != "__name__" and k != NAME_LABEL}
    for key in list(out):
        if key.startswith("exported_") and key[len("exported_"):] in TARGET_LABELS:
            out[key[len("exported_"):]] = out.pop(key)
    return out


def instance_of(labels: dict[str, str]) -> str:
    return labels.get("pod") or labels.get("instance") or labels.get("job") or "prometheus"


def raw_samples(client: PrometheusClient, match: str, start: float, end: float, step: float, series_count: int
                ) -> dict[Labels, list[tuple[float, float]]]:
    """The samples Prometheus stored, at their own timestamps: values and timestamp() per step, repeats dropped.

    With a step at or under the scrape interval every stored sample is seen at least once;
    a step that lands on the same sample again is recognised by its timestamp.
    """
    named = f'label_replace({match}, "{NAME_LABEL}", "$1", "__name__", "(.+)")'
    values = client.query_range(named, start, end, step, series_count)
    stamps = client.query_range(f"timestamp({named})", start, end, step, series_count)
    out: dict[Labels, list[tuple[float, float]]] = {}
    for labels, points in values.items():
        plain = dict(labels)
        name = plain.pop("__name__", None) or plain.get(NAME_LABEL, "")
        plain[NAME_LABEL] = name
        key = tuple(sorted((k, v) for k, v in plain.items() if k != "__name__"))
        times = dict(stamps.get(key, []))
        samples: dict[float, float] = {}
        for t, v in points:
            sample_ts = times.get(t, t)
            if start - 1e-6 <= sample_ts <= end + 1e-6:
                samples[round(sample_ts, 3)] = v
        out[tuple(sorted({**plain, "__name__": name}.items()))] = sorted(samples.items())
    return out


def fetch_run(client: PrometheusClient, target_name: str, match: str, start: float, end: float,
              step: float | None = None, spec: dict[str, Any] | None = None,
              progress: Callable[[str], None] = lambda _: None) -> ImportedRun:
    """Read the run from Prometheus; a one-line BadInput when there is nothing (or an error) to import."""
    if end <= start:
        raise BadInput(f"--start/--end: the range is empty ({_when(start)} .. {_when(end)})")
    step = step or choose_step(end - start)
    if (end - start) / step > 1e7:
        raise BadInput(f"--step {step:g}s: {(end - start) / step:.0f} steps per series is too fine for this range")
    found = client.series(match, start, end)
    if not found:
        raise BadInput(_nothing_there(client, match, start, end))
    progress(f"{len(found)} series match {match}; reading {end - start:.0f}s at a {step:g}s step")
    run = ImportedRun(Target(target_name, "deployment", {"source": "prometheus", "url": client.url, "selector": match,
                                                         **(spec or {})}), start, end, step)
    samples = raw_samples(client, match, start, end, step, len(found))
    scrape_targets: dict[str, set[tuple[str, str, str]]] = defaultdict(set)  # pod -> what was scraped in it
    for labels in samples:
        plain = dict(labels)
        scrape_targets[instance_of(plain)].add(tuple(plain.get(k, "") for k in APART))  # type: ignore[arg-type]
    for labels, points in samples.items():
        plain = dict(labels)
        name = plain.get("__name__", "")
        if not points or not name or name in SCRAPE_SERIES:
            continue
        instance = instance_of(plain)
        scraped = scrape_targets[instance]
        if len(scraped) > 1:  # a sidecar's metrics too (kube-rbac-proxy), or two jobs: keep them apart
            index = next(i for i in range(len(APART)) if len({t[i] for t in scraped}) > 1)
            instance = f"{instance}/{plain.get(APART[index], '')}"
        info = run.instances.setdefault(instance, {"source": "prometheus", "labels": {
            k: plain[k] for k in ("namespace", "pod", "container", "job", "instance", "node") if k in plain}})
        info.setdefault("first_seen", points[0][0])
        info["first_seen"] = min(info["first_seen"], points[0][0])
        info["last_seen"] = max(info.get("last_seen", points[-1][0]), points[-1][0])
        run.series[(instance, name, tuple(sorted(own_labels(plain).items())))] = points
    if not run.series:
        raise BadInput(f"{client.url}: {match} has series but no samples between {_when(start)} and {_when(end)}")
    _kube_state(client, run, match, start, end, step)
    run.types = metric_types(client, {name for _, name, _ in run.series})
    return run


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


def _kube_state(client: PrometheusClient, run: ImportedRun, match: str, start: float, end: float, step: float) -> None:
    """Pods and restarts from kube-state-metrics' series, when this Prometheus has them for these pods."""
    pods = sorted({str(info["labels"].get("pod")) for info in run.instances.values() if info["labels"].get("pod")})
    namespaces = sorted({str(info["labels"]["namespace"]) for info in run.instances.values()
                         if info["labels"].get("namespace")})
    if not pods:
        return
    pod_re = "|".join(re.escape(p) for p in pods)
    ns = f',namespace=~"{"|".join(re.escape(n) for n in namespaces)}"' if namespaces else ""
    restarts = client.query_range(f'{KSM_RESTARTS}{{pod=~"{pod_re}"{ns}}}', start, end, step)
    for labels, points in restarts.items():
        plain = dict(labels)
        pod = plain.get("pod", "")
        info = run.instances.get(pod)
        if info is None or not points:
            continue
        info.setdefault("restarts", {})[plain.get("container", "")] = points[-1][1]
        for (_, before), (t, after) in zip(points, points[1:]):
            if after > before:
                run.events.append(CaptureEvent(t, "restart", f"container {plain.get('container', '?')} of pod {pod} "
                                               f"restarted (kube-state-metrics: {after:g} restarts)",
                                               run.target.name, pod, "prometheus"))
    for labels, points in client.query_range(f'kube_pod_info{{pod=~"{pod_re}"{ns}}}', start, end, step).items():
        plain = dict(labels)
        info = run.instances.get(plain.get("pod", ""))
        if info is not None and points:
            info["node"] = plain.get("node", "")
            info["kube_state_metrics"] = True


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


def write_run(run: ImportedRun, out: Path, command: list[str]) -> int:
    """Write the bundle into a hidden sibling and rename it to ``out`` when complete; returns the points written."""
    from profkit.bundle import BundleWriter

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {out}: exists and is not an empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    try:
        writer = BundleWriter(staging, command=command)
        writer.add_target(run.target)
        for instance, info in run.instances.items():
            writer.touch_instance(run.target.name, instance, None, at=float(info.get("first_seen", run.start)))
            writer.touch_instance(run.target.name, instance, {**info, "metric_types": run.types},
                                  at=float(info.get("last_seen", run.end)))
        by_scrape: dict[tuple[str, float], list[tuple[str, dict[str, str], float]]] = defaultdict(list)
        for (instance, name, labels), points in run.series.items():
            for ts, value in points:
                by_scrape[(instance, ts)].append((name, dict(labels), value))
        written = 0
        for (instance, ts), samples in sorted(by_scrape.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            written += writer.add_points(run.target.name, instance, ts, samples)
        for event in run.events:
            writer.add_event(event)
        writer.set_meta(source="prometheus", prometheus_url=run.target.spec["url"], started=repr(run.start),
                        step=repr(run.step))
        writer.close("complete", ended=run.end)  # the bundle spans the imported range
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written
