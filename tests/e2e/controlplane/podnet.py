"""Pod network namespaces for local processes: a holder per pod and a TCP relay between namespaces.

Real managers bind all interfaces (Cluster API's webhook server has no host flag) and
use fixed ports (:8443 diagnostics, :9440 health, :9443 webhooks) that would collide
between managers on one host. Each kwok pod whose process needs that gets its own
network (and mount) namespace, as a real pod does: a holder process made with
``unshare --net --mount`` that has only loopback up. Inside it the process keeps its
shipped flags and listens on that namespace's loopback only.

The relay (run as a script: ``python podnet.py --config FILE``) copies TCP streams
between namespaces. Every forward is ``listen (namespace, 127.0.0.1:port)`` ->
``connect (namespace, 127.0.0.1:port)``; a namespace is a ``/proc/PID/ns/net`` path
or ``null`` for the relay's own (the host's). It creates each socket in its
namespace (setns around ``socket()``; a socket keeps the namespace it was made in)
and never listens or dials anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import shlex
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

CLONE_NEWNET = 0x40000000
LOOPBACK = "127.0.0.1"

_libc = ctypes.CDLL(None, use_errno=True)
_setns_lock = threading.Lock()
_ns_fds: dict[str, int] = {}
_own_ns = -1


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _ns_fd(path: str) -> int:
    fd = _ns_fds.get(path)
    if fd is None:
        fd = _ns_fds[path] = os.open(path, os.O_RDONLY)
    return fd


def socket_in(ns: str | None) -> socket.socket:
    """A TCP socket created in network namespace ``ns`` (None: this process's own)."""
    if ns is None:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with _setns_lock:  # setns is per thread; the lock keeps one switch at a time
        _setns(_ns_fd(ns))
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _setns(_own_ns)


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            r, _, _ = select.select([a, b], [], [], 300)
            if not r:
                continue
            for src in r:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)
    except OSError:
        return
    finally:
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass


def _serve(listener: socket.socket, connect_ns: str | None, connect_port: int) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            out = socket_in(connect_ns)
            out.settimeout(10)
            out.connect((LOOPBACK, connect_port))
            out.settimeout(None)
        except OSError as exc:
            print(f"podnet: connect {connect_ns or 'host'} {LOOPBACK}:{connect_port}: {exc}", file=sys.stderr,
                  flush=True)
            conn.close()
            continue
        threading.Thread(target=_pump, args=(conn, out), daemon=True).start()


def start_forward(fwd: dict[str, Any]) -> threading.Thread:
    """Listen as ``fwd['listen']`` says and relay each connection to ``fwd['connect']``."""
    lis, con = fwd["listen"], fwd["connect"]
    s = socket_in(lis.get("ns"))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((LOOPBACK, int(lis["port"])))
    s.listen(128)
    t = threading.Thread(target=_serve, args=(s, con.get("ns"), int(con["port"])), daemon=True)
    t.start()
    return t


def main(argv: list[str] | None = None) -> int:
    global _own_ns
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--config", type=Path, required=True, help='JSON {"forwards": [{"listen": {...}, "connect": {...}}]}')
    p.add_argument("--ready", type=Path, help="file written once every listener is up")
    args = p.parse_args(argv)
    _own_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    forwards = json.loads(args.config.read_text())["forwards"]
    threads = []
    for fwd in forwards:
        try:
            threads.append(start_forward(fwd))
        except OSError as exc:
            print(f"podnet: listen {fwd['listen']}: {exc}", file=sys.stderr, flush=True)
            return 1
    if args.ready:
        args.ready.write_text(f"{len(threads)}\n")
    print(f"podnet: {len(threads)} forwards up", file=sys.stderr, flush=True)
    threading.Event().wait()
    return 0


def holder_command(binds: Sequence[tuple[Path, str]], tag: Path) -> list[str]:
    """The command of a pod's namespace holder: new net and mount namespaces, loopback up, ``binds`` mounted.

    Each bind is (host directory, mount point): a pod's Secret volumes and ServiceAccount token. The
    mount points are made on the host (empty directories) and bound only inside the holder's mount
    namespace. ``tag`` (a path under the control plane's directory) is written once it is ready and
    stays on the holder's command line so the harness recognises the process as its own.
    """
    q = shlex.quote
    steps = ["ip link set lo up"]
    steps += [f"mkdir -p {q(dst)} && mount --bind {q(str(src))} {q(dst)}" for src, dst in binds]
    steps += [f"echo ready > {q(str(tag))}", "while :; do sleep 3600; done"]
    return ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c", " && ".join(steps)]


if __name__ == "__main__":
    sys.exit(main())
