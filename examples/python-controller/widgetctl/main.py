"""Flags and wiring: the same switches as examples/go-controller, then run until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from widgetctl.kubeclient import new_api_client
from widgetctl.manager import CONTROLLER, Controller, Informer
from widgetctl.metrics import Metrics, parse_bind_address, serve
from widgetctl.reconciler import Options, WidgetReconciler
from widgetctl.workqueue import WorkQueue
from widgetctl.zaplog import Logger, parse_duration


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="widget-controller", description=__doc__)
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", ""),
                   help="kubeconfig file (default $KUBECONFIG, else in-cluster config, else ~/.kube/config)")
    p.add_argument("--namespace", default="", help="only watch this namespace (default: all)")
    p.add_argument("--metrics-bind-address", default=":8080", help="address of /metrics ('0' disables)")
    p.add_argument("--metrics-port", type=int, default=None, help="shorthand for --metrics-bind-address=:PORT")
    p.add_argument("--health-probe-bind-address", default="0",
                   help="address of /healthz and /readyz, e.g. :8081 (default 0: off)")
    p.add_argument("--pprof-bind-address", default="0",
                   help="accepted for parity with the Go example; Python has no pprof: profile with py-spy")
    p.add_argument("--keygen-per-reconcile", type=int, default=0,
                   help="generate N new 2048-bit RSA keys every reconcile (Cluster API KCP issue 8602)")
    p.add_argument("--requeue-deleted", action="store_true",
                   help="requeue NotFound (deleted) widgets forever (baremetal-operator issue 1190)")
    p.add_argument("--requeue-deleted-after", type=_duration, default=2.0,
                   help="RequeueAfter used by --requeue-deleted (default 2s, as the Go example)")
    p.add_argument("--kube-api-qps", type=float, default=20.0, help="client-side QPS to the API server (≤0: none)")
    p.add_argument("--kube-api-burst", type=int, default=30, help="client-side burst to the API server")
    p.add_argument("--concurrency", type=int, default=10, help="number of concurrent reconciles (workers)")
    p.add_argument("--sync-period", type=_duration, default=600.0, help="resync every object this often (10m)")
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction of reconciles that return an error")
    p.add_argument("--reconcile-delay", type=_duration, default=0.0, help="sleep this long in every reconcile")
    p.add_argument("--api-calls-per-reconcile", type=int, default=1,
                   help="extra uncached GETs of the widget per reconcile (load on the client-side rate limiter)")
    p.add_argument("-v", "--v", dest="verbosity", type=int, default=0,
                   help="klog-like verbosity for client throttling lines (3: every wait over 50ms)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.metrics_port is not None:
        args.metrics_bind_address = f":{args.metrics_port}"
    root = Logger()
    setup = root.named("setup")
    metrics = Metrics()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        setup.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    api = new_api_client(args.kubeconfig, args.kube_api_qps, args.kube_api_burst, metrics, root.named("client-go"),
                         args.verbosity, pool_size=args.concurrency + 4)
    queue = WorkQueue(CONTROLLER, metrics)
    informer = Informer(api, args.namespace, queue, args.sync_period, root.named("reflector"), stop)
    options = Options(
        keygen_per_reconcile=args.keygen_per_reconcile, requeue_deleted=args.requeue_deleted,
        requeue_deleted_after=args.requeue_deleted_after, error_rate=args.error_rate,
        reconcile_delay=args.reconcile_delay, api_calls_per_reconcile=args.api_calls_per_reconcile,
    )
    controller = Controller(WidgetReconciler(api, informer.get, options), queue, metrics, args.concurrency,
                            root)

    def metrics_route() -> tuple[int, str, str]:
        queue.update_processing_gauges()
        return 200, "text/plain; version=0.0.4; charset=utf-8", metrics.registry.expose()

    def ready_route() -> tuple[int, str, str]:
        return (200, "text/plain", "ok") if informer.synced.is_set() else (500, "text/plain", "not synced")

    servers = []
    metrics_addr = parse_bind_address(args.metrics_bind_address)
    if metrics_addr:
        servers.append(serve(metrics_addr, {"/metrics": metrics_route}))
        setup.info("Serving metrics server", bindAddress=args.metrics_bind_address, secure=False)
    health_addr = parse_bind_address(args.health_probe_bind_address)
    if health_addr:
        servers.append(serve(health_addr, {"/healthz": lambda: (200, "text/plain", "ok"), "/readyz": ready_route}))
    if parse_bind_address(args.pprof_bind_address):
        setup.info("pprof is not available in Python; profile this process with py-spy",
                   pprofBindAddress=args.pprof_bind_address)
    setup.info("starting manager", pid=os.getpid(), namespace=args.namespace or "<all>",
               keygenPerReconcile=args.keygen_per_reconcile, requeueDeleted=args.requeue_deleted,
               kubeAPIQPS=args.kube_api_qps, kubeAPIBurst=args.kube_api_burst, concurrency=args.concurrency,
               syncPeriod=args.sync_period, errorRate=args.error_rate)

    threading.Thread(target=informer.run, name="informer", daemon=True).start()
    root.info("Starting EventSource", controller=CONTROLLER, source="kind source: *unstructured.Unstructured")
    while not informer.synced.wait(0.2):
        if stop.is_set():
            return 0
    controller.start()
    stop.wait()
    queue.shut_down()
    for server in servers:
        server.shutdown()
    setup.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
