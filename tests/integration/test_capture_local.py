"""``profkit capture`` on real local targets: a demo controller process, real HTTP servers, bad endpoints."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profkit.bundle import open_bundle
from tests.integration.capture_helpers import (
    HangingEndpoint,
    html_error_server,
    profkit,
    profkit_popen,
    start_demo_controller,
    static_pprof_server,
    stop,
    wait_for,
)


def _count(db: Path, query: str) -> int:
    """A count from a bundle being written (0 while its schema is still being created)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_capture_demo_controller_and_endpoints_with_failures(tmp_path: Path) -> None:
    demo = start_demo_controller(tmp_path, "--keygen-per-reconcile", "2", "--requeue-deleted",
                                 "--delete-every", "1", "--requeue-after", "0.5")
    static_server, static_url = static_pprof_server()
    html_server, html_url = html_error_server()
    hang = HangingEndpoint()
    out = tmp_path / "bundle"
    try:
        started = time.time()
        result = profkit(
            "capture", "--out", str(out), "--duration", "14s", "--profile-window", "5s", "--scrape-interval", "1s",
            "--pid", f"{demo.proc.pid},name=demo",
            "--endpoint", f"metrics={demo.url},name=demo",
            "--log-file", f"{demo.log_file},name=demo",
            "--endpoint", f"{static_url},name=static",
            "--endpoint", f"{html_url},name=html",
            "--endpoint", f"{hang.url},name=hang",
        )
        elapsed = time.time() - started
    finally:
        stop(demo.proc)
        static_server.shutdown()
        html_server.shutdown()
        hang.close()
    # html and hang gave nothing: the capture says so and exits 3 (README's exit codes), the bundle keeps the rest.
    assert result.returncode == 3, result.stderr
    assert elapsed < 14 + 12, f"a hanging endpoint held the capture up: {elapsed:.1f}s"
    assert "targets with errors: html, hang" in result.stderr or "targets with errors: hang, html" in result.stderr
    assert "profkit: no data from target html" in result.stderr and "profkit: no data from target hang" in result.stderr
    assert "no data from target demo" not in result.stderr and "no data from target static" not in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("profkit: captured nothing from hang, html")
    analyzed = profkit("analyze", str(out), "--fail-on", "warning", "--json", "--only", "no-data")
    assert analyzed.returncode == 1, analyzed.stderr
    no_data = {f["target"]: f for f in json.loads(analyzed.stdout)["findings"]}
    assert set(no_data) == {"html", "hang"} and {f["severity"] for f in no_data.values()} == {"critical"}

    view = open_bundle(out)
    assert view.status == "complete"
    assert {t.name for t in view.targets()} == {"demo", "static", "html", "hang"}

    # The demo controller: every /metrics series kept, psutil usage, logs parsed, py-spy profiles.
    names = set(view.metric_names("demo"))
    assert {"controller_runtime_reconcile_total", "workqueue_depth", "rest_client_requests_total",
            "controller_runtime_reconcile_time_seconds_bucket"} <= names
    requeue = view.series("controller_runtime_reconcile_total", target="demo", result="requeue_after")
    assert requeue and len(requeue[0].points) >= 8 and requeue[0].increase() > 0
    usage = view.series("process_cpu_seconds_total", target="demo", source="psutil")
    assert usage and usage[0].points[-1][1] > 0
    assert view.series("process_resident_memory_bytes", target="demo", source="psutil")
    logs = list(view.logs("demo"))
    assert len(logs) > 20
    assert any(r.message == "could not get widget, not running reconciler" and r.object_key.startswith("demo/w-")
               for r in logs)
    assert all(r.ts > started - 60 for r in logs)
    speedscope = view.profile_refs("demo", "cpu")
    assert len(speedscope) >= 2 and all(r.format == "speedscope" for r in speedscope)
    profile = view.load_profile(speedscope[0])
    assert profile.language == "python" and profile.total > 0
    names_in_profile = {f.name for f in profile.frames}
    assert any("newkeys" in n for n in names_in_profile), sorted(names_in_profile)[:40]

    # The real HTTP server with recorded Go profiles: CPU windows plus heap and goroutine snapshots.
    kinds = {r.kind for r in view.profile_refs("static")}
    assert {"cpu", "heap", "goroutine"} <= kinds
    for ref in view.profile_refs("static"):
        raw = (out / ref.path).read_bytes()
        assert raw[:2] == b"\x1f\x8b"
        assert ref.path.endswith(".pb.gz") and f"profiles/static/127.0.0.1_" in ref.path
    assert view.load_profile(view.profile_refs("static", "cpu")[0]).total > 0
    assert view.series("go_goroutines", target="static")

    # The HTML page and the hanging socket: recorded errors, no profiles stored.
    assert view.profile_refs("html") == []
    html_errors = [e.message for e in view.events("error", target="html")]
    assert any("not a pprof profile: an HTML page" in m for m in html_errors), html_errors
    assert any("HTTP 502" in m for m in html_errors)
    assert any("HTTP 404" in m for m in html_errors)  # /metrics
    assert view.profile_refs("hang") == []
    hang_errors = [e.message for e in view.events("error", target="hang")]
    assert any("no answer" in m or "timed out" in m for m in hang_errors), hang_errors
    assert view.events("error", target="static") == []


def test_unknown_pid_exits_2_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = profkit("capture", "--pid", "999999999", "--out", str(out), timeout=60)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "999999999" in lines[0] and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--endpoint", "ftp://x"], "not an http(s) URL"),
    (["--endpoint", "pprof=http://a:1,bogus=1"], "expected URL or pprof=URL"),
    (["--duration", "5 minutes", "--endpoint", "http://127.0.0.1:9"], "not a duration"),
    ([], "nothing to capture"),
    (["--", "/no/such/program"], "not an executable file"),
    # Reachability is checked before anything is captured (port 9, discard, has no listener here).
    (["--endpoint", "http://127.0.0.1:9"], "nothing is listening at 127.0.0.1:9"),
    (["--endpoint", "pprof=http://127.0.0.1:9,metrics=http://127.0.0.1:9/metrics,name=kcp"], "nothing is listening"),
    (["--log-file", "/nonexistent/kcp.log,name=kcp"], "--log-file /nonexistent/kcp.log: no such file"),
    # No cluster here: without Kubernetes support, or without a kubeconfig, one line and exit 2.
    (["--deployment", "kcp", "--kubeconfig", "/nonexistent/kubeconfig"], ""),
])
def test_bad_usage_exits_2(tmp_path: Path, argv: list[str], message: str) -> None:
    result = profkit("capture", "--out", str(tmp_path / "b"), *argv, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len([ln for ln in result.stderr.splitlines() if ln.strip()]) == 1, result.stderr
    assert not (tmp_path / "b" / "profkit.db").exists()


def test_command_target_stops_capture_and_records_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    script = ("import sys, time\n"
              "print('{\"level\":\"info\",\"ts\":%f,\"msg\":\"hello from the command\"}' % time.time(), flush=True)\n"
              "print('I1124 08:30:00.000001   1 main.go:1] on stderr', file=sys.stderr, flush=True)\n"
              "t = time.time()\n"
              "while time.time() - t < 3: sum(range(1000))\n"
              "sys.exit(5)\n")
    started = time.time()
    result = profkit("capture", "--out", str(out), "--profile-window", "2s", "--scrape-interval", "0.5s",
                     "--", sys.executable, "-c", script, timeout=90)
    # As `time` does: the command's failure is profkit's exit status, once the bundle is complete.
    assert result.returncode == 5, result.stderr
    assert time.time() - started < 30
    assert "command exit code: 5" in result.stderr and "exiting with 5" in result.stderr
    view = open_bundle(out)
    assert view.status == "complete"
    assert view.meta["command_exit_code"] == "5"
    (target,) = view.targets()
    assert target.kind == "command"
    messages = {r.message: r for r in view.logs()}
    assert "hello from the command" in messages
    assert messages["on stderr"].fields.get("source") == "main.go:1"
    assert view.series("process_cpu_seconds_total", source="psutil")
    assert view.profile_refs(kind="cpu"), "py-spy profiled the launched Python command"


def test_sigint_exits_130_with_interrupted_bundle(tmp_path: Path) -> None:
    demo = start_demo_controller(tmp_path, "--keygen-per-reconcile", "1")
    out = tmp_path / "bundle"
    proc = profkit_popen("capture", "--out", str(out), "--pid", str(demo.proc.pid),
                         "--endpoint", f"metrics={demo.url}", "--log-file", str(demo.log_file),
                         "--profile-window", "30s", "--scrape-interval", "1s")
    try:
        db = out / "profkit.db"
        assert wait_for(lambda: db.exists() and _count(db, "SELECT count(*) FROM points") > 0, 30)
        time.sleep(3)  # py-spy is mid-window
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        stop(proc)
        stop(demo.proc)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    view = open_bundle(out)
    assert view.status == "interrupted"
    assert view.series("workqueue_depth")
    # py-spy was flushed by the interrupt: the partial window is kept.
    refs = view.profile_refs(kind="cpu")
    assert refs and refs[0].duration < 30
    assert view.load_profile(refs[0]).total > 0


def test_sigkill_leaves_a_readable_bundle(tmp_path: Path) -> None:
    demo = start_demo_controller(tmp_path, "--keygen-per-reconcile", "1")
    out = tmp_path / "bundle"
    proc = profkit_popen("capture", "--out", str(out), "--pid", str(demo.proc.pid),
                         "--endpoint", f"metrics={demo.url}", "--log-file", str(demo.log_file),
                         "--profile-window", "2s", "--scrape-interval", "0.5s", "--duration", "5m")
    try:
        db = out / "profkit.db"
        assert wait_for(lambda: db.exists() and _count(db, "SELECT count(*) FROM profiles") >= 1
                        and _count(db, "SELECT count(*) FROM points") > 0, 40)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        stop(proc)
        stop(demo.proc)
    view = open_bundle(out)
    assert view.status == "running"  # never closed
    assert view.series("controller_runtime_reconcile_total")
    refs = view.profile_refs(kind="cpu")
    # Every stored window decodes; a 2 s window may hold no samples on a busy machine (seen in CI).
    assert refs and all(view.load_profile(ref).unit for ref in refs)
    assert view.log_count() > 0
    start, end = view.time_range()
    assert end > start
    assert json.loads(view.meta["command"])[:2] == ["profkit", "capture"]


def test_pid_of_a_process_that_is_not_python_says_so_and_points_at_endpoint(tmp_path: Path) -> None:
    from profkit.sources.plan import is_python_process

    sleeper = subprocess.Popen(["sleep", "120"])  # a native program, as a Go controller is to py-spy
    try:
        assert is_python_process(sleeper.pid) is False and is_python_process(os.getpid()) is True
        result = profkit("capture", "--out", str(tmp_path / "b"), "--pid", str(sleeper.pid), "--duration", "3s",
                         "--scrape-interval", "0.5s", timeout=60)
    finally:
        stop(sleeper)
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"profkit: --pid {sleeper.pid} (sleep) is not a Python process") and "--endpoint" in first
    view = open_bundle(tmp_path / "b")
    assert view.series("process_cpu_seconds_total", source="psutil")
    assert view.events("error") == []  # py-spy's "not a Python process" is information, not an error


def test_metrics_only_endpoint_url(tmp_path: Path) -> None:
    demo = start_demo_controller(tmp_path)
    try:
        result = profkit("capture", "--out", str(tmp_path / "b"), "--endpoint", f"{demo.url}/metrics",
                         "--duration", "3s", "--scrape-interval", "1s", timeout=60)
    finally:
        stop(demo.proc)
    assert result.returncode == 0, result.stderr
    view = open_bundle(tmp_path / "b")
    (target,) = view.targets()
    assert target.name == f"127.0.0.1:{demo.port}"
    assert view.series("workqueue_depth", target=target.name)
    assert view.profile_refs() == [] and view.events("error") == []


if __name__ == "__main__":
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", __file__, "-v"]))
