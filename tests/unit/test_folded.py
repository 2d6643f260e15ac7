"""Folded stacks: written from real profiles, read back with the same totals; py-spy and differential lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from profkit.errors import BadInput
from profkit.formats import load_profile_file
from profkit.formats.folded import frame_label, read_folded, write_folded
from profkit.model import Profile


def labelled_stacks(profile: Profile) -> list[tuple[list[str], float]]:
    """Stacks as folded files can hold them: non-empty, ``;`` in names (Go generics) replaced."""
    labels = [frame_label(f, profile.language == "python") for f in profile.frames]
    return sorted(([labels[i] for i in s], w) for s, w in zip(profile.stacks, profile.weights) if s)
from real_profiles import go_profile, pyspy_profile


def test_go_profile_to_folded_and_back_keeps_stacks_and_totals(tmp_path: Path) -> None:
    original = load_profile_file(go_profile("cpu"))
    text = write_folded(original)
    path = tmp_path / "cpu.folded"
    path.write_text(text)
    again = load_profile_file(path)
    assert again.total == pytest.approx(original.total)
    assert labelled_stacks(again) == labelled_stacks(original)
    first = text.splitlines()[0]
    assert first.rsplit(" ", 1)[1] == str(int(max(original.weights)))
    assert ";" in first and first.startswith(original.frames[original.stacks[0][0]].name.split(".")[0])


def test_python_frames_keep_file_and_line() -> None:
    original = load_profile_file(pyspy_profile())
    again = read_folded(write_folded(original))
    assert again.language == "python"
    assert {(f.name, f.file, f.line) for f in again.frames} <= {(f.name, f.file, f.line) for f in original.frames}
    assert again.total == pytest.approx(sum(w for _, w in labelled_stacks(original)))
    assert labelled_stacks(again) == labelled_stacks(original)


def test_differential_lines_use_the_last_count() -> None:
    profile = read_folded("main;reconcile;generateKey 10 40\nmain;reconcile 5 5\n")
    assert dict(zip(map(tuple, (n for n, _ in profile.named_stacks())), profile.weights)) == {
        ("main", "reconcile", "generateKey"): 40.0, ("main", "reconcile"): 5.0}


def test_names_with_spaces_and_counts_summed() -> None:
    text = "process 12:\"python app.py\";work (app.py:3) 2\nprocess 12:\"python app.py\";work (app.py:3) 3\n"
    profile = read_folded(text)
    assert profile.total == 5 and len(profile.stacks) == 1
    assert profile.frames[1].name == "work" and profile.frames[1].line == 3


def test_bad_line_names_the_file_and_line() -> None:
    with pytest.raises(BadInput, match=r"stacks.folded:2: not a folded stack line"):
        read_folded("a;b 1\nthis is not folded\n", "stacks.folded")
