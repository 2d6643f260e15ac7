"""pprof decoding agrees with ``go tool pprof`` on real Go profiles; encoding writes what it reads."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from profkit.formats import load_profile_file
from profkit.formats.pprof import decode_pprof, encode_pprof
from profkit.formats.pprof_wire import (
    PROFILE_PROTO_FIELDS,
    locations_from_messages,
    message_classes,
    samples_from_messages,
    scan_locations,
    scan_samples,
)
from real_profiles import go_profile, go_tool_top

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")
pytestmark = [pytest.mark.go, needs_go]


def ours(path: Path, **kwargs: str) -> dict[str, tuple[float, float]]:
    profile = load_profile_file(path, **kwargs)  # type: ignore[arg-type]
    return {row.name: (row.flat, row.cum) for row in profile.top(10_000)}


@pytest.mark.parametrize(("kind", "unit", "index"), [("cpu", "ns", None), ("heap", "B", "inuse_space"),
                                                     ("goroutine", "B", None)])
def test_totals_and_top_functions_match_go_tool_pprof(kind: str, unit: str, index: str | None) -> None:
    path = go_profile(kind)
    profile = load_profile_file(path)
    total, rows = go_tool_top(path, unit, nodes=8, sample_index=index)
    assert profile.kind == kind
    assert profile.total == pytest.approx(total)
    mine = ours(path)
    assert rows, "go tool pprof printed no rows"
    for function, flat, cum in rows:
        assert mine[function] == pytest.approx((flat, cum)), function


def test_cpu_profile_metadata_and_sample_type() -> None:
    profile = load_profile_file(go_profile("cpu"))
    assert (profile.sample_type, profile.unit, profile.language) == ("cpu", "nanoseconds", "go")
    assert profile.period == 10_000_000  # 100 Hz
    assert profile.start > 1.6e9 and profile.duration > 0.5
    assert profile.extra["sample_types"] == "samples/count,cpu/nanoseconds"
    assert len(set(profile.stacks)) == len(profile.stacks), "identical stacks are aggregated"
    names = {profile.frames[s[-1]].name for s in profile.stacks if s}
    assert any(name.startswith(("crypto/", "math/big")) for name in names)


def test_heap_kind_picks_inuse_space_and_another_sample_type_can_be_chosen() -> None:
    path = go_profile("heap")
    heap = load_profile_file(path)
    assert (heap.kind, heap.sample_type, heap.unit) == ("heap", "inuse_space", "bytes")
    allocs = load_profile_file(path, kind="allocs")
    assert allocs.sample_type == "alloc_space"
    objects = load_profile_file(path, sample_type="alloc_objects")
    total, _ = go_tool_top(path, "B", sample_index="alloc_objects")
    assert objects.total == pytest.approx(total)
    assert heap.total > 0 and heap.period > 0  # period: the heap sampling rate in bytes


def test_goroutine_profile_counts_parked_goroutines() -> None:
    profile = load_profile_file(go_profile("goroutine"))
    assert (profile.kind, profile.sample_type) == ("goroutine", "goroutine")
    assert profile.total >= 1 and profile.total == int(profile.total)


def test_vectorised_scan_agrees_with_message_by_message_decoding() -> None:
    for kind in ("cpu", "heap", "goroutine"):
        raw = gzip.decompress(go_profile(kind).read_bytes())
        fast_view = message_classes().RawProfile.FromString(raw)
        full = message_classes().Profile.FromString(raw)
        value_count = len(full.sample_type)
        pairs = [(scan_samples(list(fast_view.sample), value_count), samples_from_messages(full.sample, value_count)),
                 (scan_locations(list(fast_view.location)), locations_from_messages(full.location))]
        for scanned, slow in pairs:
            for fast_part, slow_part in zip(scanned, slow):
                np.testing.assert_array_equal(fast_part, slow_part)


def test_inlined_frames_are_expanded_with_the_caller_first() -> None:
    raw = gzip.decompress(go_profile("cpu").read_bytes())
    message = message_classes().Profile.FromString(raw)
    strings = [raw.decode() for raw in message.string_table]
    names = {f.id: strings[f.name] for f in message.function}
    inlined = [[names[line.function_id] for line in loc.line] for loc in message.location if len(loc.line) > 1]
    if not inlined:
        pytest.skip("this profile has no inlined frames")
    profile = decode_pprof(raw, "cpu")
    pairs = {(profile.frames[a].name, profile.frames[b].name) for s in profile.stacks for a, b in zip(s, s[1:])}
    for lines in inlined:
        caller, callee = lines[-1], lines[-2]
        assert (caller, callee) in pairs or caller == callee


def test_locations_without_function_info_are_grouped_by_binary_as_pprof_names_them() -> None:
    raw = gzip.decompress(go_profile("cpu").read_bytes())
    message = message_classes().Profile.FromString(raw)
    for location in message.location:  # as from a binary without symbols
        del location.line[:]
    profile = decode_pprof(message.SerializeToString(), "stripped")
    strings = [text.decode() for text in message.string_table]
    binaries = {m.id: Path(strings[m.filename]).name for m in message.mapping}
    expected = {f"[{binaries[loc.mapping_id]}]" if binaries.get(loc.mapping_id) else "<unknown>"
                for loc in message.location}
    assert {f.name for f in profile.frames} == expected
    assert len(profile.frames) < len(message.location), "one frame per binary, not one per address"
    assert profile.total == pytest.approx(load_profile_file(go_profile("cpu")).total)


def test_encoded_profile_decodes_to_the_same_totals_and_go_tool_pprof_reads_it(tmp_path: Path) -> None:
    original = load_profile_file(go_profile("cpu"))
    path = tmp_path / "again.pb.gz"
    path.write_bytes(encode_pprof(original))
    again = load_profile_file(path)
    assert again.total == pytest.approx(original.total)
    assert (again.kind, again.period) == ("cpu", original.period)
    before, after = ours(go_profile("cpu")), ours(path)
    assert before.keys() == after.keys()
    for name, values in before.items():
        assert after[name] == pytest.approx(values), name
    total, rows = go_tool_top(path, "ns")
    assert total == pytest.approx(original.total)
    assert rows[0][0] == original.top(1)[0].name


def test_profile_proto_declares_the_fields_of_the_run_time_descriptor() -> None:
    text = (Path(__file__).parents[2] / "profkit" / "formats" / "profile.proto").read_text()
    declared: dict[str, list[tuple[str, int, bool, str]]] = {}
    for message, body in re.findall(r"message (\w+) \{(.*?)\n\}", text, flags=re.S):
        declared[message] = [
            (name, int(number), bool(repeated), kind)
            for repeated, kind, name, number in re.findall(r"^\s*(repeated )?(\w+) (\w+) = (\d+);", body, flags=re.M)
        ]
    assert declared == PROFILE_PROTO_FIELDS


def test_go_tool_pprof_raw_agrees_on_sample_count() -> None:
    path = go_profile("cpu")
    text = subprocess.run(["go", "tool", "pprof", "-raw", str(path)], check=True, capture_output=True,
                          text=True).stdout
    section = text.split("Samples:", 1)[1].split("Locations", 1)[0]
    counts = [int(m[1]) for m in re.finditer(r"^\s+(\d+)\s+\d+:", section, flags=re.M)]
    profile = load_profile_file(path)
    assert sum(counts) * profile.period == pytest.approx(profile.total)


def test_decoded_profile_behaves_like_a_plain_profile() -> None:
    from profkit.model import Profile

    decoded = load_profile_file(go_profile("cpu"))
    plain = Profile(frames=decoded.frames, stacks=list(decoded.stacks), weights=list(decoded.weights))
    assert len(decoded) == len(plain) and decoded.total == pytest.approx(plain.total)
    ours_flat, ours_cum = decoded.function_totals()
    plain_flat, plain_cum = plain.function_totals()
    assert ours_flat.keys() == plain_flat.keys() and ours_cum.keys() == plain_cum.keys()
    for name in plain_cum:
        assert ours_cum[name] == pytest.approx(plain_cum[name]) and ours_flat.get(name, 0) == pytest.approx(
            plain_flat.get(name, 0))
    assert decoded.top(5) == plain.top(5)
    decoded.stacks = decoded.stacks[:1]  # replacing the lists is honoured everywhere
    decoded.weights = decoded.weights[:1]
    assert len(decoded) == 1 and decoded.total == pytest.approx(plain.weights[0])
