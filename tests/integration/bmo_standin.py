"""A stand-in for the Bare Metal Operator before its fix (issue 1190): a real process that keeps
requeueing HostFirmwareSettings of deleted hosts, logging as controller-runtime <= 0.12 loggers do
(the object under the lower-case kind, ``"hostfirmwaresettings":"metal3/host-07"``) and counting
``controller_runtime_reconcile_total{result="requeue_after"}`` on /metrics.

Usage: python bmo_standin.py PORT_FILE LOG_FILE [--fixed] [--hosts N] [--every SECONDS]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COUNTS = {"requeue_after": 0, "success": 0}
LOCK = threading.Lock()


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path != "/metrics":
            self.send_response(404)
            self.end_headers()
            return
        with LOCK:
            lines = ["# HELP controller_runtime_reconcile_total Total number of reconciliations per controller",
                     "# TYPE controller_runtime_reconcile_total counter"]
            lines += [f'controller_runtime_reconcile_total{{controller="hostfirmwaresettings",result="{r}"}} {n}'
                      for r, n in COUNTS.items()]
        lines += ["# TYPE go_gc_pauses_seconds_total_sum untyped", "go_gc_pauses_seconds_total_sum NaN",
                  "# TYPE go_goroutines gauge", "go_goroutines 42"]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def log(out: object, msg: str, **fields: object) -> None:
    line = {"level": "info", "ts": time.time(), "logger": "controllers.HostFirmwareSettings", "msg": msg, **fields}
    out.write(json.dumps(line) + "\n")  # type: ignore[attr-defined]
    out.flush()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file", type=Path)
    parser.add_argument("log_file", type=Path)
    parser.add_argument("--fixed", action="store_true", help="the fixed build: deleted hosts are not requeued")
    parser.add_argument("--hosts", type=int, default=15)
    parser.add_argument("--every", type=float, default=2.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with open(args.log_file, "a") as out:
        log(out, "starting manager", ID="temporary-fake-id")
        args.port_file.write_text(str(server.server_address[1]))
        while True:
            for i in range(args.hosts):
                key = f"metal3/host-{i:02d}"
                log(out, "start", hostfirmwaresettings=key)
                if args.fixed:
                    with LOCK:
                        COUNTS["success"] += 1
                    continue
                log(out, "could not get baremetalhost, not running reconciler", hostfirmwaresettings=key)
                log(out, "registering", baremetalhost=f"metal3/host-{i:02d}", ID="temporary-fake-id")
                with LOCK:
                    COUNTS["requeue_after"] += 1
            if args.fixed:
                time.sleep(args.every * 10)
            time.sleep(args.every)


if __name__ == "__main__":
    main()
