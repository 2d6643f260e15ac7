"""pprof input that real tools write or break: delta values, odd strings, reserved ids, stripped binaries, bombs."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from profkit.errors import BadInput
from profkit.formats import load_profile_bytes, load_profile_file
from profkit.formats.pprof import gunzip
from profkit.formats.pprof_wire import message_classes
from real_profiles import FIXTURES, go_profile


def real_message(name: str) -> Any:
    return message_classes().Profile.FromString(gzip.decompress((FIXTURES / name).read_bytes()))


def one_line_error(data: bytes, source: str = "bad.pb.gz") -> str:
    with pytest.raises(BadInput) as caught:
        load_profile_bytes(data, source)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(source), message
    assert caught.value.exit_code == 2
    return message


def test_delta_profile_totals_absolute_values_and_ranks_by_absolute_flat() -> None:
    message = real_message("go-heap-delta.pb.gz")
    strings = [text.decode() for text in message.string_table]
    index = [strings[t.type] for t in message.sample_type].index("inuse_space")
    values = np.array([s.value[index] for s in message.sample])
    assert (values < 0).any() and (values > 0).any(), "the recorded delta has both signs"
    profile = load_profile_file(FIXTURES / "go-heap-delta.pb.gz")
    assert profile.sample_type == "inuse_space"
    assert profile.total == pytest.approx(float(np.abs(values).sum()))
    rows = profile.top(50)
    assert [abs(r.flat) for r in rows] == sorted((abs(r.flat) for r in rows), reverse=True)
    assert rows[0].flat < 0, "the freed cache is the largest change"


def test_invalid_utf8_in_the_string_table_is_read_with_replacement_characters() -> None:
    message = real_message("go-cpu-keygen.pb.gz")
    leaf_function = message.location[message.sample[0].location_id[0] - 1].line[0].function_id
    function = next(f for f in message.function if f.id == leaf_function)
    message.string_table[function.name] = b"main.\xff\xfebroken"
    profile = load_profile_bytes(gzip.compress(message.SerializeToString()), "latin.pb.gz")
    assert "main.\ufffd\ufffdbroken" in {f.name for f in profile.frames}


@pytest.mark.parametrize("what", ["function", "location", "mapping"])
def test_reserved_id_zero_is_rejected_in_one_line(what: str) -> None:
    message = real_message("go-cpu-keygen.pb.gz")
    getattr(message, what)[0].id = 0
    assert f"malformed pprof: found {what} with reserved id 0" in one_line_error(message.SerializeToString())


def test_a_line_naming_a_missing_function_is_rejected_in_one_line() -> None:
    message = real_message("go-cpu-keygen.pb.gz")
    message.location[0].line[0].function_id = 999_999
    assert "unknown function id 999999" in one_line_error(message.SerializeToString())


def test_duplicate_ids_are_rejected() -> None:
    message = real_message("go-cpu-keygen.pb.gz")
    message.function[1].id = message.function[0].id
    assert "multiple functions with the same id" in one_line_error(message.SerializeToString())


def test_stripped_binary_is_grouped_per_binary_like_pprof() -> None:
    profile = load_profile_file(FIXTURES / "go-cpu-stripped.pb.gz")
    names = {f.name for f in profile.frames}
    assert "[keygen-server]" in names
    assert all(name.startswith("[") or name == "<unknown>" for name in names)
    assert profile.total == pytest.approx(load_profile_file(go_profile("cpu")).total)


def test_function_without_a_name_is_named_by_its_binary() -> None:
    message = real_message("go-cpu-keygen.pb.gz")
    for function in message.function:
        function.name = 0
    profile = load_profile_bytes(message.SerializeToString(), "nameless.pb")
    assert {f.name for f in profile.frames} <= {"[keygen-server]", "[libc.so.6]", "[[vdso]]", "<unknown>"}
    assert "" not in {f.name for f in profile.frames}


def test_corrupt_protobuf_inside_gzip_says_what_it_is() -> None:
    raw = gzip.decompress(go_profile("cpu").read_bytes())
    message = one_line_error(gzip.compress(raw[: len(raw) // 3]))
    assert "not gzip" not in message, "the file is gzip: the error must not say otherwise"
    assert "pprof" in message


def test_corrupt_protobuf_without_gzip() -> None:
    raw = gzip.decompress(go_profile("cpu").read_bytes())
    assert "not a pprof protobuf" in one_line_error(raw[: len(raw) // 3] + b"\xff\xff")


def test_gzip_bomb_stops_early_in_bounded_memory() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(256)) + compressor.flush()  # 256 MiB of zeros
    tracemalloc.start()
    try:
        message = one_line_error(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "gzip bomb" in message
    assert peak < 150 << 20, f"peak {peak >> 20} MiB while refusing a bomb"


def test_decompressed_size_limit_is_stated() -> None:
    data = gzip.compress(np.random.default_rng(1).bytes(3 << 20))
    with pytest.raises(BadInput, match="expands past 1 MiB, the limit"):
        gunzip(data, "big.pb.gz", limit=1 << 20)


def test_several_gzip_members_are_read_and_trailing_garbage_is_damage() -> None:
    raw = gzip.decompress(go_profile("cpu").read_bytes())
    half = len(raw) // 2
    assert gunzip(gzip.compress(raw[:half]) + gzip.compress(raw[half:]), "two.pb.gz") == raw
    assert "trailing bytes" in one_line_error(gzip.compress(raw) + b"garbage")


def test_truncated_gzip(tmp_path: Path) -> None:
    data = go_profile("cpu").read_bytes()
    assert "truncated gzip" in one_line_error(data[:-10])
