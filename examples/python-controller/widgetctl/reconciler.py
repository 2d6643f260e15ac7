"""The Widget reconciler: finalizer, status, and the switchable pathologies of real controllers."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from widgetctl.zaplog import Logger

GROUP, VERSION, PLURAL, KIND = "scale.profkit.dev", "v1alpha1", "widgets", "Widget"
FINALIZER = "scale.profkit.dev/cleanup"
MERGE_PATCH = "application/merge-patch+json"

Key = tuple[str, str]  # (namespace, name)


@dataclass
class Result:
    """controller-runtime's reconcile.Result."""

    requeue: bool = False
    requeue_after: float = 0.0


@dataclass
class Options:
    keygen_per_reconcile: int = 0
    requeue_deleted: bool = False
    requeue_deleted_after: float = 2.0
    error_rate: float = 0.0
    reconcile_delay: float = 0.0
    api_calls_per_reconcile: int = 1


class InjectedError(Exception):
    """An error injected by --error-rate."""


# -- the key-generation chain, named after Cluster API's KCP before the fix (issue 8602) ---------
def new_private_key() -> bytes:
    """util/certs.NewPrivateKey: a fresh 2048-bit RSA key every call."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate_client_cert(widget: dict[str, Any]) -> bytes:
    """A client certificate for the widget's 'workload cluster' — with a new key each time."""
    return new_private_key()


def get_workload_cluster(widget: dict[str, Any]) -> bytes:
    """management.GetWorkloadCluster: builds a client, generating a client cert, on every call."""
    return generate_client_cert(widget)


class WidgetReconciler:
    """Reconciles one Widget: add the finalizer, mark it ready, clean up on deletion."""

    def __init__(self, api: client.ApiClient, get_cached: Callable[[Key], dict[str, Any] | None],
                 options: Options) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.get_cached = get_cached
        self.options = options

    def reconcile(self, key: Key, log: Logger) -> Result:
        """Same steps, in the same order, as the Go example's Reconcile."""
        namespace, name = key
        if self.options.reconcile_delay > 0:
            time.sleep(self.options.reconcile_delay)
        widget = self.get_cached(key)
        if widget is None:
            if self.options.requeue_deleted:
                # The bug of baremetal-operator issue 1190: NotFound requeued forever.
                log.info("could not get widget, not running reconciler", widget=f"{namespace}/{name}")
                return Result(requeue=True, requeue_after=self.options.requeue_deleted_after)
            return Result()

        for _ in range(self.options.api_calls_per_reconcile):
            self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

        for _ in range(self.options.keygen_per_reconcile):
            get_workload_cluster(widget)

        if self.options.error_rate > 0 and random.random() < self.options.error_rate:
            raise InjectedError("injected reconcile error (--error-rate)")

        meta = widget.get("metadata", {})
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            return self._reconcile_delete(key, widget, finalizers, log)

        if FINALIZER not in finalizers:
            self._set_finalizers(key, finalizers + [FINALIZER], meta)

        generation = int(meta.get("generation") or 0)
        desired = {"ready": True, "phase": "Ready", "observedGeneration": generation}
        status = widget.get("status") or {}
        if all(status.get(k) == v for k, v in desired.items()):
            return Result()
        self._patch_status(key, desired)
        log.info("widget is ready", generation=generation, size=(widget.get("spec") or {}).get("size"))
        return Result()

    def _reconcile_delete(self, key: Key, widget: dict[str, Any], finalizers: list[str], log: Logger) -> Result:
        meta = widget.get("metadata", {})
        if FINALIZER in finalizers:
            if (widget.get("status") or {}).get("phase") != "Deleting":
                try:
                    self._patch_status(key, {"ready": False, "phase": "Deleting"})
                except ApiException as exc:
                    if exc.status != 404:
                        raise
            self._set_finalizers(key, [f for f in finalizers if f != FINALIZER], meta)
            log.info("removed finalizer from deleted widget")
            return Result()
        # Being deleted and our finalizer is gone (other finalizers keep it alive).
        if self.options.requeue_deleted:
            log.info("could not get widget, not running reconciler", widget=f"{key[0]}/{key[1]}")
            return Result(requeue=True, requeue_after=self.options.requeue_deleted_after)
        return Result()

    def _set_finalizers(self, key: Key, finalizers: list[str], meta: dict[str, Any]) -> None:
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}}
        try:
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, key[0], PLURAL, key[1], body,
                                                       _content_type=MERGE_PATCH)
        except ApiException as exc:
            if exc.status == 404 and meta.get("deletionTimestamp"):
                return  # already gone
            raise

    def _patch_status(self, key: Key, status: dict[str, Any]) -> None:
        body = {"status": status}
        try:
            self.custom.patch_namespaced_custom_object_status(GROUP, VERSION, key[0], PLURAL, key[1], body,
                                                              _content_type=MERGE_PATCH)
        except ApiException as exc:
            if exc.status != 404:
                raise
            # A CRD without the status subresource: status is part of the main resource.
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, key[0], PLURAL, key[1], body,
                                                       _content_type=MERGE_PATCH)
