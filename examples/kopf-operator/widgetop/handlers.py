"""The kopf handlers of the Widget operator; pathologies are switched by WIDGETOP_* environment variables.

Run with ``kopf run --namespace NS widgetop/handlers.py`` (kopf's own CLI); see the README for the switches.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from typing import Any

import kopf
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "profkit.example", "v1", "widgets"
BACKING_LABEL = "profkit.example/widget"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


KEYGEN_PER_CALL = int(os.environ.get("WIDGETOP_KEYGEN_PER_CALL", "0"))  # fresh RSA keys per handler call
RETRY_DELETE = os.environ.get("WIDGETOP_RETRY_DELETE", "") not in ("", "0", "false")  # TemporaryError forever
ERROR_RATE = _env_float("WIDGETOP_ERROR_RATE", 0.0)  # share of refreshes that raise
SLOW_SECONDS = _env_float("WIDGETOP_SLOW_SECONDS", 0.0)  # CPU-bound work per refresh, seconds
INTERVAL = _env_float("WIDGETOP_INTERVAL", 10.0)  # the periodic refresh of every widget

_core: client.CoreV1Api | None = None


def core() -> client.CoreV1Api:
    global _core
    if _core is None:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config()
        else:
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
        _core = client.CoreV1Api()
    return _core


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Peering for 2+ replicas: a random priority per process, so one replica is active and the others wait.

    kopf freezes every replica when peers share a priority, and a Deployment's replicas share their args.
    """
    settings.peering.priority = random.randint(1, 1_000_000)
    settings.posting.level = 100  # no Kubernetes Events for handler outcomes: logs only
    settings.persistence.finalizer = "profkit.example/cleanup"


def new_private_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key (the pathology: generated on every call instead of once)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue_widget_credentials(name: str) -> str:
    """What the widget's ConfigMap carries; with keygen on, signed by keys made on every call."""
    digest = hashlib.sha256(name.encode())
    for _ in range(KEYGEN_PER_CALL):
        key = new_private_key()
        digest.update(key.public_key().public_numbers().n.to_bytes(256, "big"))
    return digest.hexdigest()


def render_widget_report(name: str, size: int) -> str:
    """The slow handler's work: a CPU-bound digest chain for SLOW_SECONDS."""
    deadline = time.process_time() + SLOW_SECONDS
    value = f"{name}:{size}".encode()
    while time.process_time() < deadline:
        for _ in range(2000):
            value = hashlib.sha256(value).digest()
    return value.hex()


def backing_name(name: str) -> str:
    return name


def ensure_backing_configmap(namespace: str, name: str, data: dict[str, str]) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=backing_name(name), labels={BACKING_LABEL: name}),
                              data=data)
    try:
        core().replace_namespaced_config_map(backing_name(name), namespace, body)
    except ApiException as exc:
        if exc.status != 404:
            raise
        try:
            core().create_namespaced_config_map(namespace, body)
        except ApiException as again:
            if again.status != 409:  # created meanwhile by the other handler (creation and the first timer run)
                raise
            core().replace_namespaced_config_map(backing_name(name), namespace, body)


@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def reconcile_widget(name: str, namespace: str, spec: kopf.Spec, **_: Any) -> dict[str, Any]:
    """Create or update the widget's backing ConfigMap; the result lands in status.reconcile_widget."""
    size = int(spec.get("size", 1))
    ensure_backing_configmap(namespace, name, {"size": str(size), "credentials": issue_widget_credentials(name)})
    return {"ready": True, "size": size}


@kopf.timer(GROUP, VERSION, PLURAL, interval=INTERVAL, initial_delay=1.0, backoff=2.0)
def refresh_widget(name: str, namespace: str, spec: kopf.Spec, **_: Any) -> None:
    """The periodic refresh (a resync): renew credentials; the error and slow switches act here."""
    if ERROR_RATE and random.random() < ERROR_RATE:
        raise RuntimeError(f"refreshing widget {namespace}/{name}: backend refused the update")
    size = int(spec.get("size", 1))
    data = {"size": str(size), "credentials": issue_widget_credentials(name)}
    if SLOW_SECONDS:
        data["report"] = render_widget_report(name, size)
    ensure_backing_configmap(namespace, name, data)


@kopf.on.delete(GROUP, VERSION, PLURAL)
def delete_widget(name: str, namespace: str, **_: Any) -> None:
    """Delete the backing ConfigMap. The retry-forever bug: a ConfigMap that is already gone is an error."""
    try:
        core().delete_namespaced_config_map(backing_name(name), namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        if RETRY_DELETE:
            raise kopf.TemporaryError(f'configmaps "{backing_name(name)}" not found', delay=1) from None
