"""Unit tests for profkit.kube.pyspy: py-spy commands, the node-agent manifest, mode choice and cleanup."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from profkit.errors import BadInput
from profkit.kube import pyspy
from profkit.kube.pyspy import (
    AGENT_SELECTOR, ExecResult, PodPySpy, PySpyError, PySpyNotAllowed, PySpyOptions, agent_pod_manifest,
    agent_record_command, container_id, exec_probe_command, exec_record_command, first_error_line,
    parse_stat_seconds, record_args, split_record_output,
)

SPIN = "import time\ndef spin_here():\n    t = time.time()\n    while time.time() - t < 8: sum(range(500))\nspin_here()\n"


# -- command building ---------------------------------------------------------------------------
def test_record_args_whole_seconds_and_flags() -> None:
    args = record_args("42", 29.6, "/tmp/x.json", PySpyOptions(rate=50, subprocesses=False, nonblocking=True))
    assert args[:2] == ["py-spy", "record"]
    assert args[args.index("--pid") + 1] == "42"
    assert args[args.index("--format") + 1] == "speedscope"
    assert args[args.index("--rate") + 1] == "50"
    assert args[args.index("--duration") + 1] == "30"  # py-spy accepts integers only
    assert args[args.index("-o") + 1] == "/tmp/x.json"
    assert "--nonblocking" in args and "--subprocesses" not in args
    assert record_args("1", 0.2, "o")[record_args("1", 0.2, "o").index("--duration") + 1] == "1"
    assert "--subprocesses" in record_args("1", 5, "o")


def test_exec_record_command_reads_pid_from_env_and_keeps_stdout_clean() -> None:
    argv = exec_record_command(30)
    assert argv[:2] == ["sh", "-c"]
    script = argv[2]
    assert 'pk_pid="${PROFKIT_PYSPY_PID:-1}"' in script and '--pid "$pk_pid"' in script
    assert '-o "$out"' in script and "1>&2" in script  # py-spy's own chatter goes to stderr
    assert script.rstrip().endswith('cat "$out"')
    assert "rm -f" in script


def test_agent_record_command_finds_container_by_cgroup() -> None:
    cid = "0123456789abcdef" * 4
    script = agent_record_command(cid, 10)[2]
    assert f"cid={cid}" in script and "${PROFKIT_PROC:-/proc}" in script and "cgroup" in script
    assert 'pk_pid="$pid"' in script and '--pid "$pk_pid"' in script
    with pytest.raises(PySpyError):
        agent_record_command("abc; rm -rf /", 10)


def _run_script(argv: list[str], env: dict[str, str], stop_after: float | None = None) -> tuple[int, bytes, str, float]:
    """Run a record script as exec does: stdin open until it exits, a line on it after ``stop_after`` s."""
    import tempfile

    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env)
        assert proc.stdin is not None
        if stop_after is not None:
            time.sleep(stop_after)
            proc.stdin.write(b"stop\n")
            proc.stdin.flush()
        proc.wait(timeout=60)
        proc.stdin.close()
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read().decode(), time.monotonic() - start


@pytest.mark.skipif(shutil.which("py-spy") is None, reason="py-spy not installed")
def test_exec_commands_for_real_against_a_local_python_process() -> None:
    """The exact sh scripts run in a container, run here against a real process."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.5)
        env = dict(os.environ, PROFKIT_PYSPY_PID=str(proc.pid))
        probe = subprocess.run(exec_probe_command(), capture_output=True, env=env, timeout=10)
        assert probe.stdout.decode().split() == ["ok", str(proc.pid)]
        tick = os.sysconf("SC_CLK_TCK")
        own_cpu = lambda: sum(int(f) for f in Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]) / tick  # noqa: E731
        before = own_cpu()
        code, out, err, _ = _run_script(exec_record_command(1), env)
        after = own_cpu()
        assert code == 0, err
        data, cpu = split_record_output(out)
        doc = json.loads(data)  # after the CPU snapshots, nothing but the speedscope file on stdout
        # The process's utime+stime at both edges, as /proc tells this test around the exec.
        first, last = cpu["start"].process_seconds, cpu["end"].process_seconds
        assert first is not None and last is not None and before <= first <= last <= after, (before, first, last, after)
        assert last - first > 0.3  # it spun through the window
        assert list(cpu["end"].thread_seconds) == [str(proc.pid)]  # one thread: the main one, tid = pid
        names = {f["name"] for f in doc["shared"]["frames"]}
        assert "spin_here" in names
        # a line on stdin ends a 30 s window early, with the samples so far
        code, out, err, took = _run_script(exec_record_command(30), env, stop_after=1.5)
        assert code == 0 and took < 10, (err, took)
        samples = sum(len(p["samples"]) for p in json.loads(split_record_output(out)[0])["profiles"])
        assert 50 <= samples <= 500
        code, out, err, _ = _run_script(exec_record_command(1), dict(env, PROFKIT_PYSPY_PID="999999"))
        assert code != 0 and b"profkit-speedscope" not in out
        assert first_error_line(err)
    finally:
        proc.kill()
        proc.wait()


def test_probe_reports_missing_py_spy(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}  # no py-spy there
    out = subprocess.run(["/bin/sh", "-c", exec_probe_command()[2]], capture_output=True, env=env, timeout=10)
    assert out.stdout.decode().strip() == "missing"


# -- node agent manifest ---------------------------------------------------------------------------
def test_agent_manifest_is_privileged_enough_and_labelled_for_cleanup() -> None:
    m = agent_pod_manifest("widgets", "widget-controller-7d9f-abcde", "node-3", image="my/py-spy:1",
                           capture_id="cap1", deadline_seconds=900)
    spec, meta = m["spec"], m["metadata"]
    assert m["kind"] == "Pod" and meta["namespace"] == "widgets"
    assert meta["generateName"] == "profkit-pyspy-"
    assert spec["hostPID"] is True and spec["nodeName"] == "node-3"
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] == 900
    assert spec["terminationGracePeriodSeconds"] == 0
    (container,) = spec["containers"]
    assert container["image"] == "my/py-spy:1"
    assert container["securityContext"]["capabilities"]["add"] == ["SYS_PTRACE"]
    labels = meta["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "profkit"
    assert labels["profkit.dev/capture"] == "cap1"
    assert labels["profkit.dev/target-pod"] == "widget-controller-7d9f-abcde"
    for pair in AGENT_SELECTOR.split(","):
        key, value = pair.split("=")
        assert labels[key] == value
    assert meta["annotations"]["profkit.dev/target"] == "widgets/widget-controller-7d9f-abcde"
    assert agent_pod_manifest("a", "p", "n", namespace="profkit")["metadata"]["namespace"] == "profkit"
    assert len(agent_pod_manifest("a", "p" * 80 + "-", "n")["metadata"]["labels"]["profkit.dev/target-pod"]) <= 63


def test_container_id_strips_the_runtime_prefix() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"containerStatuses": [
        {"name": "sidecar", "containerID": "containerd://aaa"},
        {"name": "manager", "containerID": "cri-o://bbb"},
    ]}}
    assert container_id(pod, "manager") == "bbb"
    assert container_id(pod) == "aaa"
    with pytest.raises(PySpyError):
        container_id(pod, "nope")
    with pytest.raises(PySpyError):
        container_id({"metadata": {"name": "p"}, "status": {}})


def test_error_channel_and_error_lines() -> None:
    assert pyspy._parse_error_channel(b'{"metadata":{},"status":"Success"}') == (0, "")
    code, _ = pyspy._parse_error_channel(json.dumps({
        "status": "Failure", "reason": "NonZeroExitCode", "message": "command terminated with non-zero exit code",
        "details": {"causes": [{"reason": "ExitCode", "message": "4"}]}}).encode())
    assert code == 4
    code, msg = pyspy._parse_error_channel(b'{"status":"Failure","message":"exec: \\"sh\\": not found"}')
    assert code is None and "not found" in msg
    assert first_error_line("py-spy> Sampling\nError: No python processes found\n\nStack backtrace:\n 0: x") == \
        "No python processes found"


# -- mode choice with a fake exec --------------------------------------------------------------------
class FakeExec:
    """Stands in for run_exec: answers the probe and the record command."""

    def __init__(self, probe: ExecResult | Exception, record: ExecResult | None = None) -> None:
        self.probe, self.record_result = probe, record
        self.sleep = False
        self.calls: list[tuple[str, str, str | None, list[str]]] = []

    def __call__(self, api: Any, namespace: str, pod: str, container: str | None, command: list[str],
                 timeout: float, stop: Any = None, stdin: bool = False) -> ExecResult:
        self.calls.append((namespace, pod, container, command))
        if "command -v py-spy" in command[-1]:
            if isinstance(self.probe, Exception):
                raise self.probe
            return self.probe
        assert self.record_result is not None
        if self.sleep:
            time.sleep(float(command[-1].split("--duration ")[1].split()[0]))
        return self.record_result


class Forbidden(Exception):
    status = 0
    reason = "Handshake status 403 Forbidden -+-+- {...}"


def test_exec_mode_records_speedscope(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = b'{"$schema":"https://www.speedscope.app/file-format-schema.json","profiles":[]}'
    fake = FakeExec(ExecResult(b"ok 7\n", "", 0), ExecResult(doc + b"\n", "py-spy> Sampling", 0))
    monkeypatch.setattr(pyspy, "run_exec", fake)
    spy = PodPySpy(object(), "ns", "pod-1", container="manager")
    assert spy.record(2) == doc
    assert spy.mode == "exec" and spy.pid == "7"
    ns, pod, container, argv = fake.calls[-1]
    assert (ns, pod, container) == ("ns", "pod-1", "manager") and "--duration 2" in argv[2]


#: Real output of the exec record script (1 busy + 1 idle thread, 3 s window) on this project's machine.
POD_RECORD = Path(__file__).parent.parent / "fixtures" / "pyspy-pod-record-output.txt"


def test_stat_line_gives_utime_plus_stime_even_with_spaces_and_parens_in_the_name() -> None:
    line = "4242 (my (odd) name) R 1 1 1 0 -1 4194304 10 0 0 0 250 37 0 0 20 0 3 0 100 0 0"
    assert parse_stat_seconds(line, 100) == ("4242", 2.87)
    assert parse_stat_seconds(line, 250) == ("4242", pytest.approx(287 / 250))
    assert parse_stat_seconds("garbage", 100) is None
    assert parse_stat_seconds("1 (x) R 1", 100) is None


def test_recorded_pod_window_carries_the_processes_and_threads_proc_cpu() -> None:
    data, cpu = split_record_output(POD_RECORD.read_bytes())
    assert json.loads(data)["profiles"]
    start, end = cpu["start"], cpu["end"]
    # From the recording: process utime+stime 115+1 -> 447+1 ticks at 100 Hz, node uptime 6078.46 -> 6081.84.
    assert (start.process_seconds, end.process_seconds) == (pytest.approx(1.16), pytest.approx(4.48))
    assert (start.uptime, end.uptime) == (6078.46, 6081.84)
    assert set(start.thread_seconds) == set(end.thread_seconds) == {"8865", "8867"}
    assert end.thread_seconds["8865"] - start.thread_seconds["8865"] == pytest.approx(0.0)  # the idle main thread
    busy = end.thread_seconds["8867"] - start.thread_seconds["8867"]
    assert busy == pytest.approx(end.process_seconds - start.process_seconds, abs=0.011)
    assert split_record_output(b'{"profiles":[]}\n') == (b'{"profiles":[]}', {})  # an older script: JSON only


def test_pod_window_is_scaled_to_the_cpu_the_pods_proc_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Collector -> counters named as the local path's -> the bundle reader scales the pod's profile."""
    from profkit.bundle.cpu_time import SCALED_THREADS, Window, cpu_seconds_profile
    from profkit.formats import load_profile_bytes
    from profkit.model import Series
    from profkit.sources.base import CaptureOptions

    fake = FakeExec(ExecResult(b"ok 8865\n", "", 0), ExecResult(POD_RECORD.read_bytes(), "", 0))
    fake.sleep = True  # the window takes its 3 s, as the recording did
    monkeypatch.setattr(pyspy, "run_exec", fake)
    points: list[tuple[str, str, float, list[tuple[str, dict[str, str], float]]]] = []
    sink = FakeSink()
    sink.add_points = lambda target, instance, ts, samples: points.append((target, instance, ts, list(samples)))  # type: ignore[attr-defined]
    collector = _collector(sink, CaptureOptions(profile_window=3.0, deadline=time.time() + 3.5), "pod-a", "manager")
    collector.run(threading.Event())
    (_, instance, kind, fmt, data, start, duration), = sink.profiles
    assert [(p[0], p[1]) for p in points] == [("example", "pod-a")] * 2
    assert points[1][2] - points[0][2] == pytest.approx(6081.84 - 6078.46)  # the span the node measured
    by_name: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _, _, ts, samples in points:
        for name, labels, value in samples:
            by_name.setdefault((name, labels.get("tid", "")), []).append((ts, value))
    series = [Series(name, {"tid": tid} if tid else {}, pts, "t", "pod-a") for (name, tid), pts in by_name.items()]
    profile = cpu_seconds_profile(data, lambda raw: load_profile_bytes(raw, "pod", kind="cpu"),
                                  Window(instance, start, duration), lambda n: [s for s in series if s.name == n])
    assert profile.extra["cpu_time"] == SCALED_THREADS
    # 3.32 CPU-s in the 3.38 s between the snapshots, the window's 3 s share of it.
    assert profile.total / 1e9 == pytest.approx(3.32 * duration / 3.38, rel=0.01)


def test_exec_mode_failure_is_a_window_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeExec(ExecResult(b"ok 1\n", "", 0),
                    ExecResult(b"", "Error: Permission denied (os error 13)\nStack backtrace:", 1))
    monkeypatch.setattr(pyspy, "run_exec", fake)
    with pytest.raises(PySpyError, match="add SYS_PTRACE to the container"):
        PodPySpy(object(), "ns", "p").record(1)


def test_neither_exec_nor_agent_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyspy, "run_exec", FakeExec(Forbidden()))
    with pytest.raises(PySpyNotAllowed) as err:
        PodPySpy(object(), "widgets", "p").prepare()
    assert isinstance(err.value, BadInput) and err.value.exit_code == 2
    assert "pods/exec" in str(err.value) and "\n" not in str(err.value)


class FakeCore:
    """CoreV1Api stand-in: a scheduled target pod; create either forbidden or recorded."""

    created: list[dict[str, Any]] = []
    deleted: list[tuple[str, str]] = []
    forbid_create = False
    cid = "ab" * 32

    def __init__(self, api: Any = None) -> None:
        pass

    def read_namespaced_pod(self, name: str, namespace: str) -> dict[str, Any]:
        return {"metadata": {"name": name}, "spec": {"nodeName": "node-1"},
                "status": {"containerStatuses": [{"name": "manager", "containerID": "containerd://" + FakeCore.cid}]}}

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any]) -> Any:
        if FakeCore.forbid_create:
            exc = Exception("forbidden")
            exc.status = 403  # type: ignore[attr-defined]
            exc.body = '{"message":"pods is forbidden"}'  # type: ignore[attr-defined]
            raise exc
        FakeCore.created.append(body)
        meta = type("Meta", (), {"name": f"profkit-pyspy-{len(FakeCore.created)}"})
        return type("Pod", (), {"metadata": meta})

    def delete_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> None:
        FakeCore.deleted.append((namespace, name))


class FakeApi:
    configuration = None

    def sanitize_for_serialization(self, obj: Any) -> Any:
        return obj


@pytest.fixture
def fake_core(monkeypatch: pytest.MonkeyPatch) -> type[FakeCore]:
    from kubernetes import client

    FakeCore.created, FakeCore.deleted, FakeCore.forbid_create, FakeCore.cid = [], [], False, "ab" * 32
    monkeypatch.setattr(client, "CoreV1Api", FakeCore)
    monkeypatch.setattr(client, "ApiClient", lambda *a, **k: FakeApi())
    monkeypatch.setattr(pyspy.NodeAgent, "wait_ready", lambda self, timeout: None)
    monkeypatch.setattr(pyspy, "_install_handlers", lambda: None)
    return FakeCore


def test_no_py_spy_in_container_uses_an_agent_and_close_deletes_it(
        monkeypatch: pytest.MonkeyPatch, fake_core: type[FakeCore]) -> None:
    doc = b'{"profiles":[]}'
    fake = FakeExec(ExecResult(b"missing\n", "", 0), ExecResult(doc, "", 0))
    monkeypatch.setattr(pyspy, "run_exec", fake)
    with PodPySpy(FakeApi(), "widgets", "ctl-1", container="manager",
                  options=PySpyOptions(agent_image="img:1"), capture_id="c9") as spy:
        assert spy.record(3) == doc
        assert spy.mode == "agent"
        (body,) = fake_core.created
        assert body["spec"]["nodeName"] == "node-1" and body["spec"]["containers"][0]["image"] == "img:1"
        ns, pod, container, argv = fake.calls[-1]
        assert (ns, pod, container) == ("widgets", "profkit-pyspy-1", "py-spy") and "ab" * 32 in argv[2]
        fake_core.cid = "cd" * 32  # the container restarted: the next window follows the new id
        spy.record(3)
        assert "cd" * 32 in fake.calls[-1][3][2]
        assert pyspy.live_agents() == [("widgets", "profkit-pyspy-1")]
    assert fake_core.deleted == [("widgets", "profkit-pyspy-1")]
    assert pyspy.live_agents() == []


def test_agent_create_forbidden_names_the_permission(
        monkeypatch: pytest.MonkeyPatch, fake_core: type[FakeCore]) -> None:
    fake_core.forbid_create = True
    monkeypatch.setattr(pyspy, "run_exec", FakeExec(ExecResult(b"missing\n", "", 0)))
    with pytest.raises(PySpyNotAllowed, match="pods create in widgets"):
        PodPySpy(FakeApi(), "widgets", "ctl-1").prepare()
    assert pyspy.live_agents() == []


def test_cleanup_agents_deletes_every_live_agent(
        monkeypatch: pytest.MonkeyPatch, fake_core: type[FakeCore]) -> None:
    agents = [pyspy.NodeAgent(FakeApi(), agent_pod_manifest("ns", f"p{i}", "n")) for i in range(3)]
    assert len(pyspy.live_agents()) == 3
    assert pyspy.cleanup_agents() == 3
    assert sorted(fake_core.deleted) == sorted((a.namespace, a.name) for a in agents)
    assert pyspy.live_agents() == [] and pyspy.cleanup_agents() == 0
    agents[0].delete()  # idempotent
    assert len(fake_core.deleted) == 3


# -- the capture collector (profkit.kube.pyspy_collector) driving PodPySpy ----------------------------
def _collector(sink: Any, options: Any, pod: str, container: str | None = None) -> Any:
    from profkit.kube.client import KubeAccess
    from profkit.kube.pyspy_collector import PodPySpyCollector

    access = KubeAccess(api=object(), server="https://example.invalid", context="c", namespace="ns")
    return PodPySpyCollector(sink, "example", pod, options, access, "ns", pod, container)


class FakeSink:
    def __init__(self) -> None:
        self.profiles: list[tuple[str, str, str, str, bytes, float, float]] = []
        self.events: list[Any] = []

    def add_profile(self, target: str, instance: str, kind: str, fmt: str, data: bytes, start: float,
                    duration: float) -> Path:
        self.profiles.append((target, instance, kind, fmt, data, start, duration))
        return Path("x")

    def touch_instance(self, target: str, instance: str, info: Any = None) -> None:
        pass

    def add_event(self, event: Any) -> None:
        self.events.append(event)


def test_collector_stores_consecutive_windows_until_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from profkit.sources.base import CaptureOptions

    doc = b'{"profiles":[{"type":"sampled"}]}'
    fake = FakeExec(ExecResult(b"ok 1\n", "", 0), ExecResult(doc, "", 0))
    fake.sleep = True  # a window takes its duration
    monkeypatch.setattr(pyspy, "run_exec", fake)
    options = CaptureOptions(profile_window=1.0, pyspy_rate=50, deadline=time.time() + 2.6)
    sink = FakeSink()
    collector = _collector(sink, options, "pod-a", "manager")
    collector.run(threading.Event())
    windows = [argv[2] for _, _, _, argv in fake.calls if "record" in argv[2]]
    assert [w.split("--duration ")[1].split()[0] for w in windows] == ["1", "1"]  # then 0.6 s left: done
    assert all("--rate 50" in w for w in windows)
    assert [p[:5] for p in sink.profiles] == [("example", "pod-a", "cpu", "speedscope", doc)] * 2
    assert all(0.9 < p[6] < 1.5 for p in sink.profiles)
    assert collector.stats.profiles == 2 and collector.stats.errors == 0


def test_collector_records_not_allowed_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    from profkit.sources.base import CaptureOptions

    monkeypatch.setattr(pyspy, "run_exec", FakeExec(Forbidden()))
    sink = FakeSink()
    collector = _collector(sink, CaptureOptions(), "p")
    collector.run(threading.Event())
    assert sink.profiles == [] and collector.stats.errors == 1
    assert "pods/exec" in sink.events[0].message and sink.events[0].kind == "error"


def _fake_proc(root: Path, pid: int, ppid: int, cgroup: str, start: int) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "cgroup").write_text(f"0::{cgroup}\n")
    (d / "status").write_text(f"Name:\tx\nPPid:\t{ppid}\n")
    fields = ["S", str(ppid)] + ["0"] * 17 + [str(start), "0"]  # field 22 (starttime) is the 20th after ")"
    (d / "stat").write_text(f"{pid} (a b) " + " ".join(fields) + "\n")


def test_agent_finds_the_containers_init_by_cgroup_parent_and_start_time(tmp_path: Path) -> None:
    cid = "0123456789abcdef" * 4
    scope = f"/kubepods.slice/kubepods-pod1.slice/cri-containerd-{cid}.scope"
    _fake_proc(tmp_path, 900, 1, "/system.slice/containerd.service", 10)  # the shim
    _fake_proc(tmp_path, 1234, 900, scope, 500)  # container init (python)
    _fake_proc(tmp_path, 1300, 1234, scope, 600)  # its child: parent inside the cgroup
    _fake_proc(tmp_path, 2000, 900, scope, 9000)  # a later `kubectl exec` shell
    _fake_proc(tmp_path, 1500, 900, "/kubepods.slice/other.scope", 100)  # another container
    script = pyspy.agent_find_script(cid) + 'echo "$pid"\n'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10,
                         env=dict(os.environ, PROFKIT_PROC=str(tmp_path)))
    assert out.stdout.strip() == "1234", out.stderr
    gone = subprocess.run(["sh", "-c", pyspy.agent_find_script("f" * 64)], capture_output=True, text=True,
                          timeout=10, env=dict(os.environ, PROFKIT_PROC=str(tmp_path)))
    assert gone.returncode == 4 and "no process of container" in gone.stderr


@pytest.mark.skipif(shutil.which("py-spy") is None, reason="py-spy not installed")
def test_agent_record_command_for_real_with_a_fake_proc_view(tmp_path: Path) -> None:
    """The whole agent script (find by cgroup, then record) against a real process behind a fake /proc."""
    cid = "fedcba9876543210" * 4
    proc = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        _fake_proc(tmp_path, proc.pid, 1, f"/kubepods/cri-containerd-{cid}.scope", 5)
        time.sleep(0.5)
        code, out, err, _ = _run_script(agent_record_command(cid, 1), dict(os.environ, PROFKIT_PROC=str(tmp_path)))
        assert code == 0, err
        assert "spin_here" in {f["name"] for f in json.loads(split_record_output(out)[0])["shared"]["frames"]}
    finally:
        proc.kill()
        proc.wait()
