"""An API client with client-go's client-side token bucket, throttling log lines and REST metrics."""

from __future__ import annotations

import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from widgetctl.metrics import Metrics
from widgetctl.zaplog import Logger, go_duration

THROTTLE_REASON = "client-side throttling, not priority and fairness"


class TokenBucket:
    """golang.org/x/time/rate as client-go uses it: ``qps`` tokens a second, ``burst`` deep; qps ≤ 0 is unlimited."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps, self.burst = qps, max(1, burst)
        self._tokens, self._last = float(self.burst), time.monotonic()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; return how long the caller must wait before using it."""
        if self.qps <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps


class ThrottleLogger:
    """client-go's rules: V(3) logs every wait > 50 ms; waits > 1 s at V(2) once a second, V(0) once per 10 s."""

    def __init__(self, log: Logger, verbosity: int) -> None:
        self.log, self.verbosity = log, verbosity
        self._last_long = 0.0
        self._lock = threading.Lock()

    def waited(self, delay: float, verb: str, url: str) -> None:
        if delay <= 0.05:
            return
        fields = {"delay": go_duration(delay), "reason": THROTTLE_REASON, "verb": verb, "URL": url}
        if self.verbosity >= 3:
            self.log.info("Waited before sending request", v=3, **fields)
            return
        if delay <= 1.0:
            return
        every = 1.0 if self.verbosity >= 2 else 10.0
        with self._lock:
            now = time.monotonic()
            if now - self._last_long < every:
                return
            self._last_long = now
        self.log.info("Waited before sending request", v=min(self.verbosity, 2), **fields)


def _status_of(result: Any) -> str:
    status = getattr(result, "status", None)
    return str(status) if status else "<error>"


def new_api_client(kubeconfig: str | None, qps: float, burst: int, metrics: Metrics, log: Logger,
                   verbosity: int, pool_size: int) -> client.ApiClient:
    """Load kubeconfig (or in-cluster config) and wrap every request in the token bucket and metrics."""
    if not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        api = client.ApiClient(cfg)
    else:
        api = config.new_client_from_config(config_file=kubeconfig or None)
    api.configuration.connection_pool_maxsize = pool_size
    api.rest_client = type(api.rest_client)(api.configuration)  # rebuild the pool with the new size
    host = urlsplit(api.configuration.host).netloc
    bucket = TokenBucket(qps, burst)
    throttle = ThrottleLogger(log, verbosity)
    original = api.rest_client.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        delay = bucket.reserve()
        if delay > 0:
            time.sleep(delay)
            throttle.waited(delay, method.upper(), url)
        try:
            result = original(method, url, *args, **kwargs)
        except ApiException as exc:
            metrics.rest_requests.inc(code=str(exc.status or "<error>"), method=method.upper(), host=host)
            raise
        except Exception:
            metrics.rest_requests.inc(code="<error>", method=method.upper(), host=host)
            raise
        metrics.rest_requests.inc(code=_status_of(result), method=method.upper(), host=host)
        return result

    api.rest_client.request = request  # type: ignore[method-assign]
    return api
