"""Session fixture ``control_plane``: a real control plane built from Go modules, always torn down."""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import FrameType
from typing import Iterator

import pytest

from tests.e2e.controlplane import build as buildmod
from tests.e2e.controlplane.harness import ControlPlane, down_all


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing binaries (and Prometheus for its e2e test) before any test runs, so the first (long) build is
    not under a test timeout."""
    wants_e2e = any(item.get_closest_marker("e2e") for item in session.items)
    if wants_e2e and shutil.which("go") is not None and buildmod.missing_binaries():
        buildmod.build()
    wants_prometheus = any(Path(str(item.fspath)).name == "test_prometheus_e2e.py" for item in session.items)
    if wants_prometheus and shutil.which("go") is not None and not buildmod.prometheus_binary().is_file():
        buildmod.build_prometheus()


def _install_teardown() -> None:
    """Stop every control plane this process started at exit and on SIGTERM/SIGHUP as well."""
    atexit.register(down_all)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        down_all()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PROFKIT_E2E_DIR, else a fixed per-user dir so a killed run's leftovers are cleaned by the next.

    The dir is locked for the session; a concurrent session falls back to a fresh temp dir.
    """
    base = Path(os.environ.get("PROFKIT_E2E_DIR") or Path(tempfile.gettempdir()) / f"profkit-e2e-{os.getuid()}")
    base.mkdir(parents=True, exist_ok=True)
    lock = open(base / ".session.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return tmp_path_factory.mktemp("controlplane")
    _LOCKS.append(lock)  # held until the interpreter exits
    return base


_LOCKS: list[object] = []


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A running control plane with 2 Ready kwok nodes in a locked session dir (see _session_dir)."""
    if shutil.which("go") is None:
        pytest.skip("go is not on PATH: the e2e control plane is built from Go modules")
    cp = ControlPlane(_session_dir(tmp_path_factory), nodes=2)
    _install_teardown()
    cp.up()
    try:
        yield cp
    finally:
        cp.down()
