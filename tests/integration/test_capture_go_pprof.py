"""``profkit capture --endpoint`` against a real Go program serving net/http/pprof and /metrics."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from profkit.bundle import open_bundle
from profkit.formats.prometheus import ParsedMetrics, parse_text
from tests.integration.capture_helpers import profkit, start_go_keygen_server, stop, wait_for

pytestmark = [pytest.mark.go, pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")]


@pytest.fixture(scope="module")
def keygen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    url, proc = start_go_keygen_server(tmp_path_factory.mktemp("go"), "--keygen")
    yield url, proc
    stop(proc)


def test_real_go_metrics_text_parses(keygen_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = keygen_server

    def scrape() -> ParsedMetrics:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
            return parse_text(reply.read())

    # A histogram vector shows up once it has a first observation (the first unit of work).
    assert wait_for(lambda: "controller_runtime_reconcile_time_seconds" in scrape().types, 30)
    parsed = scrape()
    assert parsed.malformed == []
    assert parsed.types["go_gc_duration_seconds"] == "summary"
    assert parsed.type_of("controller_runtime_reconcile_time_seconds_bucket") == "histogram"
    assert any(name == "go_goroutines" for name, _, _ in parsed.samples)


def test_capture_go_pprof_endpoint(tmp_path: Path, keygen_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, proc = keygen_server
    out = tmp_path / "bundle"
    result = profkit("capture", "--endpoint", url, "--duration", "20s", "--profile-window", "10s",
                     "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    view = open_bundle(out)
    target = f"127.0.0.1:{url.rsplit(':', 1)[1]}"
    assert view.events("error") == [], [e.message for e in view.events("error")]
    # The process's own arguments, from /debug/pprof/cmdline, so fixes see which flags it was given.
    [recorded] = [t for t in view.targets() if t.name == target]
    argv = [a for a in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode().split("\0") if a]
    assert recorded.spec["args"] == argv and "--keygen" in argv
    assert recorded.spec["args_source"] == "/debug/pprof/cmdline"
    cpu = view.profile_refs(target, "cpu")
    assert len(cpu) == 2 and all(r.duration == 10 for r in cpu)
    assert len(view.profile_refs(target, "heap")) >= 2
    assert len(view.profile_refs(target, "goroutine")) >= 2
    for ref in view.profile_refs(target):
        assert ref.path.endswith(".pb.gz")
        top = subprocess.run(["go", "tool", "pprof", "-top", str(out / ref.path)], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "GOTOOLCHAIN": "local"})
        assert top.returncode == 0, top.stderr
        if ref.kind == "cpu":
            cum = subprocess.run(["go", "tool", "pprof", "-top", "-cum", str(out / ref.path)], capture_output=True,
                                 text=True, timeout=120, env={**os.environ, "GOTOOLCHAIN": "local"}).stdout
            assert "crypto/rsa.GenerateKey" in cum and "main.newPrivateKey" in cum
    assert view.series("go_goroutines", target=target)
    assert view.series("controller_runtime_reconcile_total", target=target)
    from profkit.analyze import run_analyzers

    findings = [f for f in run_analyzers(view, None) if f.id == "repeated-key-generation"]
    assert findings and "main." in findings[0].title + str(findings[0].evidence), [(f.id, f.title) for f in run_analyzers(view, None)]


def test_capture_pid_of_a_go_program_records_its_build_info(tmp_path: Path,
                                                           keygen_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    """The executable's Go build info (what ``go version -m`` prints) is recorded: modules' versions give releases."""
    _, proc = keygen_server
    out = tmp_path / "bundle"
    result = profkit("capture", "--pid", f"{proc.pid},name=keygen", "--duration", "2s", "--out", str(out), timeout=60)
    assert result.returncode == 0, result.stderr
    [target] = [t for t in open_bundle(out).targets() if t.name == "keygen"]
    info = target.spec["go_build_info"]
    listing = subprocess.run(["go", "version", "-m", f"/proc/{proc.pid}/exe"], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "GOTOOLCHAIN": "local"}).stdout
    deps = dict(line.split("\t")[2:4] for line in listing.splitlines() if line.startswith("\tdep\t"))
    assert info["path"] == "profkit.dev/examples/go-keygen-server" and info["go_version"] in listing
    assert info["deps"] == deps and "github.com/prometheus/client_golang" in deps
