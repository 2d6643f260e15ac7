"""speedscope and folded input that breaks naive readers, and profiles the writers cannot hold: one line each."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest

from profkit.errors import BadInput
from profkit.formats import load_profile_bytes
from profkit.formats.folded import write_folded
from profkit.formats.pprof import encode_pprof
from profkit.formats.speedscope import read_speedscope, to_speedscope, write_speedscope
from profkit.model import Frame, Profile
from profkit.render.flamegraph_svg import render_flamegraph_svg
from real_profiles import FIXTURES, pyspy_profile

SCHEMA = json.loads((FIXTURES / "speedscope-file-format-schema.json").read_text())


def pyspy_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(pyspy_profile().read_text())
    return document


def evented_document() -> dict[str, Any]:
    """The real py-spy samples replayed as an evented profile (open/close around each sample)."""
    document = pyspy_document()
    sampled = document["profiles"][0]
    events, at = [], 0.0
    for stack, weight in zip(sampled["samples"][:50], sampled["weights"][:50]):
        events += [{"type": "O", "frame": f, "at": at} for f in stack]
        at += weight
        events += [{"type": "C", "frame": f, "at": at} for f in reversed(stack)]
    document["profiles"] = [{"type": "evented", "name": "replayed", "unit": sampled["unit"], "startValue": 0,
                             "endValue": at, "events": events}]
    return document


def one_line(data: bytes | str, source: str = "in.json") -> str:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(BadInput) as caught:
        load_profile_bytes(raw, source)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(source) and caught.value.exit_code == 2
    return message


def test_a_frame_that_no_sample_uses_does_not_break_the_top_table() -> None:
    document = pyspy_document()
    document["shared"]["frames"].append({"name": "never_sampled", "file": "x.py", "line": 1})
    profile = read_speedscope(json.dumps(document), "unused.json")
    rows = {row.name: row for row in profile.top(10_000)}
    assert "never_sampled" not in rows, "like go tool pprof, the table lists functions some sample holds"
    assert max(row.cum for row in rows.values()) == pytest.approx(profile.total)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


SAMPLED_BREAKAGE = {
    "weight is a string": (_set(("profiles", 0, "weights", 0), "0.01"), "a weight is str"),
    "weight is NaN": (_set(("profiles", 0, "weights", 0), math.nan), "a weight is nan"),
    "weight is infinite": (_set(("profiles", 0, "weights", 0), math.inf), "a weight is inf"),
    "weight is a bool": (_set(("profiles", 0, "weights", 0), True), "a weight is bool"),
    "sample is a number": (_set(("profiles", 0, "samples", 0), 3), "a sample is int"),
    "sample frame is a float": (_set(("profiles", 0, "samples", 0), [0.5]), "a sample's frame is float"),
    "sample frame is a string": (_set(("profiles", 0, "samples", 0), ["0"]), "a sample's frame is str"),
    "sample frame out of range": (_set(("profiles", 0, "samples", 0), [10**6]), "does not exist"),
    "startValue is a string": (_set(("profiles", 0, "startValue"), "0"), "startValue is str"),
    "endValue is NaN": (_set(("profiles", 0, "endValue"), math.nan), "endValue is nan"),
    "frame line is a string": (_set(("shared", "frames", 0, "line"), "12"), "a frame's line is str"),
    "frame line is infinite": (_set(("shared", "frames", 0, "line"), math.inf), "a frame's line is inf"),
    "frame file is a number": (_set(("shared", "frames", 0, "file"), 7), "a frame's file is int"),
}


@pytest.mark.parametrize("case", list(SAMPLED_BREAKAGE))
def test_sampled_values_of_the_wrong_type_or_not_finite_are_one_line(case: str) -> None:
    change, expected = SAMPLED_BREAKAGE[case]
    document = pyspy_document()
    change(document)
    assert expected in one_line(json.dumps(document))  # json.dumps writes NaN/Infinity, as some tools do


EVENTED_BREAKAGE = {
    "event frame is a string": (_set(("profiles", 0, "events", 0, "frame"), "0"), "an event's frame is str"),
    "event frame is a float": (_set(("profiles", 0, "events", 0, "frame"), 1.5), "an event's frame is float"),
    "event at is NaN": (_set(("profiles", 0, "events", 0, "at"), math.nan), "an event's at is nan"),
    "event at is a list": (_set(("profiles", 0, "events", 0, "at"), [1]), "an event's at is list"),
}


@pytest.mark.parametrize("case", list(EVENTED_BREAKAGE))
def test_evented_values_of_the_wrong_type_are_one_line(case: str) -> None:
    change, expected = EVENTED_BREAKAGE[case]
    document = evented_document()
    change(document)
    assert expected in one_line(json.dumps(document))


def test_evented_profile_is_read_and_one_ending_with_open_frames_is_refused() -> None:
    document = evented_document()
    total = read_speedscope(json.dumps(document)).total
    assert total == pytest.approx(sum(pyspy_document()["profiles"][0]["weights"][:50]) * 1e9)
    document["profiles"][0]["events"] = document["profiles"][0]["events"][:-2]
    assert "ends with 2 frames still open" in one_line(json.dumps(document))


def test_deeply_nested_json_is_one_line() -> None:
    assert "nested too deeply" in one_line("[" * 200_000 + "]" * 200_000)
    assert "nested too deeply" in one_line('{"profiles":' + "[" * 200_000)


def test_an_integer_of_thousands_of_digits_is_one_line() -> None:
    assert "not valid JSON" in one_line('{"profiles": [], "x": ' + "9" * 5000 + "}")


def delta_profile() -> Profile:
    return Profile(frames=[Frame("main"), Frame("grow"), Frame("shrink")], stacks=[(0, 1), (0, 2), (0,)],
                   weights=[300.0, -200.0, 0.0], unit="bytes", kind="heap", sample_type="inuse_space")


def test_writing_speedscope_says_what_it_leaves_out_and_stays_valid() -> None:
    document = to_speedscope(delta_profile())
    jsonschema.validate(document, SCHEMA)
    assert document["profiles"][0]["weights"] == [300.0]
    assert document["profkitOmitted"] == {"stacks": 1, "negative_weight": -200.0, "non_finite": 0}
    assert "1 stacks with weight <= 0" in document["profiles"][0]["name"]
    assert "profkitOmitted" not in to_speedscope(Profile([Frame("a")], [(0,)], [1.0]))


def test_written_speedscope_never_holds_nan_or_infinity() -> None:
    profile = Profile([Frame("a"), Frame("b")], [(0,), (1,)], [math.inf, 5.0])
    text = write_speedscope(profile)
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["profkitOmitted"]["non_finite"] == 1
    with pytest.raises(BadInput, match="past the largest number"):
        write_speedscope(Profile([Frame("a"), Frame("b")], [(0,), (1,)], [1e308, 1e308]))


def test_folded_comment_lines_are_skipped_even_at_the_top() -> None:
    profile = load_profile_bytes(b"# recorded by perf script | stackcollapse-perf.pl\nmain;work 3\n# x\nmain 1\n",
                                 "perf.folded")
    assert profile.total == 4 and {f.name for f in profile.frames} == {"main", "work"}


def test_folded_utf16_is_read_and_bad_utf16_is_one_line() -> None:
    text = "main;wörk 3\r\nmain;idle 1\r\n"
    for encoding in ("utf-16", "utf-16-be", "utf-32"):
        data = text.encode(encoding) if encoding != "utf-16-be" else b"\xfe\xff" + text.encode(encoding)
        profile = load_profile_bytes(data, f"{encoding}.folded")
        assert profile.total == 4 and "wörk" in {f.name for f in profile.frames}
    assert "UTF-16 byte-order mark" in one_line(b"\xff\xfe" + "main 1\n".encode("utf-16-le") + b"\x00\xd8",
                                                "odd.folded")


@pytest.mark.parametrize("count", ["1e999", "9" * 400, "1" + "0" * 5000])
def test_folded_counts_too_large_for_a_profile_are_one_line(count: str) -> None:
    assert "is too large" in one_line(f"main;work 1\nmain;hot {count}\n", "huge.folded")


def test_folded_lines_split_on_newline_only() -> None:
    profile = load_profile_bytes("main;we\u2028ird\x0cname 2\nmain 1\n".encode(), "odd.folded")
    assert "we\u2028ird\x0cname" in {f.name for f in profile.frames}


@pytest.mark.parametrize("weight", [math.inf, math.nan, 1e300])
@pytest.mark.parametrize("writer", ["folded", "pprof", "svg"])
def test_writers_refuse_weights_they_cannot_hold_in_one_line(writer: str, weight: float, tmp_path: Path) -> None:
    profile = Profile([Frame("main"), Frame("hot")], [(0, 1), (0,)], [weight, 1.0], unit="count", kind="cpu")
    write = {"folded": write_folded, "pprof": encode_pprof, "svg": render_flamegraph_svg}[writer]
    if writer == "folded" and math.isfinite(weight) or writer == "svg" and weight == 1e300:
        write(profile)  # a large finite count is written exactly / drawn
        return
    with pytest.raises(BadInput) as caught:
        write(profile)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("cannot ")


def test_svg_of_counts_that_add_up_past_the_largest_float_is_one_line() -> None:
    profile = Profile([Frame("a"), Frame("b")], [(0,), (1,)], [1.5e308, 1.5e308])
    with pytest.raises(BadInput, match="cannot draw a flame graph"):
        render_flamegraph_svg(profile)


def test_unchanged_documents_still_read() -> None:
    document = pyspy_document()
    assert read_speedscope(json.dumps(copy.deepcopy(document))).total == pytest.approx(
        sum(document["profiles"][0]["weights"]) * 1e9)
