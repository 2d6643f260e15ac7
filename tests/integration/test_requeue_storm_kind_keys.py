"""A real stand-in controller that logs ``"<kind>":"ns/name"`` (controller-runtime <= 0.12 style) and keeps
requeueing deleted objects is flagged by requeue-storm-deleted with every host named; the fixed build is not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.capture_helpers import cli_env, profkit, stop

STANDIN = Path(__file__).parent / "bmo_standin.py"


def capture_standin(tmp: Path, *flags: str) -> Path:
    port_file, log_file = tmp / "port", tmp / "bmo.log"
    proc = subprocess.Popen([sys.executable, str(STANDIN), str(port_file), str(log_file), *flags], env=cli_env())
    try:
        deadline = time.time() + 30
        while not port_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert port_file.exists(), "stand-in controller did not start"
        out = tmp / "bundle"
        result = profkit("capture", "--endpoint", f"metrics=http://127.0.0.1:{port_file.read_text()},name=bmo",
                         "--log-file", f"{log_file},name=bmo", "--duration", "35s", "--scrape-interval", "2s",
                         "--out", str(out), timeout=180)
        assert result.returncode == 0, result.stderr
        assert "NaN skipped" in result.stderr
        return out
    finally:
        stop(proc)


@pytest.mark.parametrize("fixed", [False, True])
def test_kind_named_object_keys_reveal_the_requeue_storm(tmp_path: Path, fixed: bool) -> None:
    bundle = capture_standin(tmp_path, *(["--fixed"] if fixed else []))
    result = profkit("analyze", str(bundle), "--json", "--only", "requeue-storm-deleted", timeout=120)
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)["findings"]
    storms = [f for f in findings if f["id"] == "requeue-storm-deleted" and f["severity"] in ("warning", "critical")]
    if fixed:
        assert storms == [], storms
        return
    [storm] = storms
    assert storm["severity"] == "critical", storm
    text = json.dumps(storm["evidence"])
    assert all(f"metal3/host-{i:02d}" in text for i in range(15)), text[:2000]
    assert "temporary-fake-id" not in text
