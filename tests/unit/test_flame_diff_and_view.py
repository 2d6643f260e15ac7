"""Differential flame graphs (normalised, red grew, blue shrank) and ``profkit view``'s two viewers."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from profkit.cli.main import main
from profkit.model import Frame, Profile
from profkit.render.flame_diff import diff_folded, flame_diff, render_diff_svg

FIXTURES = Path(__file__).parent.parent / "fixtures"
SVG = "{http://www.w3.org/2000/svg}"


def profile(weights: dict[tuple[str, ...], float]) -> Profile:
    frames: list[Frame] = []
    index: dict[str, int] = {}
    stacks = []
    for names in weights:
        for name in names:
            if name not in index:
                index[name] = len(frames)
                frames.append(Frame(name))
        stacks.append(tuple(index[n] for n in names))
    return Profile(frames, stacks, list(weights.values()))


BASE = profile({("main", "reconcile", "get"): 60, ("main", "reconcile", "patch"): 40})
NEW = profile({("main", "reconcile", "get"): 20, ("main", "reconcile", "patch"): 40,
               ("main", "reconcile", "rsa.GenerateKey"): 140})


def _node(diff: object, name: str, profile_: Profile) -> int:
    tree = diff.tree  # type: ignore[attr-defined]
    return next(i for i, f in enumerate(tree.frame.tolist()) if profile_.frames[f].name == name)


def test_shares_are_normalised_by_each_total() -> None:
    diff = flame_diff(BASE, NEW)
    get, patch, keys = (_node(diff, n, NEW) for n in ("get", "patch", "rsa.GenerateKey"))
    assert diff.base_self[get] == pytest.approx(0.6) and diff.new_self[get] == pytest.approx(0.1)
    assert diff.base_self[patch] == pytest.approx(0.4) and diff.new_self[patch] == pytest.approx(0.2)
    assert diff.base_self[keys] == 0.0 and diff.new_self[keys] == pytest.approx(0.7)
    same = flame_diff(BASE, profile({k: v * 3 for k, v in zip(
        [("main", "reconcile", "get"), ("main", "reconcile", "patch")], [60, 40])}))
    assert all(abs(d) < 1e-12 for d in same.self_delta)  # 3x the samples, same shape: nothing changed


def test_svg_is_red_where_code_grew_and_blue_where_it_shrank() -> None:
    svg = render_diff_svg(BASE, NEW, title="base → new")
    root = ET.fromstring(svg)
    fills = {}
    for g in root.iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        rect = g.find(f"{SVG}rect")
        if title is not None and rect is not None:
            fills[(title.text or "").split("\n")[0]] = (rect.get("fill"), title.text or "")
    assert fills["rsa.GenerateKey"][0].startswith("hsl(0,")  # type: ignore[union-attr]
    assert fills["get"][0].startswith("hsl(215,")  # type: ignore[union-attr]
    assert "self 0.00% → 70.00% (+70.00 pp)" in fills["rsa.GenerateKey"][1]
    assert "red grew, blue shrank" in svg


def test_units_must_match() -> None:
    from profkit.errors import BadInput

    heap = profile({("main",): 1.0})
    heap.unit = "bytes"
    with pytest.raises(BadInput, match="cannot compare"):
        flame_diff(BASE, heap)


def test_folded_diff_has_two_counts_per_stack() -> None:
    lines = diff_folded(BASE, NEW).splitlines()
    assert "main;reconcile;get 60 20" in lines and "main;reconcile;rsa.GenerateKey 0 140" in lines


def test_flame_diff_command_on_real_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, new = FIXTURES / "go-cpu-controller-healthy.pb.gz", FIXTURES / "go-cpu-controller-keygen.pb.gz"
    out = tmp_path / "diff.svg"
    assert main(["flame", "--diff", str(base), str(new), "-o", str(out)]) == 0
    ET.fromstring(out.read_text())
    assert main(["flame", "--diff", str(base), str(new), "--top", "5"]) == 0
    table = capsys.readouterr().out
    assert "GenerateKey" in table and "+9" in table
    assert main(["flame", str(base), str(new)]) == 2  # two profiles need --diff


def test_view_writes_html_when_speedscope_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "flame.html"
    assert main(["view", str(FIXTURES / "go-heap.pb.gz"), "--no-open", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    assert '"flames":[{"div":"view-0"' in text
    assert "heap in use flame graph" in text and "<script src" not in text


def test_view_hands_speedscope_a_valid_file_when_it_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "seen.txt"
    fake = bin_dir / "speedscope"
    fake.write_text(f"#!/bin/sh\necho \"$1\" > {seen}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["view", str(FIXTURES / "pyspy-keygen.speedscope.json")]) == 0
    path = Path(seen.read_text().strip())
    assert path.name.endswith(".speedscope.json") and capsys.readouterr().out.strip() == str(path)
    document = json.loads(path.read_text())
    assert document["profiles"] and document["shared"]["frames"]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(document, json.loads((FIXTURES / "speedscope-file-format-schema.json").read_text()))
    path.unlink()


def test_flame_diff_of_two_bundles(tmp_path: Path) -> None:
    from profkit.bundle import BundleWriter
    from profkit.formats.pprof import encode_pprof

    for name, prof in (("base", BASE), ("new", NEW)):
        writer = BundleWriter(tmp_path / name)
        prof.period = 1e7
        writer.add_profile("ctl", "pod-0", "cpu", "pprof", encode_pprof(prof), 1_764_000_000.0, 10.0)
        writer.close()
    out = tmp_path / "diff.folded"
    assert main(["flame", "--diff", str(tmp_path / "base"), str(tmp_path / "new"), "-o", str(out)]) == 0
    assert "main;reconcile;rsa.GenerateKey 0 140" in out.read_text().splitlines()
