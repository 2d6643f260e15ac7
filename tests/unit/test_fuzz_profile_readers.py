"""Fuzzing the profile readers (pprof, speedscope, folded): every input gives a profile or one line, never a crash.

Inputs are mutations of the recorded real files in tests/fixtures (bytes flipped, cut, inserted;
protobuf fields set to hostile values and re-gzipped; JSON values replaced by others of any type,
NaN and infinities included) and folded text built from hostile pieces. Whatever a reader returns
is also written back (folded, speedscope, pprof), so the writers are fuzzed on real reader output.
Bounded: a few hundred examples per reader, a deadline per example and a peak-RSS ceiling; the
counts run are printed at the end. Every crash found is kept in tests/fixtures/fuzz-regressions/
and replayed by ``test_recorded_fuzz_regressions``. PROFKIT_FUZZ_EXAMPLES=N runs N per test;
PROFKIT_FUZZ_SAVE=1 writes each crashing input there.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import resource
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profkit.errors import ProfkitError
from profkit.formats import load_profile_bytes
from profkit.formats.folded import write_folded
from profkit.formats.pprof import encode_pprof
from profkit.formats.pprof_wire import message_classes
from profkit.formats.speedscope import write_speedscope
from profkit.model import Profile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REGRESSIONS = FIXTURES / "fuzz-regressions"
PPROF_SEEDS = sorted(FIXTURES.glob("*.pb.gz"))
SPEEDSCOPE_SEEDS = [FIXTURES / "pyspy-keygen.speedscope.json"]
RSS_CEILING_KIB = 1_500_000  # a reader that blows memory up trips this (ru_maxrss is in KiB on Linux)
EXAMPLES = int(os.environ.get("PROFKIT_FUZZ_EXAMPLES", "0"))
RUN: Counter[str] = Counter()


def bounded(examples: int) -> Any:
    return settings(max_examples=EXAMPLES or examples, deadline=10_000, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def print_counts(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    if capture is not None and reporter is not None and RUN:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\nfuzz examples run: " + ", ".join(f"{name} {n}" for name, n in sorted(RUN.items())))


def read_or_one_line(data: bytes, reader: str) -> Profile | None:
    """The property: a Profile (that the writers take) or a one-line ProfkitError; nothing else."""
    RUN[reader] += 1
    try:
        profile = load_profile_bytes(data, "fuzzed")
        profile.top(20)
        assert math.isfinite(profile.total)
        for write in (write_folded, write_speedscope, encode_pprof):
            try:
                write(profile)
            except ProfkitError as exc:
                assert "\n" not in str(exc) and str(exc).startswith("cannot "), str(exc)
    except ProfkitError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzzed"), str(exc)
        assert exc.exit_code == 2
        return None
    except BaseException:
        if os.environ.get("PROFKIT_FUZZ_SAVE"):  # keep the crash as a regression fixture
            REGRESSIONS.mkdir(exist_ok=True)
            name = f"{reader.replace(' ', '-')}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
            (REGRESSIONS / name).write_bytes(data)
        raise
    finally:
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < RSS_CEILING_KIB
    return profile


# ---- byte-level mutations of real files --------------------------------------------------------

@st.composite
def mutated_bytes(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "truncate"]))
        if how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "set":
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x22]))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif how == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif how == "truncate":
            del data[at:]
        else:
            data = data[at:]
    return bytes(data)


RAW_PPROF = [gzip.decompress(path.read_bytes()) for path in PPROF_SEEDS]


@st.composite
def pprof_bytes(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from(RAW_PPROF))
    layer = draw(st.sampled_from(["protobuf", "protobuf-regzipped", "gzip"]))
    if layer == "gzip":
        return draw(mutated_bytes(gzip.compress(seed, compresslevel=1)))
    mutated = draw(mutated_bytes(seed))
    return gzip.compress(mutated, compresslevel=1) if layer == "protobuf-regzipped" else mutated


@given(pprof_bytes())
@bounded(200)
def test_pprof_byte_mutations_give_a_profile_or_one_line(data: bytes) -> None:
    read_or_one_line(data, "pprof bytes")


HOSTILE_INTS = st.one_of(st.sampled_from([0, 1, 2, 3, 2**31, 2**32 - 1, 2**63 - 1]), st.integers(0, 2**64 - 1))
HOSTILE_VALUES = st.one_of(st.sampled_from([0, -1, 1, -(2**63), 2**63 - 1]), st.integers(-(2**63), 2**63 - 1))


@st.composite
def pprof_messages(draw: st.DrawFn) -> bytes:
    """A real profile with protobuf fields set to hostile values, re-encoded and gzipped."""
    message = message_classes().Profile.FromString(draw(st.sampled_from(RAW_PPROF)))
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(["function", "location", "line", "mapping", "sample", "value", "string",
                                       "sample_type", "drop", "index"]))
        if target == "function" and message.function:
            function = message.function[draw(st.integers(0, len(message.function) - 1))]
            setattr(function, draw(st.sampled_from(["id", "name", "filename", "start_line"])),
                    draw(HOSTILE_INTS) % 2**63)
        elif target == "location" and message.location:
            location = message.location[draw(st.integers(0, len(message.location) - 1))]
            setattr(location, draw(st.sampled_from(["id", "mapping_id", "address"])), draw(HOSTILE_INTS))
        elif target == "line" and message.location:
            location = message.location[draw(st.integers(0, len(message.location) - 1))]
            if location.line:
                location.line[0].function_id = draw(HOSTILE_INTS)
            else:
                location.line.add(function_id=draw(HOSTILE_INTS))
        elif target == "mapping" and message.mapping:
            mapping = message.mapping[draw(st.integers(0, len(message.mapping) - 1))]
            setattr(mapping, draw(st.sampled_from(["id", "filename"])), draw(HOSTILE_INTS) % 2**63)
        elif target == "sample" and message.sample:
            sample = message.sample[draw(st.integers(0, len(message.sample) - 1))]
            sample.location_id.append(draw(HOSTILE_INTS))
        elif target == "value" and message.sample:
            sample = message.sample[draw(st.integers(0, len(message.sample) - 1))]
            if draw(st.booleans()) and sample.value:
                sample.value[draw(st.integers(0, len(sample.value) - 1))] = draw(HOSTILE_VALUES)
            else:
                sample.value.append(draw(HOSTILE_VALUES))
        elif target == "string":
            message.string_table[draw(st.integers(0, len(message.string_table) - 1))] = draw(st.binary(max_size=20))
        elif target == "sample_type" and message.sample_type:
            message.sample_type[0].type = draw(HOSTILE_INTS) % 2**63
        elif target == "drop":
            field = draw(st.sampled_from(["sample", "location", "function", "mapping", "sample_type"]))
            del getattr(message, field)[draw(st.integers(0, 3)):]
        else:
            message.default_sample_type = draw(HOSTILE_INTS) % 2**63
    return gzip.compress(message.SerializeToString(), compresslevel=1)


@given(pprof_messages())
@bounded(150)
def test_pprof_field_mutations_give_a_profile_or_one_line(data: bytes) -> None:
    read_or_one_line(data, "pprof fields")


def test_pprof_gzip_bomb_is_one_line() -> None:
    bomb = gzip.compress(bytes(96 << 20), compresslevel=9)
    assert read_or_one_line(bomb, "pprof bytes") is None


# ---- speedscope ---------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.sampled_from(["O", "C", "sampled", "evented"]),
)


def json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4))


JSON_VALUES = st.recursive(JSON_SCALARS, json_containers, max_leaves=12)
SPEEDSCOPE_SEED = json.loads(SPEEDSCOPE_SEEDS[0].read_text())


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document (long arrays sampled: the first few and the last)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index in sorted({*range(min(len(value), 3)), len(value) - 1} - {-1}):
            yield from paths(value[index], (*prefix, index))


SEED_PATHS = list(paths(SPEEDSCOPE_SEED))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy: Any = list(document) if isinstance(document, list) else dict(document)
    copy[path[0]] = replaced(document[path[0]], path[1:], value)
    return copy


@st.composite
def speedscope_documents(draw: st.DrawFn) -> bytes:
    """The real py-spy file (or an evented form of it) with values replaced, removed or added."""
    document: Any = SPEEDSCOPE_SEED
    if draw(st.booleans()):
        sampled = document["profiles"][0]
        count = draw(st.integers(0, 5))
        events: list[dict[str, Any]] = []
        at = 0.0
        for stack, weight in zip(sampled["samples"][:count], sampled["weights"][:count]):
            events += [{"type": "O", "frame": f, "at": at} for f in stack]
            at += weight
            events += [{"type": "C", "frame": f, "at": at} for f in reversed(stack)]
        document = replaced(document, ("profiles",), [{"type": "evented", "name": "e", "unit": "seconds",
                                                       "startValue": 0, "endValue": at, "events": events}])
    for _ in range(draw(st.integers(1, 4))):
        places = list(paths(document)) if draw(st.booleans()) else SEED_PATHS
        path = draw(st.sampled_from(places))
        try:
            document = replaced(document, path, draw(JSON_VALUES))
        except (KeyError, IndexError, TypeError, ValueError):  # the place is gone after an earlier change
            continue
    text = json.dumps(document)  # NaN and Infinity as Python writes them (not JSON, but seen in the wild)
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-32"])))


@given(speedscope_documents())
@bounded(200)
def test_speedscope_structure_mutations_give_a_profile_or_one_line(data: bytes) -> None:
    read_or_one_line(data, "speedscope JSON")


@given(mutated_bytes(json.dumps(SPEEDSCOPE_SEED, separators=(",", ":")).encode()[:6000]))
@bounded(120)
def test_speedscope_text_mutations_give_a_profile_or_one_line(data: bytes) -> None:
    read_or_one_line(data, "speedscope text")


@given(st.integers(1, 300_000), st.sampled_from(["[", '{"a":', '{"profiles":[']))
@bounded(20)
def test_speedscope_deep_nesting_is_one_line(depth: int, opener: str) -> None:
    assert read_or_one_line((opener * depth).encode(), "speedscope JSON") is None


# ---- folded -------------------------------------------------------------------------------------

FRAME_NAMES = st.one_of(
    st.sampled_from(["main", "runtime.main", "work (app.py:12)", "x (y:99999999999)", "a b", "", " ", "(", "#"]),
    st.text(max_size=10),
)
COUNTS = st.one_of(
    st.integers(-5, 10**6).map(str), st.sampled_from(["1e999", "-1e999", "inf", "nan", "9" * 400, "1.5", "0", "+3",
                                                      "1e-400", "4 5", "1" + "0" * 5000]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@st.composite
def folded_files(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["stack", "stack", "stack", "comment", "blank", "junk"]))
        if kind == "stack":
            lines.append(";".join(draw(st.lists(FRAME_NAMES, min_size=1, max_size=6))) + " " + draw(COUNTS))
        elif kind == "comment":
            lines.append("# " + draw(st.text(max_size=20)))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "  ", "\r"])))
        else:
            lines.append(draw(st.text(max_size=30)))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-16-le", "utf-32", "utf-8-sig"]))
    data = text.encode(encoding, errors="surrogatepass")
    return draw(mutated_bytes(data)) if data and draw(st.booleans()) else data


@given(folded_files())
@bounded(300)
def test_folded_text_gives_a_profile_or_one_line(data: bytes) -> None:
    read_or_one_line(data, "folded")


# ---- every crash found so far stays found ------------------------------------------------------

@pytest.mark.parametrize("path", sorted(p for p in REGRESSIONS.glob("*") if p.suffix != ".md"), ids=lambda p: p.name)
def test_recorded_fuzz_regressions(path: Path) -> None:
    read_or_one_line(path.read_bytes(), "regressions")
