"""Pod log collector: follow a container's log with timestamps, reconnect after drops, read it after restarts."""

from __future__ import annotations

import math
import queue
import threading
import time
from typing import Any

from profkit.formats.logs import parse_timestamp
from profkit.kube.client import KubeAccess
from profkit.kube.errors import Forbidden, KubeError, NotFound, Unreachable, api_call, connection_reason, is_connection_error
from profkit.sources.backoff import Backoff
from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.sources.logfile import LogBatcher

READ_TIMEOUT = 300.0  # a quiet log stream is reopened after this long without a byte
BATCH_LINES = 500  # many pods' logs share the writer: smaller batches than a single log file's
BATCH_SECONDS = 0.5
MAX_BACKOFF = 10.0
CONTAINER_NOT_STARTED = 400  # what the log API answers for a container that has not started yet
_END = object()


def split_timestamp(line: str) -> tuple[float | None, str]:
    """``2026-11-24T09:03:51.238744321Z text`` (the log API with timestamps=true) -> (unix seconds, text)."""
    stamp, sep, rest = line.partition(" ")
    if not sep:
        return None, line
    ts = parse_timestamp(stamp)
    return (ts, rest) if ts is not None else (None, line)


class PodLogCollector(Collector):
    """Follows ``container`` of ``pod`` from the capture start (or the pod's start when it appeared later)."""

    kind = "logs"

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions, access: KubeAccess,
                 namespace: str, pod: str, container: str | None, *, from_start: bool = False) -> None:
        super().__init__(sink, target, instance, options)
        self.access = access
        self.namespace, self.pod, self.container = namespace, pod, container
        self.from_start = from_start
        self.last_ts = 0.0
        self._at_last_ts: set[str] = set()
        self.restarts: int | None = None
        self.batch = LogBatcher(self, max_lines=BATCH_LINES)

    def describe(self) -> str:
        return f"logs {self.namespace}/{self.pod}" + (f" [{self.container}]" if self.container else "")

    # -- lines -------------------------------------------------------------------------------
    def add_line(self, line: str) -> None:
        """One ``TIMESTAMP text`` line: dropped when already seen (a reconnect re-reads from a second back)."""
        ts, text = split_timestamp(line.rstrip("\r\n"))
        if not text.strip():
            return
        if ts is not None:
            if ts < self.last_ts or (ts == self.last_ts and text in self._at_last_ts):
                return
            if ts > self.last_ts:
                self.last_ts, self._at_last_ts = ts, set()
            self._at_last_ts.add(text)
        self.batch.add(text, stamp=ts, fields={"container": self.container} if self.container else None)

    # -- the API -------------------------------------------------------------------------------
    def _since(self) -> int | None:
        if self.last_ts:
            return max(1, math.ceil(time.time() - self.last_ts) + 1)
        if self.from_start:
            return None
        return max(1, math.ceil(time.time() - self.options.started) + 1)

    def _open(self, *, previous: bool = False, follow: bool = True) -> Any:
        from kubernetes import client

        core = client.CoreV1Api(self.access.api)
        kwargs: dict[str, Any] = {"timestamps": True, "_preload_content": False,
                                  "_request_timeout": (5.0, READ_TIMEOUT)}
        if follow:
            kwargs["follow"] = True
        if previous:
            kwargs["previous"] = True
        if self.container:
            kwargs["container"] = self.container
        since = self._since()
        if since is not None:
            kwargs["since_seconds"] = since
        with api_call("get", "pods/log", self.namespace, self.pod, server=self.access.server):
            return core.read_namespaced_pod_log(self.pod, self.namespace, **kwargs)

    def _restart_count(self) -> int | None:
        from kubernetes import client

        try:
            pod = client.CoreV1Api(self.access.api).read_namespaced_pod(self.pod, self.namespace, _request_timeout=10)
        except Exception:  # noqa: BLE001 - gone, or the API server is away
            return None
        for status in (pod.status.container_statuses or []) if pod.status else []:
            if self.container is None or status.name == self.container:
                return int(status.restart_count or 0)
        return None

    def _reader(self, response: Any, lines: queue.Queue[object]) -> None:
        buffer = b""
        try:
            while True:
                # read1: what has arrived (read(n) would wait for n bytes of a quiet log)
                chunk = response.read1(16 * 1024) if hasattr(response, "read1") else response.read(16 * 1024)
                if not chunk:
                    break
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    lines.put(raw.decode("utf-8", errors="replace"))
            if buffer:
                lines.put(buffer.decode("utf-8", errors="replace"))
            lines.put(_END)
        except Exception as exc:  # noqa: BLE001 - read timeout, reset, closed by us
            lines.put(exc)

    def _follow(self, response: Any, stop: threading.Event) -> BaseException | None:
        """Pump one stream until it ends, fails or the capture stops; returns the failure, if any."""
        lines: queue.Queue[object] = queue.Queue(maxsize=10000)
        reader = threading.Thread(target=self._reader, args=(response, lines), daemon=True,
                                  name=f"log-reader:{self.pod}/{self.container}")
        reader.start()
        try:
            while not stop.is_set():
                try:
                    item = lines.get(timeout=BATCH_SECONDS)
                except queue.Empty:
                    self.batch.flush()
                    continue
                if item is _END:
                    return None
                if isinstance(item, BaseException):
                    return item
                self.answered = True
                self.add_line(str(item))
                if self.batch.due():
                    self.batch.flush()
            return None
        finally:
            try:
                if hasattr(response, "shutdown"):
                    response.shutdown()  # unblocks the reader's recv (urllib3 >= 2.3)
                response.close()
            except Exception:  # noqa: BLE001
                pass
            # What the reader had queued before the close is kept.
            while True:
                try:
                    item = lines.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, str):
                    self.add_line(item)
            self.batch.close()

    def _read_previous(self) -> None:
        """After a restart: what the terminated container wrote after the last line we have."""
        try:
            response = self._open(previous=True, follow=False)
            data = response.read()
            response.release_conn()
        except Exception as exc:  # noqa: BLE001
            self.info(f"previous container log of {self.pod}: {getattr(exc, 'reason', exc)}")
            return
        for line in bytes(data).decode("utf-8", errors="replace").split("\n"):
            self.add_line(line)
        self.batch.close()

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(cap=MAX_BACKOFF)
        self.restarts = self._restart_count()
        while not stop.is_set():
            try:
                response = self._open()
            except NotFound:
                return  # the pod is gone; the deployment follower records that
            except Forbidden as exc:
                self.error(str(exc))
                return
            except Unreachable as exc:  # the API server is down: wait for it, as for any other failure
                self.access.health.failed(exc.reason)
                backoff.wait(stop)
                continue
            except KubeError as exc:
                if exc.status != CONTAINER_NOT_STARTED or not self.in_grace():
                    self.error(f"log of {self.pod}: {exc}")
                backoff.wait(stop)
                continue
            self.access.health.ok()
            backoff.reset()
            failure = self._follow(response, stop)
            if stop.is_set():
                return
            if failure is not None and is_connection_error(failure) and "timed out" not in str(failure).lower():
                self.access.health.failed(connection_reason(failure))
            restarts = self._restart_count()
            if restarts is not None and self.restarts is not None and restarts > self.restarts:
                self._read_previous()
            if restarts is not None:
                self.restarts = restarts
            if failure is None:
                stop.wait(0.5)
            else:
                backoff.wait(stop)
