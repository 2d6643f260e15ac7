"""profkit's pprof totals, flat and cum per function equal ``go tool pprof -top``'s on recorded real profiles."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from profkit.formats import load_profile_bytes, load_profile_file
from profkit.formats.pprof_wire import message_classes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GO = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
pytestmark = [pytest.mark.go, pytest.mark.skipif(GO is None, reason="needs the Go toolchain (go tool pprof)")]

# (fixture, sample type): CPU, heap (every sample type), a delta heap with negative values made by
# ``go tool pprof -proto -base`` and one by ``-diff_base`` (base samples labelled ``pprof::base``, whose
# total pprof shows), goroutine, mutex, block, and a CPU profile with its symbols stripped.
CASES = [
    ("go-cpu-keygen.pb.gz", "cpu"),
    ("go-cpu-controller-keygen.pb.gz", "cpu"),
    ("go-cpu-controller-healthy.pb.gz", "samples"),
    ("go-heap.pb.gz", "inuse_space"),
    ("go-heap.pb.gz", "inuse_objects"),
    ("go-heap.pb.gz", "alloc_space"),
    ("go-heap.pb.gz", "alloc_objects"),
    ("go-heap-delta.pb.gz", "inuse_space"),
    ("go-heap-delta.pb.gz", "inuse_objects"),
    ("go-heap-delta.pb.gz", "alloc_space"),
    ("go-heap-diffbase.pb.gz", "inuse_space"),
    ("go-heap-diffbase.pb.gz", "alloc_objects"),
    ("go-goroutine.pb.gz", "goroutine"),
    ("go-mutex.pb.gz", "contentions"),
    ("go-mutex.pb.gz", "delay"),
    ("go-block.pb.gz", "delay"),
    ("go-cpu-stripped.pb.gz", "cpu"),
]

_NUMBER = r"(-?\d+(?:\.\d+)?)(?:ns|B)?"
_ROW = re.compile(rf"^\s*{_NUMBER}\s+-?[\d.]+%\s+-?[\d.]+%\s+{_NUMBER}\s+-?[\d.]+%\s+(.+?)(?: \((?:partial-)?inline\))?$")
_UNITS = {"nanoseconds": "-unit=ns", "bytes": "-unit=B"}


def go_tool_top(path: Path, sample_type: str, unit: str) -> tuple[float, dict[str, tuple[float, float]]]:
    """``go tool pprof -top`` of every node, in exact units: (total, {function: (flat, cum)})."""
    assert GO is not None
    command = [GO, "tool", "pprof", "-top", "-nodecount=0", "-nodefraction=0", "-edgefraction=0",
               "-symbolize=none", f"-sample_index={sample_type}"]
    if unit in _UNITS:
        command.append(_UNITS[unit])
    done = subprocess.run([*command, str(path)], check=True, capture_output=True, timeout=120,
                          env={**os.environ, "PPROF_BINARY_PATH": "/nonexistent"})
    text = done.stdout.decode("utf-8", "replace")
    total = re.search(r" of (-?\d+(?:\.\d+)?)\w* total", text)
    assert total, text
    rows: dict[str, tuple[float, float]] = {}
    for match in map(_ROW.match, text.splitlines()):
        if match:
            flat, cum = rows.get(match[3], (0.0, 0.0))  # inlined and not-inlined copies are one function
            rows[match[3]] = (flat + float(match[1]), cum + float(match[2]))
    assert rows, text
    return float(total[1]), rows


def ours(profile_total: float, rows: list[tuple[str, float, float]]) -> tuple[float, dict[str, tuple[float, float]]]:
    return profile_total, {name: (flat, cum) for name, flat, cum in rows if flat or cum}


def profkit_top(data_source: Path | bytes, sample_type: str) -> tuple[str, float, dict[str, tuple[float, float]]]:
    profile = (load_profile_file(data_source, sample_type=sample_type) if isinstance(data_source, Path)
               else load_profile_bytes(data_source, "mutated.pb", sample_type=sample_type))
    rows = [(row.name, row.flat, row.cum) for row in profile.top(1_000_000)]
    total, by_name = ours(profile.total, rows)
    return profile.unit, total, by_name


def assert_same_as_go(path: Path, sample_type: str) -> None:
    unit, total, mine = profkit_top(path, sample_type)
    go_total, theirs = go_tool_top(path, sample_type, unit)
    assert total == pytest.approx(go_total, abs=0.5), f"{path.name} {sample_type}: total"
    assert mine.keys() == theirs.keys(), f"{path.name} {sample_type}: {mine.keys() ^ theirs.keys()}"
    for name, values in theirs.items():
        assert mine[name] == pytest.approx(values, abs=0.5), f"{path.name} {sample_type}: {name}"


@pytest.mark.parametrize(("fixture", "sample_type"), CASES, ids=[f"{f}:{s}" for f, s in CASES])
def test_total_flat_and_cum_per_function_match_go_tool_pprof(fixture: str, sample_type: str) -> None:
    assert_same_as_go(FIXTURES / fixture, sample_type)


def test_the_delta_profile_really_has_negative_values() -> None:
    _, total, mine = profkit_top(FIXTURES / "go-heap-delta.pb.gz", "inuse_space")
    assert min(flat for flat, _ in mine.values()) < 0 < total


def test_invalid_utf8_names_match_go_tool_pprof(tmp_path: Path) -> None:
    message = message_classes().Profile.FromString(gzip.decompress((FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()))
    for function in message.function[:5]:
        message.string_table[function.name] = message.string_table[function.name] + b"\xff"
    path = tmp_path / "not-utf8.pb.gz"
    path.write_bytes(gzip.compress(message.SerializeToString()))
    assert_same_as_go(path, "cpu")


_PERCENT_ROW = re.compile(r"^\s*\S+\s+(-?[\d.]+)%\s+(-?[\d.]+)%\s+\S+\s+(-?[\d.]+)%\s+(.+?)(?: \((?:partial-)?inline\))?$")


def percent_rows(text: str) -> dict[str, tuple[float, float, float]]:
    """{function: (flat%, sum%, cum%)} of a ``-top`` table (go tool pprof's or profkit flame's)."""
    return {m[4]: (float(m[1]), float(m[2]), float(m[3])) for m in map(_PERCENT_ROW.match, text.splitlines()) if m}


@pytest.mark.parametrize("fixture", ["go-heap-delta.pb.gz", "go-heap-diffbase.pb.gz", "go-cpu-keygen.pb.gz"])
def test_flame_top_table_percentages_match_go_tool_pprof(fixture: str) -> None:
    assert GO is not None
    path = FIXTURES / fixture
    theirs = percent_rows(subprocess.run(
        [GO, "tool", "pprof", "-top", "-nodecount=6", "-nodefraction=0", "-edgefraction=0", "-symbolize=none",
         str(path)], check=True, capture_output=True, timeout=120, env={**os.environ, "PPROF_BINARY_PATH": "/nonexistent"},
    ).stdout.decode("utf-8", "replace"))
    done = subprocess.run([sys.executable, "-m", "profkit.cli.main", "flame", str(path), "--top", "6"],
                          check=True, capture_output=True, text=True, timeout=120)
    mine = percent_rows(done.stdout)
    assert len(theirs) == 6 and list(mine) == list(theirs), (mine, theirs)  # same rows, same order
    for name, percents in theirs.items():
        assert mine[name] == pytest.approx(percents, abs=0.011), name
