#!/usr/bin/env python3
"""Scale driver for the Widget example controllers: create N Widgets at a rate, wait, delete D.

Like Cluster API's 1000-cluster scale script, but for Widgets
(scale.profkit.dev/v1alpha1). Only the standard library and ``kubectl``:

    python scale.py --kubeconfig K -n NS --objects 500 --rate 20/s --delete 100 \
        --wait-ready --timeout 600

Objects are created in batches (one ``kubectl apply -f -`` per tick with a List
manifest on stdin). A ``kubectl get --watch`` stream records when each Widget
first reports ``status.ready`` and when deleted ones are gone. Progress goes to
stderr; a JSON summary goes to stdout. Exit code 0 when everything asked for
happened, 1 on timeout, 2 on bad usage or a kubectl failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

GROUP = "scale.profkit.dev"
VERSION = "v1alpha1"
RESOURCE = f"widgets.{GROUP}"
CRD_FILE = Path(__file__).resolve().parent / "config" / "crd.yaml"


class DriverError(Exception):
    """A failure that ends the run with exit code 2."""


def parse_rate(text: str) -> float:
    """``20``, ``20/s``, ``1200/m`` -> objects per second."""
    value, _, unit = text.strip().partition("/")
    try:
        rate = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad rate {text!r}: expected e.g. 20/s") from exc
    per = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}.get(unit.strip())
    if per is None or rate <= 0:
        raise argparse.ArgumentTypeError(f"bad rate {text!r}: expected a positive number per s, m or h")
    return rate / per


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return round(ordered[rank - 1], 3)


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Kubectl:
    """Runs kubectl with a fixed kubeconfig."""

    def __init__(self, path: str, kubeconfig: str | None, context: str | None) -> None:
        self.base = [path]
        if kubeconfig:
            self.base += ["--kubeconfig", kubeconfig]
        if context:
            self.base += ["--context", context]

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True) -> str:
        proc = subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise DriverError(f"kubectl {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.base, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


class Tracker:
    """Follows Widgets in one namespace through ``kubectl get --watch``."""

    def __init__(self, kubectl: Kubectl, namespace: str, prefix: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.prefix = prefix
        self.lock = threading.Lock()
        self.created_at: dict[str, float] = {}
        self.ready_at: dict[str, float] = {}
        self.present: set[str] = set()
        self.gone: set[str] = set()
        self.stop = threading.Event()
        self.proc: subprocess.Popen[str] | None = None
        self.thread = threading.Thread(target=self._loop, name="widget-watch", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.proc = self.kubectl.popen("get", RESOURCE, "-n", self.namespace, "--watch",
                                           "--output-watch-events", "-o", "json")
            assert self.proc.stdout is not None
            decoder = json.JSONDecoder()
            buffer = ""
            for chunk in iter(lambda: self.proc.stdout.readline(), ""):  # type: ignore[union-attr]
                buffer += chunk
                while True:
                    stripped = buffer.lstrip()
                    if not stripped:
                        buffer = ""
                        break
                    try:
                        event, end = decoder.raw_decode(stripped)
                    except json.JSONDecodeError:
                        buffer = stripped
                        break
                    buffer = stripped[end:]
                    self._handle(event)
            self.proc.wait()
            if not self.stop.wait(1.0):
                log("watch ended; restarting it")

    def _handle(self, event: dict[str, Any]) -> None:
        obj = event.get("object") or {}
        name = (obj.get("metadata") or {}).get("name", "")
        if not name.startswith(self.prefix):
            return
        now = time.monotonic()
        with self.lock:
            if event.get("type") == "DELETED":
                self.present.discard(name)
                self.gone.add(name)
                return
            self.present.add(name)
            if (obj.get("status") or {}).get("ready") and name not in self.ready_at:
                self.ready_at[name] = now

    def snapshot(self, names: list[str]) -> tuple[int, int]:
        with self.lock:
            return sum(1 for n in names if n in self.ready_at), sum(1 for n in names if n in self.gone)


def widget_manifest(name: str, namespace: str, size: int) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace, "labels": {"scale.profkit.dev/run": "scale-py"}},
            "spec": {"size": size}}


def ensure_namespace(kubectl: Kubectl, namespace: str) -> None:
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    kubectl.run("apply", "-f", "-", stdin=json.dumps(manifest))


def apply_crd(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", str(CRD_FILE))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", f"crd/{RESOURCE}", timeout=90)


def create_all(kubectl: Kubectl, tracker: Tracker, names: list[str], namespace: str, rate: float,
               batch: int, deadline: float) -> list[str]:
    """Create ``names`` at ``rate`` per second in batches; returns the errors."""
    errors: list[str] = []
    start = time.monotonic()
    created = 0
    last_report = start
    while created < len(names):
        if time.monotonic() > deadline:
            errors.append(f"timeout while creating: {created}/{len(names)} created")
            break
        due = min(len(names), int((time.monotonic() - start) * rate) + 1)
        if due <= created:
            time.sleep(max(0.01, start + created / rate - time.monotonic()))
            continue
        todo = names[created:min(due, created + batch)]
        items = [widget_manifest(n, namespace, size=(created + i) % 10 + 1) for i, n in enumerate(todo)]
        stamp = time.monotonic()
        try:
            kubectl.run("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        except (DriverError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
            log(f"create batch failed: {exc}")
        else:
            with tracker.lock:
                for n in todo:
                    tracker.created_at.setdefault(n, stamp)
        created += len(todo)
        if time.monotonic() - last_report >= 5 or created == len(names):
            ready, _ = tracker.snapshot(names)
            log(f"created {created}/{len(names)}, ready {ready}")
            last_report = time.monotonic()
    return errors


def wait_for(condition: Any, deadline: float, what: str) -> bool:
    last_report = 0.0
    while True:
        done, message = condition()
        if time.monotonic() - last_report >= 5 or done:
            log(message)
            last_report = time.monotonic()
        if done:
            return True
        if time.monotonic() > deadline:
            log(f"timeout waiting for {what}")
            return False
        time.sleep(0.5)


def delete_objects(kubectl: Kubectl, names: list[str], namespace: str, batch: int) -> list[str]:
    errors = []
    for i in range(0, len(names), batch):
        chunk = names[i:i + batch]
        try:
            kubectl.run("delete", RESOURCE, "-n", namespace, "--wait=false", "--ignore-not-found", *chunk)
        except (DriverError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
            log(f"delete batch failed: {exc}")
    return errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python scale.py --kubeconfig ./kubeconfig -n widgets --objects 500 --rate 20/s "
               "--delete 100 --wait-ready --timeout 600",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig (default: $KUBECONFIG)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("-n", "--namespace", default="default", help="namespace of the Widgets (created if missing)")
    p.add_argument("--objects", type=int, required=True, help="number of Widgets to create")
    p.add_argument("--rate", type=parse_rate, default=parse_rate("10/s"), help="creation rate, e.g. 20/s or 600/m")
    p.add_argument("--delete", type=int, default=0, help="delete this many of them afterwards")
    p.add_argument("--wait-ready", action="store_true", help="wait until every Widget reports status.ready "
                   "(and, with --delete, until the deleted ones are gone)")
    p.add_argument("--timeout", type=float, default=600, help="overall time budget in seconds")
    p.add_argument("--prefix", default="widget-", help="name prefix of the Widgets")
    p.add_argument("--start-index", type=int, default=0, help="first index in names (to add to an earlier run)")
    p.add_argument("--batch", type=int, default=50, help="objects per kubectl apply/delete")
    p.add_argument("--kubectl", default=None, help="kubectl binary (default: kubectl on PATH)")
    p.add_argument("--apply-crd", action="store_true", help=f"apply {CRD_FILE.name} first and wait for it")
    args = p.parse_args(argv)

    if args.objects < 0 or args.delete < 0 or args.delete > args.objects or args.batch < 1:
        print("scale.py: need 0 <= --delete <= --objects and --batch >= 1", file=sys.stderr)
        return 2
    kubectl_path = args.kubectl or shutil.which("kubectl")
    if not kubectl_path:
        print("scale.py: kubectl not found: pass --kubectl PATH", file=sys.stderr)
        return 2

    kubectl = Kubectl(kubectl_path, args.kubeconfig, args.context)
    started = time.monotonic()
    deadline = started + args.timeout
    names = [f"{args.prefix}{i:05d}" for i in range(args.start_index, args.start_index + args.objects)]
    to_delete = names[:args.delete]
    errors: list[str] = []
    timed_out = False
    tracker = Tracker(kubectl, args.namespace, args.prefix)
    summary: dict[str, Any] = {}
    try:
        if args.apply_crd:
            apply_crd(kubectl)
        ensure_namespace(kubectl, args.namespace)
        tracker.start()
        log(f"creating {len(names)} widgets in {args.namespace} at {args.rate:g}/s")
        errors += create_all(kubectl, tracker, names, args.namespace, args.rate, args.batch, deadline)
        create_seconds = time.monotonic() - started

        if args.wait_ready:
            def all_ready() -> tuple[bool, str]:
                ready, _ = tracker.snapshot(names)
                return ready >= len(names), f"ready {ready}/{len(names)}"
            timed_out |= not wait_for(all_ready, deadline, "readiness")

        if to_delete:
            log(f"deleting {len(to_delete)} widgets")
            errors += delete_objects(kubectl, to_delete, args.namespace, args.batch)
            if args.wait_ready:
                def all_gone() -> tuple[bool, str]:
                    _, gone = tracker.snapshot(to_delete)
                    return gone >= len(to_delete), f"gone {gone}/{len(to_delete)}"
                timed_out |= not wait_for(all_gone, deadline, "deletion")

        with tracker.lock:
            latencies = [tracker.ready_at[n] - tracker.created_at[n]
                         for n in names if n in tracker.ready_at and n in tracker.created_at]
            ready = sum(1 for n in names if n in tracker.ready_at)
            gone = sum(1 for n in to_delete if n in tracker.gone)
            created = sum(1 for n in names if n in tracker.created_at)
        summary = {
            "namespace": args.namespace,
            "objects": len(names),
            "created": created,
            "ready": ready,
            "deleted": len(to_delete),
            "gone": gone,
            "rate_per_second": args.rate,
            "create_seconds": round(create_seconds, 3),
            "wall_seconds": round(time.monotonic() - started, 3),
            "time_to_ready_seconds": {"p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
                                      "p99": percentile(latencies, 99),
                                      "max": round(max(latencies), 3) if latencies else None},
            "timed_out": timed_out,
            "errors": errors[:20],
        }
    except DriverError as exc:
        print(f"scale.py: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scale.py: interrupted", file=sys.stderr)
        return 130
    finally:
        tracker.close()
    print(json.dumps(summary, indent=2))
    if errors:
        return 2
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
