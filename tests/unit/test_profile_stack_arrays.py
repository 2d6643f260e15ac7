"""Stack arrays and top tables are behaviour of the Profile type: ArrayProfile overrides them, no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from profkit.formats import load_profile_file
from profkit.formats.arrayprofile import ArrayProfile
from profkit.model import Frame, Profile
from real_profiles import go_profile

PACKAGE = Path(__file__).resolve().parents[2] / "profkit"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_the_model_imports_nothing_from_formats_so_there_is_no_cycle() -> None:
    for path in (PACKAGE / "model").glob("*.py"):
        assert not any(m.startswith("profkit.formats") for m in imported_modules(path)), path.name
    assert not (PACKAGE / "formats" / "stackarrays.py").exists()


def test_no_isinstance_dispatch_or_attribute_setattr_in_the_array_code() -> None:
    for name in ("model/stackarrays.py", "formats/arrayprofile.py", "model/profile.py"):
        text = (PACKAGE / name).read_text()
        assert "isinstance(profile" not in text and "setattr(" not in text, name


def test_plain_profile_builds_its_arrays_once_and_again_when_the_lists_are_replaced() -> None:
    profile = Profile([Frame("main"), Frame("work")], [(0, 1), (0,)], [3.0, 1.0])
    first = profile.stack_arrays()
    assert profile.stack_arrays() is first
    assert first.to_tuples() == profile.stacks and first.weights.tolist() == profile.weights
    profile.stacks, profile.weights = [(0, 1)], [5.0]
    assert profile.stack_arrays() is not first and profile.stack_arrays().weights.tolist() == [5.0]
    assert [(r.name, r.flat, r.cum) for r in profile.top(5)] == [("work", 5.0, 5.0), ("main", 0.0, 5.0)]


def test_array_profile_overrides_and_agrees_with_the_plain_path() -> None:
    decoded = load_profile_file(go_profile("cpu"))
    assert isinstance(decoded, ArrayProfile)
    assert type(decoded).top is not Profile.top and type(decoded).stack_arrays is not Profile.stack_arrays
    plain = Profile(frames=decoded.frames, stacks=list(decoded.stacks), weights=list(decoded.weights))
    ours, theirs = decoded.top(30), plain.top(30)
    assert [r.name for r in ours] == [r.name for r in theirs]
    for mine, other in zip(ours, theirs):
        assert (mine.flat, mine.cum) == pytest.approx((other.flat, other.cum))
    assert decoded.stack_arrays().to_tuples() == plain.stack_arrays().to_tuples()
