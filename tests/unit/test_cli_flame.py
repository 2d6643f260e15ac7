"""``profkit flame``: top table like go tool pprof, every output format, bundles merged, bad input exit 2."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from profkit.bundle import BundleWriter
from profkit.cli.main import main
from profkit.formats import load_profile_file
from real_profiles import go_profile, go_tool_top, pyspy_profile


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["flame", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_top_table_names_the_same_top_function_as_go_tool_pprof(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(go_profile("cpu")), "--top", "5")
    assert code == 0
    header = next(line for line in out.splitlines() if line.strip().startswith("flat"))
    assert header.split() == ["flat", "flat%", "sum%", "cum", "cum%", "function"]
    rows = out.splitlines()[out.splitlines().index(header) + 1:]
    assert len(rows) == 5
    if shutil.which("go"):
        _, go_rows = go_tool_top(go_profile("cpu"), "ns", nodes=1)
        assert rows[0].split()[-1] == go_rows[0][0]


@pytest.mark.parametrize("suffix", [".svg", ".speedscope.json", ".folded", ".pb.gz"])
def test_output_format_follows_the_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    out = tmp_path / f"cpu{suffix}"
    code, _, _ = run(capsys, str(go_profile("cpu")), "-o", str(out))
    assert code == 0 and out.stat().st_size > 0
    if suffix == ".svg":
        assert out.read_text().startswith("<?xml") and "<svg" in out.read_text()
    elif suffix == ".speedscope.json":
        assert json.loads(out.read_text())["$schema"].startswith("https://www.speedscope.app/")
    else:
        assert load_profile_file(out).total == pytest.approx(load_profile_file(go_profile("cpu")).total)


def test_pyspy_speedscope_in_folded_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "py.folded"
    assert run(capsys, str(pyspy_profile()), "-o", str(out))[0] == 0
    assert " (" in out.read_text().splitlines()[0]  # python frames keep (file:line)


def test_bundle_profiles_are_merged_over_windows_and_replicas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    writer = BundleWriter(tmp_path / "run")
    data = go_profile("cpu").read_bytes()
    for instance, start in (("pod-a", 1000.0), ("pod-a", 1030.0), ("pod-b", 1000.0)):
        writer.add_profile("kcp", instance, "cpu", "pprof", data, start, 30.0)
    writer.close()
    single = load_profile_file(go_profile("cpu")).total
    code, out, _ = run(capsys, str(tmp_path / "run"), "--target", "kcp", "--top", "3")
    assert code == 0 and "Target: kcp" in out
    svg = tmp_path / "merged.svg"
    assert run(capsys, str(tmp_path / "run"), "-o", str(svg))[0] == 0
    total = re.search(r'data-total="([^"]+)"', svg.read_text())
    assert total and float(total[1]) == pytest.approx(3 * single)
    folded = tmp_path / "merged.folded"
    assert run(capsys, str(tmp_path / "run"), "-o", str(folded))[0] == 0
    assert load_profile_file(folded).total == pytest.approx(3 * single)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"<!DOCTYPE html><html><body>Forbidden</body></html>", "got an HTML page, not a profile"),
    (b"\x1f\x8b\x08\x00", "truncated gzip"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         content: bytes, message: str) -> None:
    path = tmp_path / "cpu.pb.gz"
    path.write_bytes(content)
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert err.count("\n") == 1 and message in err and str(path) in err


def test_unknown_output_suffix_and_kind_are_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, str(go_profile("cpu")), "-o", str(tmp_path / "x.png"))[0] == 2
    assert run(capsys, str(go_profile("cpu")), "--kind", "nope")[0] == 2
    assert run(capsys, str(tmp_path / "missing.pb.gz"))[0] == 2


def test_help_shows_examples_and_runs_without_heavy_imports() -> None:
    code = ("import sys; from profkit.cli.main import main; main(['flame', '--help']); "
            "print('HEAVY' if {'numpy', 'google.protobuf'} & set(sys.modules) else 'LIGHT')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "profkit flame run1 -o cpu.svg" in out
    assert out.strip().endswith("LIGHT")
