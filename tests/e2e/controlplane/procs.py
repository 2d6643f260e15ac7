"""Start, record and stop the control plane's processes (one process group each, pids in DIR/pids)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Mapping, Sequence


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    """Whether pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


class ProcessSet:
    """The processes of one control plane directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.pid_dir = directory / "pids"
        self.log_dir = directory / "logs"
        self._popen: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start cmd in its own session, output to logs/NAME.log, pid to pids/NAME.pid."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(
            list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=full_env, cwd=cwd, start_new_session=True,
        )
        log.close()
        (self.pid_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        self._popen[name] = proc
        return proc

    def recorded(self) -> dict[str, int]:
        """name -> pid for every pid file."""
        out: dict[str, int] = {}
        if not self.pid_dir.is_dir():
            return out
        for f in sorted(self.pid_dir.glob("*.pid")):
            try:
                out[f.stem] = int(f.read_text().strip())
            except ValueError:
                f.unlink()
        return out

    def is_ours(self, pid: int) -> bool:
        """A live pid whose command line names this directory (guards against pid reuse)."""
        return pid_alive(pid) and str(self.dir) in _cmdline(pid)

    def exited(self, name: str) -> int | None:
        """Exit code of a process started here, None while it runs."""
        proc = self._popen.get(name)
        if proc is not None:
            return proc.poll()
        pid = self.recorded().get(name)
        return None if pid is not None and pid_alive(pid) else -1

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """SIGTERM the process group of ``name``, SIGKILL after timeout, remove its pid file."""
        pid = self.recorded().get(name)
        if pid is not None and (name in self._popen or self.is_ours(pid)):
            _kill_group(pid, timeout)
        proc = self._popen.pop(name, None)
        if proc is not None:
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)

    def stop_all(self, order: Sequence[str] = (), timeout: float = 10.0) -> None:
        """Stop ``order`` first (in that order), then every other recorded process."""
        names = [n for n in order if n in self.recorded()]
        names += [n for n in self.recorded() if n not in names]
        for name in names:
            self.stop(name, timeout)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) succeeds while zombies remain; look for a live member.
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _kill_group(pgid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            _reap(pgid)
            if not _group_alive(pgid):
                return
            time.sleep(0.1)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
