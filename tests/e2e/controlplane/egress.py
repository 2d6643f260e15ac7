"""HTTP CONNECT proxy on a Unix socket: the API server's egress route from pod IPs to local processes.

kube-apiserver refuses to proxy to loopback pod IPs, and kwok pods get ordinary
(unroutable here) IPs. The API server is started with an EgressSelectorConfiguration
whose "cluster" egress goes through this proxy, which rewrites ``podIP:port`` to the
local ``127.0.0.1:PORT`` listed in a JSON map file (re-read when it changes) and
passes ``127.0.0.1`` targets (kwok's kubelet server) through. It never dials any
other address. Run as a script: ``python egress.py --socket PATH --map FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import socketserver
import sys
import threading
from pathlib import Path

_lock = threading.Lock()
_cache: dict[str, object] = {"mtime": None, "map": {}}


def load_map(path: Path) -> dict[str, str]:
    """The ``"ip:port" -> "127.0.0.1:port"`` map, cached by mtime."""
    with _lock:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if _cache["mtime"] != mtime:
            try:
                _cache["map"] = json.loads(path.read_text() or "{}")
                _cache["mtime"] = mtime
            except ValueError:
                pass  # half-written; keep the previous map
        mapping = _cache["map"]
        assert isinstance(mapping, dict)
        return dict(mapping)


def resolve(target: str, mapping: dict[str, str]) -> tuple[str, int] | None:
    """Where to dial for a CONNECT target, or None when it is not allowed."""
    dest = mapping.get(target)
    if dest is None:
        host, _, port = target.rpartition(":")
        if host in ("127.0.0.1", "localhost") and port.isdigit():
            dest = f"127.0.0.1:{port}"
        else:
            return None
    host, _, port = dest.rpartition(":")
    if host != "127.0.0.1" or not port.isdigit():
        return None
    return host, int(port)


class Handler(socketserver.BaseRequestHandler):
    """Serve one CONNECT request, then copy bytes both ways."""

    map_path: Path

    def handle(self) -> None:
        conn: socket.socket = self.request
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
            if len(buf) > 65536:
                return
        head, _, rest = buf.partition(b"\r\n\r\n")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) < 2 or parts[0] != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        dest = resolve(parts[1], load_map(self.map_path))
        if dest is None:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\nno local mapping for " + parts[1].encode() + b"\n")
            return
        try:
            upstream = socket.create_connection(dest, timeout=5)
        except OSError as exc:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n" + str(exc).encode())
            return
        upstream.settimeout(None)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        _pump(conn, upstream)


def _pump(a: socket.socket, b: socket.socket) -> None:
    socks = [a, b]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 300)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Threaded Unix-socket server."""

    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--map", required=True)
    args = parser.parse_args(argv)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    Handler.map_path = Path(args.map)
    with Server(args.socket, Handler) as server:
        print(f"egress proxy listening on {args.socket}", file=sys.stderr, flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
