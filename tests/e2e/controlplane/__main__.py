"""Command line: ``python -m tests.e2e.controlplane build|build-capi|build-prometheus|up|down|env|deploy-example``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import build as buildmod
from .harness import ControlPlane, ControlPlaneError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.e2e.controlplane",
                                description="A real Kubernetes control plane on 127.0.0.1 for profkit's e2e tests.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or find cached) control-plane binaries")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    b.add_argument("--dir", type=Path, help="ignored; accepted for symmetry")
    bc = sub.add_parser("build-capi", help="build (or find cached) the Cluster API v1.7.2 managers",
                        description="Builds capi, kubeadm bootstrap, kubeadm control-plane and in-memory managers "
                                    "unmodified from the Go module proxy into the cache (once per machine).")
    bc.add_argument("--force", action="store_true", help="rebuild even when cached")
    bp = sub.add_parser("build-prometheus", help="build (or find cached) upstream Prometheus (with Kubernetes SD)",
                        description="Builds the Prometheus release gomod/prometheus pins from its Go module: "
                                    "Debian's package has no kubernetes_sd_configs.")
    bp.add_argument("--force", action="store_true", help="rebuild even when cached")
    for name, text in (("up", "start the control plane in DIR"), ("down", "stop everything started in DIR"),
                       ("env", "print shell exports for DIR's kubeconfig")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--dir", type=Path, required=True)
        if name == "up":
            s.add_argument("--nodes", type=int, default=2)
    ic = sub.add_parser("install-capi", help="install the Cluster API v1.7.2 managers on the control plane in DIR",
                        description="Renders core, kubeadm bootstrap, kubeadm control plane and in-memory providers "
                                    "from their config/ in the Go module cache and runs each manager behind its kwok pod.")
    ic.add_argument("--dir", type=Path, required=True)
    ic.add_argument("--workload-ports", type=int, default=64, help="in-memory workload-cluster listeners relayed")
    ic.add_argument("--patched", action="store_true",
                    help="the seed's flags: --kube-api-qps=100 --kube-api-burst=200 on capi, kcp and cabpk")
    cc = sub.add_parser("capi-clusters", help="create N in-memory clusters (ClusterClass) and wait until Ready")
    cc.add_argument("--dir", type=Path, required=True)
    cc.add_argument("-N", "--count", type=int, default=5)
    cc.add_argument("-n", "--namespace", default="default")
    cc.add_argument("--prefix", default="capim")
    cc.add_argument("--timeout", type=float, default=900)
    d = sub.add_parser("deploy-example", help="run example controllers behind a kwok Deployment",
                       description="Starts one local controller per replica behind a kwok Deployment, "
                                   "creates N Widgets and deletes D. Flags after -- go to the controller.")
    d.add_argument("--dir", type=Path, required=True)
    d.add_argument("--lang", choices=("go", "python", "kopf"), default="go",
                   help="kopf: examples/kopf-operator under `kopf run`; its switches are WIDGETOP_X=V items after --")
    d.add_argument("--name", required=True)
    d.add_argument("-n", "--namespace", default="default")
    d.add_argument("--replicas", type=int, default=1)
    d.add_argument("--objects", type=int, default=0)
    d.add_argument("--delete", type=int, default=0)
    d.add_argument("controller_args", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            start = time.monotonic()
            print(buildmod.build(force=args.force))
            print(f"build step took {time.monotonic() - start:.0f}s", file=sys.stderr)
            return 0
        if args.command == "build-capi":
            from . import capi

            start = time.monotonic()
            print(capi.build(force=args.force))
            print(f"build-capi step took {time.monotonic() - start:.0f}s; cache {capi.cache_dir()} holds "
                  f"{capi.cache_size() / 2**20:.0f} MiB", file=sys.stderr)
            return 0
        if args.command == "build-prometheus":
            start = time.monotonic()
            print(buildmod.build_prometheus(force=args.force))
            print(f"build-prometheus step took {time.monotonic() - start:.0f}s", file=sys.stderr)
            return 0
        cp = ControlPlane(args.dir, **({"nodes": args.nodes} if args.command == "up" else {}))
        if args.command == "up":
            cp.up()
            print(cp.env_exports(), end="")
        elif args.command == "down":
            cp.down()
            print(f"stopped everything in {cp.dir}", file=sys.stderr)
        elif args.command == "env":
            if not cp.load_state():
                print(f"no control plane state in {cp.dir}", file=sys.stderr)
                return 2
            print(cp.env_exports(), end="")
        elif args.command in ("install-capi", "capi-clusters"):
            from . import capi_install

            if not cp.load_state():
                print(f"no control plane in {cp.dir}: run 'up' first", file=sys.stderr)
                return 2
            if args.command == "install-capi":
                patched = ["--kube-api-qps=100", "--kube-api-burst=200"] if args.patched else []
                inst = capi_install.install(cp, workload_ports=args.workload_ports,
                                            extra_args={k: patched for k in ("capi", "cabpk", "kcp")})
                for m in inst.managers.values():
                    print(f"{m.namespace}/{m.deployment} pod={m.pod} ip={m.pod_ip} -> {m.process} "
                          f"diagnostics=https://127.0.0.1:{m.diagnostics_port} health=http://127.0.0.1:{m.health_port} "
                          f"log={m.log_file}")
                for line in capi_install.check_diagnostics(cp, inst):
                    print(line)
            else:
                secs, status = capi_install.create_clusters(cp, args.count, args.namespace, args.prefix,
                                                            timeout=args.timeout)
                print(f"{args.count} clusters Ready in {secs:.0f}s: {json.dumps(status)}")
        elif args.command == "deploy-example":
            from .example import deploy_example

            if not cp.load_state():
                print(f"no control plane in {cp.dir}: run 'up' first", file=sys.stderr)
                return 2
            extra = args.controller_args[1:] if args.controller_args[:1] == ["--"] else args.controller_args
            dep = deploy_example(cp, name=args.name, namespace=args.namespace, lang=args.lang,
                                 replicas=args.replicas, objects=args.objects, delete=args.delete,
                                 controller_args=extra)
            for r in dep.replicas:
                print(f"pod {dep.namespace}/{r.pod} ip={r.pod_ip} -> {r.process} "
                      f"metrics={r.metrics_url} pprof={r.pprof_url} log={r.log_file}")
            print(f"widgets created={len(dep.widgets)} deleted={len(dep.deleted)}")
    except (ControlPlaneError, buildmod.BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
