"""py-spy collector: speedscope CPU profiles of a local Python process in consecutive windows."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from profkit.sources.base import CaptureOptions, Collector, Sink

_PYTHON_EXE = re.compile(r"^(python|pypy)[0-9.]*[dmu]*$|^uwsgi$|^gunicorn$", re.I)
NOT_PYTHON = "Failed to find python version"
STARTUP_GRACE = 5.0  # a just-launched command may exec through shims (pyenv, env) before it is Python
#: Cumulative CPU seconds (utime+stime from /proc) of each thread, written at every window's edges so
#: the bundle reader can turn py-spy's samples into CPU seconds (profkit.bundle.cpu_time).
THREAD_CPU = "profkit_thread_cpu_seconds_total"
PROCESS_CPU = "profkit_process_cpu_seconds_total"
CPU_LABELS = {"source": "psutil"}


def pyspy_binary() -> str | None:
    """$PROFKIT_PYSPY, else py-spy next to this interpreter (a venv without PATH set up), else on PATH."""
    chosen = os.environ.get("PROFKIT_PYSPY")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else shutil.which(chosen)
    local = Path(sys.executable).parent / "py-spy"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("py-spy")


def looks_like_python(pid: int) -> bool:
    """The process's executable is a Python interpreter (by name; embedded interpreters need a dump)."""
    try:
        process = psutil.Process(pid)
        names = [process.name()]
        try:
            names.append(os.path.basename(process.exe()))
        except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
            pass
    except psutil.Error:
        return False
    return any(_PYTHON_EXE.match(name) for name in names if name)


def explain_failure(output: str, pid: int) -> str:
    """A one-line reason from py-spy's output, naming the fix for the usual cases."""
    text = output.lower()
    if "permission denied" in text or "operation not permitted" in text or "eperm" in text:
        return (f"py-spy cannot attach to pid {pid}: ptrace not permitted "
                "(run profkit as root or with CAP_SYS_PTRACE; in a container add the SYS_PTRACE capability)")
    if NOT_PYTHON.lower() in text:
        return f"pid {pid} is not a Python process py-spy understands"
    if "no such process" in text:
        return f"pid {pid} exited"
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.startswith(" ")]
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    return f"py-spy failed on pid {pid}: " + ((errors or lines or ["no output"])[0][:200])


class PySpyCollector(Collector):
    """Runs ``py-spy record --format speedscope`` window after window; a stop flushes the open window."""

    kind = "py-spy"

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions, pid: int,
                 expect_exit: bool = False, nonblocking: bool = True) -> None:
        super().__init__(sink, target, instance, options)
        self.pid = pid
        self.expect_exit = expect_exit
        # --nonblocking (decided, measured on the demo controller with py-spy 0.4): blocking mode stops
        # the target for every sample, and its idle detection then counts threads parked in
        # Condition.wait as running (48 % of "CPU" samples in waits while 89 % of the real CPU was key
        # generation; nonblocking gave 89 %). It also leaves the controller running at full speed. The
        # price, a rare torn stack, does not move shares of a 100 Hz profile.
        self.nonblocking = nonblocking
        self.unavailable = ""  # why there are no profiles (not Python, no ptrace, no py-spy)

    def describe(self) -> str:
        return f"py-spy pid {self.pid}"

    def _alive(self) -> bool:
        try:
            return bool(psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False

    def _give_up(self, reason: str, *, error: bool) -> None:
        self.unavailable = reason
        (self.error if error else self.info)(reason + ": no py-spy profiles")

    def _detect(self, exe: str, stop: threading.Event) -> bool:
        """Wait until the pid is a Python process py-spy can read; record why not otherwise."""
        try:
            born = psutil.Process(self.pid).create_time()
        except psutil.Error:
            self._give_up(f"pid {self.pid} is gone", error=not self.expect_exit)
            return False
        while not looks_like_python(self.pid) and time.time() - born < STARTUP_GRACE and self._alive():
            if stop.wait(0.2):
                return False
        if looks_like_python(self.pid):
            return True
        if not self._alive():
            self._give_up(f"pid {self.pid} exited", error=not self.expect_exit)
            return False
        # Not named like Python: an embedded interpreter still answers a dump.
        try:
            probe = subprocess.run([exe, "dump", "--pid", str(self.pid)], capture_output=True, text=True,
                                   timeout=15)
        except subprocess.TimeoutExpired:
            self._give_up(f"py-spy dump of pid {self.pid} did not answer", error=True)
            return False
        if probe.returncode == 0:
            return True
        reason = explain_failure(probe.stdout + probe.stderr, self.pid)
        self._give_up(reason, error="not a Python process" not in reason)
        return False

    def run(self, stop: threading.Event) -> None:
        exe = pyspy_binary()
        if exe is None:
            self._give_up("py-spy is not installed (pip install py-spy)", error=True)
            return
        if not self._detect(exe, stop):
            return
        workdir = Path(tempfile.mkdtemp(prefix="profkit-pyspy-"))
        failures = 0
        try:
            while not stop.is_set():
                window = self.window(stop)
                if window < 1.0:
                    return
                ok, reason = self._record(exe, int(window), workdir / "window.json", stop)
                if ok:
                    failures = 0
                    continue
                if not self._alive():
                    (self.info if self.expect_exit else self.error)(f"pid {self.pid} exited")
                    return
                failures += 1
                if "ptrace not permitted" in reason or failures >= 3:
                    self._give_up(reason, error=True)
                    return
                self.error(reason)
                stop.wait(1.0)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def cpu_snapshot(self) -> None:
        """Store the process's and each thread's CPU seconds so far (one point per series, now).

        py-spy counts a thread as active whenever the kernel says it is runnable, so on a busy machine
        or under a CPU limit its samples measure time spent *wanting* CPU; these counters, taken at the
        window's edges, let the reader scale each thread's samples to the CPU it really used.
        """
        try:
            process = psutil.Process(self.pid)
            with process.oneshot():
                times = process.cpu_times()
                threads = process.threads()
        except psutil.Error:
            return
        samples = [(PROCESS_CPU, CPU_LABELS, float(times.user + times.system))]
        samples += [(THREAD_CPU, {**CPU_LABELS, "tid": str(t.id)}, float(t.user_time + t.system_time))
                    for t in threads]
        self.sink.add_points(self.target, self.instance, time.time(), samples)

    def _record(self, exe: str, seconds: int, out: Path, stop: threading.Event) -> tuple[bool, str]:
        out.unlink(missing_ok=True)
        self.expected_done = time.time() + seconds + 3.0
        command = [exe, "record", "--pid", str(self.pid), "--format", "speedscope", "--rate",
                   str(self.options.pyspy_rate), "--duration", str(max(1, seconds)), "--output", str(out)]
        if self.nonblocking:
            command.append("--nonblocking")
        self.cpu_snapshot()
        start = time.time()
        # Own session: a Ctrl-C on the terminal reaches profkit, which then flushes py-spy itself.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        reader = _Drain(proc)
        hard_deadline = start + seconds + 15.0
        while proc.poll() is None:
            if stop.wait(0.2):
                self.expected_done = time.time() + 5.0
                proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
                _wait_or_kill(proc, 5.0)
                break
            if time.time() > hard_deadline:
                proc.kill()
                proc.wait()
                return False, f"py-spy record on pid {self.pid} did not finish within {seconds + 15}s"
        output = reader.text()
        duration = time.time() - start
        self.cpu_snapshot()
        if not out.is_file() or out.stat().st_size == 0:
            return False, explain_failure(output, self.pid)
        data = out.read_bytes()
        try:
            document = json.loads(data)
            # An empty "profiles" list is a real observation: no CPU samples in this window (idle).
            ok = isinstance(document, dict) and isinstance(document.get("profiles"), list)
        except ValueError:
            ok = False
        if not ok:
            return False, f"py-spy wrote an unreadable speedscope file for pid {self.pid}"
        if self.sink.add_profile(self.target, self.instance, "cpu", "speedscope", data, start,
                                 min(duration, float(seconds))) is not None:
            self.stats.profiles += 1
            self.sink.touch_instance(self.target, self.instance)
        return True, ""


class _Drain:
    """Reads a child's output in a thread so a chatty child never blocks on a full pipe."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self._thread.start()

    def _run(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read(4096) if proc.stdout else b"", b""):
            self._chunks.append(chunk)

    def text(self) -> str:
        self._thread.join(timeout=2.0)
        return b"".join(self._chunks).decode("utf-8", errors="replace")


def _wait_or_kill(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
