"""Session fixture ``control_plane``: a real control plane built from Go modules, always torn down."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Iterator

import pytest

from tests.e2e.controlplane.harness import ControlPlane


def _install_teardown(cp: ControlPlane) -> None:
    """Stop the control plane at interpreter exit and on SIGTERM/SIGHUP as well."""

    def at_exit() -> None:
        try:
            cp.down()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass

    atexit.register(at_exit)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        at_exit()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A running control plane with 2 Ready kwok nodes; DIR from PROFKIT_E2E_DIR or a temp dir."""
    if shutil.which("go") is None:
        pytest.skip("go is not on PATH: the e2e control plane is built from Go modules")
    env_dir = os.environ.get("PROFKIT_E2E_DIR")
    directory = Path(env_dir) if env_dir else tmp_path_factory.mktemp("controlplane")
    cp = ControlPlane(directory, nodes=2)
    _install_teardown(cp)
    start = time.monotonic()
    cp.up()
    cp.startup_seconds = time.monotonic() - start  # type: ignore[attr-defined]
    try:
        yield cp
    finally:
        cp.down()
