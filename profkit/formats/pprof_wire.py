"""pprof wire level: profile.proto as a run-time descriptor, and samples and locations as flat arrays.

Why a run-time descriptor rather than checked-in ``profile_pb2.py``: generated code embeds the
protoc version it came from and protobuf's runtime refuses (or warns about) gencode that is newer
than itself, so one generated file cannot serve every protobuf from 4.25 to today. A descriptor
built with ``descriptor_pb2`` and turned into classes with ``message_factory.GetMessageClass``
works on all of them, through whichever backend (upb, cpp, python) is installed. The field list
below is the one in ``profile.proto`` (shipped next to this module for humans and other tools);
a unit test checks that the two agree.

Why raw samples and locations: reading ``Sample`` and ``Location`` messages through protobuf
objects costs Python calls per sample, location and line, which dominates on large profiles.
The fast view (``RawProfile``) declares both as ``repeated bytes``, so upb hands back their
encodings untouched, and ``pprof_scan`` decodes them all at once with numpy. Anything unexpected
raises ScanError and the caller falls back to the message-by-message path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from profkit.formats.pprof_scan import (
    ScanError,
    leading_field_counts,
    message_bounds,
    repeated_varints,
    singular_varint,
    walk,
)

__all__ = ["ScanError", "message_classes", "scan_locations", "scan_samples"]

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
    """``Profile`` (complete), ``RawProfile`` (samples and locations left as bytes) and
    ``MergedSamples`` (every sample merged into one, so upb concatenates all their location ids
    and values into two flat arrays)."""

    Profile: Any
    RawProfile: Any
    MergedSamples: Any


@lru_cache(maxsize=1)
def message_classes() -> MessageClasses:
    """Build the descriptor once per process and return the message classes (strings as bytes)."""
    file_proto = descriptor_pb2.FileDescriptorProto(name="profkit_profile.proto", package=PACKAGE, syntax="proto3")
    messages = dict(PROFILE_PROTO_FIELDS)
    messages["RawProfile"] = [
        (name, number, True, "bytes") if name in ("sample", "location") else (name, number, repeated, kind)
        for name, number, repeated, kind in PROFILE_PROTO_FIELDS["Profile"]
    ]
    messages["MergedSamples"] = [("sample", 2, False, "Sample")]
    for message_name, fields in messages.items():
        message = file_proto.message_type.add(name=message_name)
        for name, number, repeated, kind in fields:
            field = message.field.add(name=name, number=number)
            field.label = _FD.LABEL_REPEATED if repeated else _FD.LABEL_OPTIONAL
            if kind in _SCALARS:
                # Strings as bytes: protobuf refuses invalid UTF-8 in ``string`` fields, pprof reads it.
                field.type = _SCALARS["bytes" if kind == "string" else kind]
            else:
                field.type = _FD.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)

    def make(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))

    return MessageClasses(make("Profile"), make("RawProfile"), make("MergedSamples"))


class RawSamples(NamedTuple):
    """Samples as flat arrays: location ids leaf first, with per-sample counts and a value matrix."""

    location_ids: np.ndarray  # uint64, all samples back to back
    counts: np.ndarray  # int64, location ids per sample
    values: np.ndarray  # int64, shape (samples, value types)


class RawLocations(NamedTuple):
    """Locations as flat arrays; their lines (inlined calls first, caller last) back to back."""

    ids: np.ndarray  # uint64 per location
    addresses: np.ndarray  # uint64 per location
    mapping_ids: np.ndarray  # uint64 per location
    line_counts: np.ndarray  # int64 per location
    function_ids: np.ndarray  # uint64 per line


def scan_samples(pieces: list[bytes], value_count: int, data: bytes | None = None) -> RawSamples:
    """Decode the raw encodings of all samples at once (raises ScanError on anything odd).

    With the whole profile's ``data``, upb decodes the ids and values (through the merged view)
    and only the number of ids per sample is read from the raw encodings, as Go writes them
    (location ids first); a total that does not add up falls back to walking every field.
    """
    varints, begin, end = message_bounds(pieces)
    if data is not None:
        merged = message_classes().MergedSamples.FromString(data).sample
        location_ids = np.array(merged.location_id, dtype=np.uint64)
        values = np.array(merged.value, dtype=np.int64)
        counts = leading_field_counts(varints, begin, end, 1)
        if int(counts.sum()) == location_ids.size and values.size == len(pieces) * value_count:
            return RawSamples(location_ids, counts, values.reshape(len(pieces), value_count))
    fields = walk(varints, begin, end)
    location_ids, counts = repeated_varints(varints, fields, 1, len(pieces))
    values, value_counts = repeated_varints(varints, fields, 2, len(pieces))
    if (value_counts != value_count).any():
        raise ScanError(f"a sample does not have {value_count} values, one per sample type")
    return RawSamples(location_ids, counts, values.view(np.int64).reshape(len(pieces), value_count))


def scan_locations(pieces: list[bytes]) -> RawLocations:
    """Decode the raw encodings of all locations, and their lines, at once."""
    varints, begin, end = message_bounds(pieces)
    fields = walk(varints, begin, end)
    count = len(pieces)
    lines = fields.select(4, 2)
    line_fields = walk(varints, lines.start, lines.stop)
    return RawLocations(
        ids=singular_varint(fields, 1, count),
        addresses=singular_varint(fields, 3, count),
        mapping_ids=singular_varint(fields, 2, count),
        line_counts=np.bincount(lines.message, minlength=count).astype(np.int64),
        function_ids=singular_varint(line_fields, 1, lines.message.size),
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


def locations_from_messages(locations: Any) -> RawLocations:
    """The slow, always-correct path: read ``Location`` messages one by one."""
    return RawLocations(
        ids=np.array([loc.id for loc in locations], dtype=np.uint64),
        addresses=np.array([loc.address for loc in locations], dtype=np.uint64),
        mapping_ids=np.array([loc.mapping_id for loc in locations], dtype=np.uint64),
        line_counts=np.array([len(loc.line) for loc in locations], dtype=np.int64),
        function_ids=np.array([line.function_id for loc in locations for line in loc.line], dtype=np.uint64),
    )
