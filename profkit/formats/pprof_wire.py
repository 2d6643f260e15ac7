"""pprof wire level: profile.proto as a run-time descriptor and a vectorised scan of raw samples.

Why a run-time descriptor rather than checked-in ``profile_pb2.py``: generated code embeds the
protoc version it came from and protobuf's runtime refuses (or warns about) gencode that is newer
than itself, so one generated file cannot serve every protobuf from 4.25 to today. A descriptor
built with ``descriptor_pb2`` and turned into classes with ``message_factory.GetMessageClass``
works on all of them, through whichever backend (upb, cpp, python) is installed. The field list
below is the one in ``profile.proto`` (shipped next to this module for humans and other tools);
a unit test checks that the two agree.

Why a raw scan of samples: decoding ``Sample`` messages through protobuf objects costs a Python
call per sample and per location id, which dominates on large profiles. The fast view
(``RawSamplesProfile``) declares ``sample`` as ``repeated bytes``, so upb hands back each sample's
encoding untouched; those bytes hold nothing but varints (tags, lengths, packed ids, values, and
label fields), so numpy can decode them all at once and walk the tags of every sample in
lock-step. Anything unexpected makes the scan return None and the caller falls back to the
per-sample protobuf path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "perftools.profiles"

# message -> (field, number, repeated, type); types are scalars or message names.
PROFILE_PROTO_FIELDS: dict[str, list[tuple[str, int, bool, str]]] = {
    "Profile": [
        ("sample_type", 1, True, "ValueType"), ("sample", 2, True, "Sample"),
        ("mapping", 3, True, "Mapping"), ("location", 4, True, "Location"),
        ("function", 5, True, "Function"), ("string_table", 6, True, "string"),
        ("drop_frames", 7, False, "int64"), ("keep_frames", 8, False, "int64"),
        ("time_nanos", 9, False, "int64"), ("duration_nanos", 10, False, "int64"),
        ("period_type", 11, False, "ValueType"), ("period", 12, False, "int64"),
        ("comment", 13, True, "int64"), ("default_sample_type", 14, False, "int64"),
        ("doc_url", 15, False, "int64"),
    ],
    "ValueType": [("type", 1, False, "int64"), ("unit", 2, False, "int64")],
    "Sample": [("location_id", 1, True, "uint64"), ("value", 2, True, "int64"), ("label", 3, True, "Label")],
    "Label": [("key", 1, False, "int64"), ("str", 2, False, "int64"), ("num", 3, False, "int64"),
              ("num_unit", 4, False, "int64")],
    "Mapping": [
        ("id", 1, False, "uint64"), ("memory_start", 2, False, "uint64"), ("memory_limit", 3, False, "uint64"),
        ("file_offset", 4, False, "uint64"), ("filename", 5, False, "int64"), ("build_id", 6, False, "int64"),
        ("has_functions", 7, False, "bool"), ("has_filenames", 8, False, "bool"),
        ("has_line_numbers", 9, False, "bool"), ("has_inline_frames", 10, False, "bool"),
    ],
    "Location": [("id", 1, False, "uint64"), ("mapping_id", 2, False, "uint64"), ("address", 3, False, "uint64"),
                 ("line", 4, True, "Line"), ("is_folded", 5, False, "bool")],
    "Line": [("function_id", 1, False, "uint64"), ("line", 2, False, "int64"), ("column", 3, False, "int64")],
    "Function": [("id", 1, False, "uint64"), ("name", 2, False, "int64"), ("system_name", 3, False, "int64"),
                 ("filename", 4, False, "int64"), ("start_line", 5, False, "int64")],
}

_FD = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"int64": _FD.TYPE_INT64, "uint64": _FD.TYPE_UINT64, "bool": _FD.TYPE_BOOL,
            "string": _FD.TYPE_STRING, "bytes": _FD.TYPE_BYTES}


class MessageClasses(NamedTuple):
    """``Profile`` (complete), ``RawSamplesProfile`` (samples left as bytes) and ``Sample``."""

    Profile: Any
    RawSamplesProfile: Any
    Sample: Any


@lru_cache(maxsize=1)
def message_classes() -> MessageClasses:
    """Build the descriptor once per process and return the two message classes."""
    file_proto = descriptor_pb2.FileDescriptorProto(name="profkit_profile.proto", package=PACKAGE, syntax="proto3")
    messages = dict(PROFILE_PROTO_FIELDS)
    messages["RawSamplesProfile"] = [
        ("sample", 2, True, "bytes") if name == "sample" else (name, number, repeated, kind)
        for name, number, repeated, kind in PROFILE_PROTO_FIELDS["Profile"]
    ]
    for message_name, fields in messages.items():
        message = file_proto.message_type.add(name=message_name)
        for name, number, repeated, kind in fields:
            field = message.field.add(name=name, number=number)
            field.label = _FD.LABEL_REPEATED if repeated else _FD.LABEL_OPTIONAL
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type = _FD.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)

    def make(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))

    return MessageClasses(make("Profile"), make("RawSamplesProfile"), make("Sample"))


class RawSamples(NamedTuple):
    """Samples as flat arrays: location ids leaf first, with per-sample counts and a value matrix."""

    location_ids: np.ndarray  # uint64, all samples back to back
    counts: np.ndarray  # int64, location ids per sample
    values: np.ndarray  # int64, shape (samples, value types)


def _decode_varints(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Every varint in ``buf``: (value, first byte, last byte); None if ``buf`` is not all varints."""
    ends = np.flatnonzero(buf < 0x80)
    if ends.size == 0 or ends[-1] != buf.size - 1:
        return None
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    sizes = ends - starts + 1
    longest = int(sizes.max())
    if longest > 10:
        return None
    values = (buf[starts] & 0x7F).astype(np.uint64)
    for k in range(1, longest):
        longer = np.flatnonzero(sizes > k)
        values[longer] |= (buf[starts[longer] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    return values, starts, ends


def _field_elements(
    field: int, tags: np.ndarray, wire_types: np.ndarray, numbers: np.ndarray, next_tag: np.ndarray, count: int
) -> np.ndarray:
    """Mask of varints holding the elements of repeated scalar ``field`` (packed or not)."""
    packed = tags[(numbers == field) & (wire_types == 2)]
    single = tags[(numbers == field) & (wire_types == 0)]
    edges = np.zeros(count + 1, dtype=np.int32)
    edges[packed + 2] += 1
    edges[next_tag[packed]] -= 1
    mask = np.cumsum(edges[:-1], dtype=np.int32) > 0
    mask[single + 1] = True
    return mask


def scan_samples(raw: list[bytes], value_count: int) -> RawSamples | None:
    """Decode raw ``Sample`` encodings all at once; None when they hold anything unexpected."""
    sample_count = len(raw)
    sizes = np.fromiter(map(len, raw), dtype=np.int64, count=sample_count)
    buf = np.frombuffer(b"".join(raw), dtype=np.uint8)
    if buf.size == 0:
        return None
    decoded = _decode_varints(buf)
    if decoded is None:
        return None
    values, starts, ends = decoded
    count = values.size
    varint_at_byte = np.full(buf.size + 1, -1, dtype=np.int64)
    varint_at_byte[starts] = np.arange(count)
    varint_at_byte[buf.size] = count
    sample_start_byte = np.zeros(sample_count + 1, dtype=np.int64)
    np.cumsum(sizes, out=sample_start_byte[1:])
    first = varint_at_byte[sample_start_byte]
    if (first < 0).any():
        return None
    # Where the next tag would be if varint i were a tag: after one varint (wire type 0) or after
    # a length and that many bytes (wire type 2). Other wire types never occur in samples.
    wire_types = (values & np.uint64(7)).astype(np.int8)
    numbers = (values >> np.uint64(3)).astype(np.int64)
    next_tag = np.full(count, -1, dtype=np.int64)
    index = np.arange(count - 1)
    next_tag[:-1] = np.where(wire_types[:-1] == 0, index + 2, -1)
    length_delimited = np.flatnonzero(wire_types[:-1] == 2)
    target = ends[length_delimited + 1] + 1 + values[length_delimited + 1].astype(np.int64)
    target = np.where((target >= 0) & (target <= buf.size), target, buf.size + 1)
    padded = np.append(varint_at_byte, -1)
    next_tag[length_delimited] = padded[target]
    # Walk the tags of all samples in lock-step, one tag per sample per step.
    sample_end = first[1:]
    current = first[:-1]
    active = np.flatnonzero(current < sample_end)
    current = current[active]
    tag_chunks: list[np.ndarray] = []
    while current.size:
        tag_chunks.append(current)
        following = next_tag[current]
        end = sample_end[active]
        if ((following < 0) | (following > end)).any():
            return None
        keep = following < end
        active, current = active[keep], following[keep]
    tags = np.concatenate(tag_chunks) if tag_chunks else np.zeros(0, dtype=np.int64)
    tag_wire_types, tag_numbers = wire_types[tags], numbers[tags]
    if not np.isin(tag_wire_types, (0, 2)).all():
        return None
    sample_of_varint = np.repeat(np.arange(sample_count), np.diff(first))
    location_mask = _field_elements(1, tags, tag_wire_types, tag_numbers, next_tag, count)
    value_mask = _field_elements(2, tags, tag_wire_types, tag_numbers, next_tag, count)
    value_counts = np.bincount(sample_of_varint[value_mask], minlength=sample_count)
    if (value_counts != value_count).any():
        return None
    return RawSamples(
        location_ids=values[location_mask],
        counts=np.bincount(sample_of_varint[location_mask], minlength=sample_count).astype(np.int64),
        values=values[value_mask].view(np.int64).reshape(sample_count, value_count),
    )


def samples_from_messages(samples: Any, value_count: int) -> RawSamples:
    """The slow, always-correct path: read ``Sample`` messages one by one."""
    counts = np.fromiter((len(s.location_id) for s in samples), dtype=np.int64, count=len(samples))
    location_ids = np.fromiter(
        (i for s in samples for i in s.location_id), dtype=np.uint64, count=int(counts.sum())
    )
    rows = [list(s.value) for s in samples]
    if any(len(row) != value_count for row in rows):
        raise ValueError(f"a sample does not have {value_count} values, one per sample type")
    values = np.array(rows, dtype=np.int64).reshape(len(rows), value_count)
    return RawSamples(location_ids, counts, values)
