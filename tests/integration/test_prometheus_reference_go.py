"""Rebuild prometheus/common's text parser from the Go module proxy and check the recorded reference still holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from profkit.formats.prometheus import parse_text
from tests.fixtures.prometheus.record_expfmt import record
from tests.unit.test_prometheus_reference import assert_agrees

GO_PROGRAM = Path(__file__).parent / "go_expfmt"
RECORDED = Path(__file__).parent.parent / "fixtures" / "prometheus" / "expfmt-reference.json"
CACHE = Path(os.environ.get("PROFKIT_GO_CACHE", Path.home() / ".cache" / "profkit-go-expfmt"))


@pytest.fixture(scope="module")
def expfmt_binary() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: the recorded reference (tests/unit/test_prometheus_reference.py) is used")
    CACHE.mkdir(parents=True, exist_ok=True)
    binary = CACHE / "go_expfmt"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOCACHE": str(CACHE / "gocache")}
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=GO_PROGRAM, env=env, check=True, timeout=1800)
    return binary


def test_recorded_reference_is_what_prometheus_common_says(expfmt_binary: Path) -> None:
    live = json.loads(json.dumps(record(expfmt_binary)))
    recorded = json.loads(RECORDED.read_text())
    assert live.keys() == recorded.keys()
    for case, entry in live.items():
        assert entry == recorded[case], case
        if not case.startswith("lenient:"):
            assert_agrees(parse_text(entry["text"]), entry["expfmt"])  # type: ignore[arg-type]
