"""Fast checks of the harness parts that need no Go: egress proxy, CRI log wrapper, PKI, process groups."""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.controlplane import build as buildmod
from tests.e2e.controlplane.certs import make_pki, write_kubeconfig
from tests.e2e.controlplane.egress import resolve
from tests.e2e.controlplane.procs import ProcessSet, free_port, pid_alive

HERE = Path(__file__).parent / "controlplane"


def test_pinned_versions_come_from_the_wrapper_modules() -> None:
    v = buildmod.pinned_versions()
    assert re.fullmatch(r"v1\.\d+\.\d+", v.kubernetes)
    assert v.etcd.startswith("v3.") and v.kwok.startswith("v0.")
    assert buildmod.bin_dir(v).name == "bin" and v.key in str(buildmod.bin_dir(v))


def test_egress_resolve_only_dials_loopback() -> None:
    mapping = {"10.244.0.7:8080": "127.0.0.1:4242"}
    assert resolve("10.244.0.7:8080", mapping) == ("127.0.0.1", 4242)
    assert resolve("127.0.0.1:10250", mapping) == ("127.0.0.1", 10250)
    assert resolve("10.244.0.7:6060", mapping) is None
    assert resolve("192.168.1.1:80", mapping) is None
    assert resolve("10.0.0.1:80", {"10.0.0.1:80": "10.0.0.2:80"}) is None


@pytest.fixture
def local_http() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def test_egress_proxy_connects_mapped_pod_ip(tmp_path: Path, local_http: int) -> None:
    sock, mapping = tmp_path / "e.sock", tmp_path / "map.json"
    mapping.write_text(json.dumps({"10.244.0.9:8080": f"127.0.0.1:{local_http}"}))
    procs = ProcessSet(tmp_path)
    procs.start("egress", [sys.executable, str(HERE / "egress.py"), "--socket", str(sock), "--map", str(mapping)])
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for target, status in (("10.244.0.9:8080", b"200"), ("10.244.0.9:9999", b"403")):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
                s.sendall(f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
                head = s.recv(200)
                assert head.split()[1] == status, head
                if status == b"200":
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    assert s.recv(100).startswith(b"HTTP/1.0 200")
    finally:
        procs.stop("egress")


def test_crilog_writes_cri_lines(tmp_path: Path) -> None:
    out = tmp_path / "pod.log"
    code = subprocess.call([sys.executable, str(HERE / "crilog.py"), "--out", str(out), "--",
                            "sh", "-c", 'echo hello; echo \'{"level":"info"}\' >&2; exit 3'])
    assert code == 3
    lines = out.read_text().splitlines()
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F .*"
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert any(line.endswith('stderr F {"level":"info"}') for line in lines)
    assert any(line.endswith("stdout F hello") for line in lines)


def test_pki_and_kubeconfig(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    text = subprocess.run(["openssl", "x509", "-in", str(pki.apiserver_crt), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
    subj = subprocess.run(["openssl", "x509", "-in", str(pki.admin_crt), "-noout", "-subject"],
                          capture_output=True, text=True, check=True).stdout
    assert "system:masters" in subj
    kc = write_kubeconfig(tmp_path / "kubeconfig", pki, "https://127.0.0.1:6443")
    assert "server: https://127.0.0.1:6443" in kc.read_text()


def test_process_group_is_killed_with_children(tmp_path: Path) -> None:
    procs = ProcessSet(tmp_path)
    port = free_port()
    procs.start("tree", ["sh", "-c", f"{sys.executable} -m http.server {port} --bind 127.0.0.1 & wait; echo {tmp_path}"])
    pid = procs.recorded()["tree"]
    assert pid_alive(pid)
    procs.stop("tree", timeout=5)
    assert not pid_alive(pid)
    assert "tree" not in procs.recorded()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"http.server {port}" not in ps
