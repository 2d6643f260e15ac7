"""speedscope: py-spy output read (threads merged), profkit output valid against the published schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profkit.errors import BadInput
from profkit.formats import load_profile_file
from profkit.formats.speedscope import SCHEMA_URL, read_speedscope, to_speedscope, write_speedscope
from real_profiles import FIXTURES, go_profile, pyspy_profile

SCHEMA = json.loads((FIXTURES / "speedscope-file-format-schema.json").read_text())


def validate(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(document, SCHEMA)


def test_pyspy_threads_merge_into_one_python_profile() -> None:
    path = pyspy_profile()
    document = json.loads(path.read_text())
    profile = load_profile_file(path)
    assert profile.language == "python"
    assert (profile.kind, profile.unit) == ("cpu", "nanoseconds")
    seconds = sum(sum(p["weights"]) for p in document["profiles"])
    assert profile.total == pytest.approx(seconds * 1e9)
    assert profile.period == pytest.approx(1e7)  # 100 Hz
    for entry in document["profiles"]:
        assert entry["name"] in profile.extra["threads"]
    assert len(set(profile.stacks)) == len(profile.stacks)
    assert all(frame.file for frame in profile.frames)


def test_written_speedscope_validates_against_the_schema() -> None:
    for profile in (load_profile_file(go_profile("cpu")), load_profile_file(pyspy_profile())):
        document = to_speedscope(profile)
        validate(document)
        assert document["$schema"] == SCHEMA_URL
        assert document["profiles"][0]["unit"] == "nanoseconds"


def test_units_are_mapped_when_writing() -> None:
    heap = load_profile_file(go_profile("heap"))
    goroutines = load_profile_file(go_profile("goroutine"))
    assert to_speedscope(heap)["profiles"][0]["unit"] == "bytes"
    assert to_speedscope(goroutines)["profiles"][0]["unit"] == "none"
    validate(to_speedscope(goroutines))


def test_pprof_to_speedscope_and_back_keeps_totals(tmp_path: Path) -> None:
    original = load_profile_file(go_profile("cpu"))
    path = tmp_path / "cpu.speedscope.json"
    path.write_text(write_speedscope(original))
    again = load_profile_file(path)
    assert again.total == pytest.approx(original.total)
    assert len(again.stacks) == len(original.stacks)
    before = {r.name: (r.flat, r.cum) for r in original.top(50)}
    after = {r.name: (r.flat, r.cum) for r in again.top(50)}
    assert after == before


def test_evented_profiles_charge_time_to_the_open_stack() -> None:
    document = {
        "$schema": SCHEMA_URL,
        "shared": {"frames": [{"name": "main"}, {"name": "reconcile"}, {"name": "generateKey"}]},
        "profiles": [{
            "type": "evented", "name": "worker", "unit": "milliseconds", "startValue": 0, "endValue": 10,
            "events": [
                {"type": "O", "frame": 0, "at": 0}, {"type": "O", "frame": 1, "at": 2},
                {"type": "O", "frame": 2, "at": 3}, {"type": "C", "frame": 2, "at": 9},
                {"type": "C", "frame": 1, "at": 9}, {"type": "C", "frame": 0, "at": 10},
            ],
        }],
    }
    validate(document)
    profile = read_speedscope(json.dumps(document))
    weights = dict(zip(profile.stacks, profile.weights))
    assert weights == {(0,): 3e6, (0, 1): 1e6, (0, 1, 2): 6e6}
    assert profile.duration == pytest.approx(0.01)


@pytest.mark.parametrize("text", ['{"profiles": []}', '{"shared": {"frames": []}}', "[1, 2", '"x"'])
def test_malformed_documents_are_bad_input(text: str) -> None:
    with pytest.raises(BadInput, match="demo.json"):
        read_speedscope(text, "demo.json")


def test_samples_naming_missing_frames_are_bad_input() -> None:
    document = {"shared": {"frames": [{"name": "a"}]},
                "profiles": [{"type": "sampled", "unit": "none", "samples": [[0, 5]], "weights": [1]}]}
    with pytest.raises(BadInput, match="does not exist"):
        read_speedscope(json.dumps(document), "broken.json")


def test_python_frames_are_one_speedscope_frame_per_function() -> None:
    """py-spy names each line a function was on; speedscope's sandwich view adds up a function only when
    it is one frame, so the writer merges frames by function (name and file), lowest line kept."""
    profile = load_profile_file(pyspy_profile())
    by_function: dict[tuple[str, str], set[int]] = {}
    for frame in profile.frames:
        by_function.setdefault((frame.name, frame.file), set()).add(frame.line)
    assert any(len(lines) > 1 for lines in by_function.values()), "the recording has no function on two lines"
    document = to_speedscope(profile)
    frames = document["shared"]["frames"]
    assert len(frames) == len(by_function)
    assert len({(f["name"], f.get("file", "")) for f in frames}) == len(frames)
    for f in frames:
        lines = by_function[(f["name"], f.get("file", ""))] - {0}
        assert f.get("line", 0) == (min(lines) if lines else 0)
    # What sandwich shows for a function: the weight of the samples with it anywhere on the stack.
    sampled = document["profiles"][0]
    for index, f in enumerate(frames):
        key = (f["name"], f.get("file", ""))
        shown = sum(w for stack, w in zip(sampled["samples"], sampled["weights"]) if index in stack)
        truth = sum(w for stack, w in zip(profile.stacks, profile.weights)
                    if any((profile.frames[i].name, profile.frames[i].file) == key for i in stack))
        assert shown == pytest.approx(truth, rel=1e-9), key
