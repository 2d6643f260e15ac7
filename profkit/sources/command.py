"""``-- CMD``: launch a command, capture it as a process target plus its stdout/stderr as logs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import IO, Sequence

from profkit.errors import BadInput
from profkit.model import Target
from profkit.sources.base import CaptureOptions, Sink, TargetPlan
from profkit.sources.logfile import StreamLogCollector
from profkit.sources.plan import label_for_argv, pid_plan


def check_command(argv: Sequence[str]) -> None:
    """BadInput before anything starts when the program cannot be found."""
    if not argv:
        raise BadInput("-- CMD: no command given after --")
    program = argv[0]
    if os.sep in program:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise BadInput(f"-- {program}: not an executable file")
    elif shutil.which(program) is None:
        raise BadInput(f"-- {program}: command not found")


@dataclass
class LaunchedCommand:
    """A child process started for the capture, in its own session so profkit controls its signals."""

    argv: list[str]
    name: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, argv: Sequence[str], name: str | None = None, env: dict[str, str] | None = None,
              cwd: str | None = None) -> LaunchedCommand:
        check_command(argv)
        try:
            proc = subprocess.Popen(
                list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, **(env or {})}, cwd=cwd,
            )
        except OSError as exc:
            raise BadInput(f"-- {argv[0]}: cannot start ({exc.strerror or exc})") from None
        return cls(list(argv), name or label_for_argv(argv), proc, dict(env or {}))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def instance(self) -> str:
        return f"pid-{self.pid}"

    def exit_code(self) -> int | None:
        return self.proc.poll()

    def send(self, sig: int) -> None:
        """Signal the command's whole process group (a shell script's children too)."""
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, sig: int = signal.SIGTERM, grace: float = 5.0) -> int:
        """Ask the command to end with ``sig``, then SIGTERM (if ``sig`` was another signal), then SIGKILL,
        ``grace`` seconds apart; returns its exit code (negative: the signal that ended it)."""
        steps = [sig] + ([signal.SIGTERM] if sig != signal.SIGTERM else []) + [signal.SIGKILL]
        for step in steps:
            if self.proc.poll() is not None:
                break
            self.send(step)
            try:
                self.proc.wait(grace if step != signal.SIGKILL else None)
            except subprocess.TimeoutExpired:
                continue
        return int(self.proc.returncode)

    def plan(self, sink: Sink, options: CaptureOptions, echo: IO[str] | None = sys.stderr) -> TargetPlan:
        """The process collectors (py-spy, usage) and one log collector per output stream."""
        plan = pid_plan(sink, options, self.pid, self.name, kind="command", expect_exit=True)
        plan.target = Target(self.name, "command", {"command": self.argv, "pids": [self.pid]})
        for stream, label in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            if stream is not None:
                plan.collectors.append(
                    StreamLogCollector(sink, self.name, self.instance, options, stream, label, echo))
        return plan
