"""``-- CMD`` is stopped politely: the signal profkit got (SIGINT), then SIGTERM, then SIGKILL, a grace apart."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from profkit.sources.command import LaunchedCommand
from tests.integration.capture_helpers import wait_for

STUBBORN = """
import signal, sys, time
log = open(sys.argv[1], "a", buffering=1)
def note(signum, frame):
    log.write(signal.Signals(signum).name + "\\n")
    if signum == getattr(signal, sys.argv[2], None):
        sys.exit(7)
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, note)
log.write("ready\\n")
while True:
    time.sleep(0.05)
"""


def _launch(tmp_path: Path, exit_on: str) -> tuple[LaunchedCommand, Path]:
    log = tmp_path / "signals.log"
    command = LaunchedCommand.start([sys.executable, "-c", STUBBORN, str(log), exit_on])
    assert wait_for(lambda: log.exists() and "ready" in log.read_text(), 30)
    return command, log


def test_a_command_that_ignores_sigint_and_sigterm_gets_sigkill_after_both(tmp_path: Path) -> None:
    command, log = _launch(tmp_path, "none")
    started = time.monotonic()
    code = command.stop(signal.SIGINT, grace=1.0)
    elapsed = time.monotonic() - started
    assert log.read_text().split() == ["ready", "SIGINT", "SIGTERM"]
    assert code == -signal.SIGKILL
    assert 2.0 <= elapsed < 10.0


def test_a_command_that_ends_on_sigterm_is_not_killed(tmp_path: Path) -> None:
    command, log = _launch(tmp_path, "SIGTERM")
    code = command.stop(signal.SIGINT, grace=1.0)
    assert log.read_text().split() == ["ready", "SIGINT", "SIGTERM"]
    assert code == 7


def test_a_command_that_ends_on_sigint_gets_nothing_else(tmp_path: Path) -> None:
    command, log = _launch(tmp_path, "SIGINT")
    started = time.monotonic()
    assert command.stop(signal.SIGINT, grace=5.0) == 7
    assert log.read_text().split() == ["ready", "SIGINT"]
    assert time.monotonic() - started < 5.0
