"""Command line: ``python -m tests.e2e.controlplane build|up|down|env|deploy-example``."""

from __future__ import annotations

import argparse
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
    for name, text in (("up", "start the control plane in DIR"), ("down", "stop everything started in DIR"),
                       ("env", "print shell exports for DIR's kubeconfig")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--dir", type=Path, required=True)
        if name == "up":
            s.add_argument("--nodes", type=int, default=2)
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
