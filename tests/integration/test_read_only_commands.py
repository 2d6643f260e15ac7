"""Read-only commands (analyze, report, compare, flame, view) leave a bundle byte-for-byte untouched.

The bundle is a real one: recorded real profiles (a Go CPU profile, a py-spy window) and controller
metrics written through BundleWriter and closed as a capture closes it. Each command runs through
the CLI; afterwards the directory's file list and checksums are unchanged (no profkit.db-shm/-wal).
The same commands then run with the directory made read-only (chmod a-w; note that root ignores
file modes, so as root this second part checks only that nothing was written).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from profkit.bundle.writer import BundleWriter
from profkit.model import Target
from tests.integration.capture_helpers import FIXTURES, profkit
from tests.unit.controller_bundles import T0, ControllerLoad, const, scrape_series


def _fingerprint(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    writer = BundleWriter(out)
    writer.add_target(Target("ctl", "endpoint", {}))
    scrape_series(writer, "ctl", ControllerLoad(results={"success": const(2.0)}, reconcile_seconds=0.2), 60.0)
    writer.add_profile("ctl", "pod-0", "cpu", "pprof", (FIXTURES / "go-cpu-keygen.pb.gz").read_bytes(), T0, 10.0)
    writer.add_profile("py", "pid-1", "cpu", "speedscope", (FIXTURES / "pyspy-keygen.speedscope.json").read_bytes(),
                       T0 + 10, 5.0)
    writer.set_meta(started=repr(T0))
    writer.close(ended=T0 + 60)
    return out


def _commands(bundle: Path, scratch: Path) -> list[list[str]]:
    return [
        ["analyze", str(bundle)],
        ["analyze", str(bundle), "--json"],
        ["report", str(bundle), "-o", str(scratch / "report.html")],
        ["compare", str(bundle), str(bundle), "--json"],
        ["flame", str(bundle), "-o", str(scratch / "flame.svg")],
        ["view", str(bundle), "--no-open", "-o", str(scratch / "view.html")],
    ]


def test_read_only_commands_do_not_change_the_bundle(bundle: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "out"
    scratch.mkdir()
    before = _fingerprint(bundle)
    assert not any(name.endswith(("-wal", "-shm")) for name in before)
    for argv in _commands(bundle, scratch):
        result = profkit(*argv)
        assert result.returncode in (0, 1), (argv, result.stderr)
        assert _fingerprint(bundle) == before, argv


def test_read_only_commands_work_on_a_read_only_directory(bundle: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "out"
    scratch.mkdir()
    before = _fingerprint(bundle)
    paths = [bundle, *bundle.rglob("*")]
    modes = {p: p.stat().st_mode for p in paths}
    for p in paths:
        os.chmod(p, modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        for argv in _commands(bundle, scratch):
            result = profkit(*argv)
            assert result.returncode in (0, 1), (argv, result.stderr)
    finally:
        for p in reversed(paths):
            os.chmod(p, modes[p])
    assert _fingerprint(bundle) == before
