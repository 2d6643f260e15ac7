"""The manager: an informer (list + watch + resync) feeding a work queue drained by worker threads."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from widgetctl.metrics import Metrics
from widgetctl.reconciler import GROUP, KIND, PLURAL, VERSION, Key, Result, WidgetReconciler
from widgetctl.workqueue import WorkQueue
from widgetctl.zaplog import Logger

CONTROLLER = "widget"


class Informer:
    """List, then watch from the list's resourceVersion; relist on 410 Gone; resync every sync period."""

    def __init__(self, api: client.ApiClient, namespace: str, queue: WorkQueue, sync_period: float,
                 log: Logger, stop: threading.Event) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace, self.queue, self.sync_period = namespace, queue, sync_period
        self.log, self.stop = log, stop
        self.cache: dict[Key, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()

    def get(self, key: Key) -> dict[str, Any] | None:
        with self.lock:
            return self.cache.get(key)

    def _list(self, **kwargs: Any) -> dict[str, Any]:
        if self.namespace:
            return self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, **kwargs)  # type: ignore[no-any-return]
        return self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)  # type: ignore[no-any-return]

    @staticmethod
    def _key(obj: dict[str, Any]) -> Key:
        meta = obj.get("metadata", {})
        return meta.get("namespace", ""), meta.get("name", "")

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                rv = self._relist()
                self._watch(rv)
            except ApiException as exc:
                if exc.status != 410:
                    self.log.error("failed to list or watch widgets", exc)
                    self.stop.wait(1.0)
            except Exception as exc:  # noqa: BLE001 - keep the informer alive like client-go's reflector
                self.log.error("failed to list or watch widgets", exc)
                self.stop.wait(1.0)

    def _relist(self) -> str:
        listed = self._list()
        fresh = {self._key(o): o for o in listed.get("items", [])}
        with self.lock:
            gone = set(self.cache) - set(fresh)
            self.cache = fresh
        for key in list(fresh) + list(gone):
            self.queue.add(key)
        self.synced.set()
        return str(listed.get("metadata", {}).get("resourceVersion", ""))

    def _watch(self, rv: str) -> None:
        last_resync = time.monotonic()
        while not self.stop.is_set():
            w = watch.Watch()
            fn = (self.custom.list_namespaced_custom_object if self.namespace
                  else self.custom.list_cluster_custom_object)
            args = (GROUP, VERSION, self.namespace, PLURAL) if self.namespace else (GROUP, VERSION, PLURAL)
            timeout = int(max(1, min(60, self.sync_period)))
            for event in w.stream(fn, *args, resource_version=rv, timeout_seconds=timeout,
                                  allow_watch_bookmarks=True):
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise ApiException(status=410, reason="watch expired")
                    raise ApiException(status=obj.get("code", 0), reason=obj.get("message", "watch error"))
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if kind == "BOOKMARK":
                    continue
                key = self._key(obj)
                with self.lock:
                    if kind == "DELETED":
                        self.cache.pop(key, None)
                    else:
                        self.cache[key] = obj
                self.queue.add(key)
                if self.stop.is_set():
                    w.stop()
            if time.monotonic() - last_resync >= self.sync_period:
                last_resync = time.monotonic()
                self.resync()

    def resync(self) -> None:
        with self.lock:
            keys = list(self.cache)
        for key in keys:
            self.queue.add(key)


class Controller:
    """controller-runtime's controller: workers pull keys, reconcile, and requeue per the result."""

    def __init__(self, reconciler: WidgetReconciler, queue: WorkQueue, metrics: Metrics, concurrency: int,
                 log: Logger) -> None:
        self.reconciler, self.queue, self.metrics = reconciler, queue, metrics
        self.concurrency, self.log = concurrency, log
        self._active = 0
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        labels = {"controller": CONTROLLER}
        metrics.max_concurrent.set(concurrency, **labels)
        metrics.active_workers.set(0, **labels)
        metrics.reconcile_errors.touch(**labels)
        for result in ("success", "error", "requeue", "requeue_after"):
            metrics.reconcile_total.touch(controller=CONTROLLER, result=result)

    def start(self) -> None:
        self.log.info("Starting workers", controller=CONTROLLER, controllerGroup=GROUP, controllerKind=KIND,
                      **{"worker count": self.concurrency})
        for i in range(self.concurrency):
            t = threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def _set_active(self, delta: int) -> None:
        with self._lock:
            self._active += delta
            self.metrics.active_workers.set(self._active, controller=CONTROLLER)

    def _worker(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            self._set_active(1)
            try:
                self.process(item)  # type: ignore[arg-type]
            finally:
                self._set_active(-1)
                self.queue.done(item)

    def process(self, key: Key) -> None:
        namespace, name = key
        log = self.log.with_values(
            controller=CONTROLLER, controllerGroup=GROUP, controllerKind=KIND,
            Widget={"name": name, "namespace": namespace}, namespace=namespace, name=name,
            reconcileID=str(uuid.uuid4()),
        )
        start = time.monotonic()
        try:
            result = self.reconciler.reconcile(key, log)
        except Exception as exc:  # noqa: BLE001 - a returned error, as controller-runtime sees it
            self.metrics.reconcile_total.inc(controller=CONTROLLER, result="error")
            self.metrics.reconcile_errors.inc(controller=CONTROLLER)
            log.error("Reconciler error", exc)
            self.queue.add_rate_limited(key)
        else:
            self._requeue(key, result)
        finally:
            self.metrics.reconcile_time.observe(time.monotonic() - start, controller=CONTROLLER)

    def _requeue(self, key: Key, result: Result) -> None:
        if result.requeue_after > 0:
            self.queue.forget(key)
            self.queue.add_after(key, result.requeue_after)
            outcome = "requeue_after"
        elif result.requeue:
            self.queue.add_rate_limited(key)
            outcome = "requeue"
        else:
            self.queue.forget(key)
            outcome = "success"
        self.metrics.reconcile_total.inc(controller=CONTROLLER, result=outcome)
