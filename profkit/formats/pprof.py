"""Go pprof profiles: gzipped profile.proto decoded into the Profile model (vectorised) and encoded back."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import numpy as np

from profkit.errors import BadInput
from profkit.formats import stackarrays
from profkit.formats.arrayprofile import ArrayProfile, SampleTable
from profkit.formats.pprof_scan import ScanError, ramp
from profkit.formats.pprof_wire import (
    RawLocations,
    RawSamples,
    locations_from_messages,
    message_classes,
    samples_from_messages,
    scan_locations,
    scan_samples,
)
from profkit.model import Frame, Profile

GZIP_MAGIC = b"\x1f\x8b"

# Which sample type each profile kind shows by default, in order of preference.
PREFERRED_SAMPLE_TYPES = {
    "cpu": ("cpu", "samples"),
    "wall": ("wall", "cpu", "samples"),
    "heap": ("inuse_space", "inuse_objects"),
    "allocs": ("alloc_space", "alloc_objects"),
    "goroutine": ("goroutine", "count"),
    "mutex": ("delay", "contentions"),
    "block": ("delay", "contentions"),
}


def gunzip(data: bytes, source: str) -> bytes:
    """Decompress a gzipped profile; a damaged stream is BadInput naming ``source``."""
    try:
        return gzip.decompress(data)
    except EOFError:
        raise BadInput(f"{source}: truncated gzip data (the profile was cut off)") from None
    except (OSError, zlib.error) as exc:
        raise BadInput(f"{source}: damaged gzip data ({exc})") from None


def infer_kind(sample_types: list[tuple[str, str]], default_sample_type: str = "") -> str:
    """Profile kind from its sample types, as Go's runtime/pprof writes them."""
    types = {name for name, _ in sample_types}
    if "cpu" in types:
        return "cpu"
    if "wall" in types:
        return "wall"
    if "inuse_space" in types or "alloc_space" in types:
        return "allocs" if default_sample_type in ("alloc_space", "alloc_objects") else "heap"
    if "goroutine" in types:
        return "goroutine"
    if "contentions" in types or "delay" in types:
        return "mutex" if default_sample_type == "contentions" else "block"
    return "cpu" if "samples" in types else "unknown"


def choose_sample_type(
    sample_types: list[tuple[str, str]], kind: str, wanted: str | None, default_sample_type: str, source: str
) -> int:
    """Index of the sample type to use: the one asked for, else the kind's preferred one."""
    names = [name for name, _ in sample_types]
    if wanted:
        if wanted not in names:
            raise BadInput(f"{source}: no sample type {wanted!r} (it has {', '.join(names)})")
        return names.index(wanted)
    for name in PREFERRED_SAMPLE_TYPES.get(kind, ()):
        if name in names:
            return names.index(name)
    if default_sample_type in names:
        return names.index(default_sample_type)
    return len(names) - 1  # pprof's own default: the last sample type


def parse_message(data: bytes, source: str) -> Any:
    """Parse (ungzipped) bytes as a profile with raw samples; BadInput when they are not one."""
    from google.protobuf.message import DecodeError

    message = message_classes().RawProfile()
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise BadInput(f"{source}: not gzip and not a pprof protobuf") from None
    strings = message.string_table
    if not message.sample_type or not strings or strings[0] != "":
        raise BadInput(f"{source}: not a pprof profile (no sample types or string table)")
    return message


def decode_pprof(data: bytes, source: str = "profile", kind: str | None = None,
                 sample_type: str | None = None) -> Profile:
    """A (gzipped or raw) pprof profile as a Profile; ``kind``/``sample_type`` pick the values.

    The result is an ArrayProfile: its stacks stay in numpy arrays until something iterates them.
    """
    if data[:2] == GZIP_MAGIC:
        data = gunzip(data, source)
    if not data:
        raise BadInput(f"{source}: empty profile")
    message = parse_message(data, source)
    strings: list[str] = list(message.string_table)
    try:
        sample_types = [(strings[v.type], strings[v.unit]) for v in message.sample_type]
        default_type = strings[message.default_sample_type]
        period_type = (f"{strings[message.period_type.type]}/{strings[message.period_type.unit]}"
                       if message.HasField("period_type") else "")
        comments = "; ".join(strings[c] for c in message.comment)
    except IndexError:
        raise BadInput(f"{source}: damaged pprof (a string index is out of range)") from None
    profile_kind = kind or infer_kind(sample_types, default_type)
    chosen = choose_sample_type(sample_types, profile_kind, sample_type, default_type, source)
    samples, locations = _tables(message, data, len(sample_types), source)
    frames, location_frames, location_offsets = _location_frames(message, strings, locations, source)
    location_index = _location_index(locations.ids, source)
    table = _sample_table(samples, samples.values[:, chosen], location_frames, location_offsets, location_index, source)
    extra = {"format": "pprof", "sample_types": ",".join(f"{n}/{u}" for n, u in sample_types)}
    if period_type:
        extra["period_type"] = period_type
    if comments:
        extra["comments"] = comments
    return ArrayProfile(
        table, frames=frames,
        sample_type=sample_types[chosen][0], unit=sample_types[chosen][1], kind=profile_kind, language="go",
        start=message.time_nanos / 1e9, duration=message.duration_nanos / 1e9, period=float(message.period),
        extra=extra,
    )


def _tables(message: Any, data: bytes, value_count: int, source: str) -> tuple[RawSamples, RawLocations]:
    """Samples and locations as arrays: scanned in bulk, or message by message if the scan balks."""
    try:
        return scan_samples(list(message.sample), value_count, data), scan_locations(list(message.location))
    except ScanError:
        pass
    from google.protobuf.message import DecodeError

    try:
        full = message_classes().Profile.FromString(data)
        return samples_from_messages(full.sample, value_count), locations_from_messages(full.location)
    except (DecodeError, ValueError) as exc:
        raise BadInput(f"{source}: damaged pprof samples or locations ({exc})") from None


def _location_frames(message: Any, strings: list[str], locations: RawLocations,
                     source: str) -> tuple[list[Frame], np.ndarray, np.ndarray]:
    """Frames, and each location's frames leaf first (inlined calls expanded) as flat arrays.

    Frames are per function (name, file, start line), the granularity of ``go tool pprof -top``;
    a location without function information becomes a frame named by its address.
    """
    functions = message.function
    function_ids = np.fromiter((f.id for f in functions), dtype=np.uint64, count=len(functions))
    by_id = np.argsort(function_ids, kind="stable")
    sorted_ids = function_ids[by_id]
    position = np.minimum(np.searchsorted(sorted_ids, locations.function_ids), max(sorted_ids.size - 1, 0))
    found = sorted_ids[position] == locations.function_ids if sorted_ids.size else np.zeros(0, dtype=bool)
    line_row = np.where(found, by_id[position] if sorted_ids.size else 0, -1)
    frame_index: dict[tuple[str, str, int], int] = {}
    row_frame = np.full(len(functions) + 1, -1, dtype=np.int64)
    try:
        for row in stackarrays.distinct(line_row[line_row >= 0]).tolist():
            function = functions[row]
            key = (strings[function.name], strings[function.filename], function.start_line)
            row_frame[row] = frame_index.setdefault(key, len(frame_index))
    except IndexError:
        raise BadInput(f"{source}: damaged pprof (a string index is out of range)") from None
    line_frame = row_frame[line_row]
    line_counts = locations.line_counts
    entries = np.maximum(line_counts, 1)
    offsets = np.zeros(entries.size + 1, dtype=np.int64)
    np.cumsum(entries, out=offsets[1:])
    flat = np.full(int(offsets[-1]), -1, dtype=np.int64)
    # Lines stay in file order: inlined callees first, the caller last (leaf first, like samples).
    flat[np.repeat(offsets[:-1], line_counts) + ramp(line_counts)] = line_frame
    missing = np.flatnonzero(flat < 0)
    if missing.size:
        mapping_files = {m.id: strings[m.filename] if 0 <= m.filename < len(strings) else "" for m in message.mapping}
        location_of_entry = np.repeat(np.arange(entries.size), entries)[missing]
        for entry, location in zip(missing.tolist(), location_of_entry.tolist()):
            file = mapping_files.get(int(locations.mapping_ids[location]), "") if not line_counts[location] else ""
            key = (f"0x{int(locations.addresses[location]):x}", file, 0)
            flat[entry] = frame_index.setdefault(key, len(frame_index))
    return [Frame(name, file, line) for name, file, line in frame_index], flat, offsets


def _location_index(ids: np.ndarray, source: str) -> np.ndarray:
    """Lookup table from location id to location row (-1 for ids that name no location)."""
    largest = int(ids.max()) if ids.size else 0
    if largest > 4 * ids.size + 1024:
        raise BadInput(f"{source}: location ids are too sparse for a pprof profile (largest {largest})")
    index = np.full(largest + 2, -1, dtype=np.int64)
    index[ids.astype(np.int64)] = np.arange(ids.size)
    return index


def _sample_table(samples: RawSamples, weights: np.ndarray, location_frames: np.ndarray,
                  location_offsets: np.ndarray, location_index: np.ndarray, source: str) -> SampleTable:
    """The samples with a non-zero weight, as location rows."""
    counts, ids = samples.counts, samples.location_ids
    keep = weights != 0
    if not keep.all():
        ids, counts, weights = ids[np.repeat(keep, counts)], counts[keep], weights[keep]
    if ids.size and int(ids.max()) >= location_index.size - 1:
        raise BadInput(f"{source}: damaged pprof (a sample names an unknown location)")
    rows = location_index[ids.view(np.int64)]  # ids are below location_index.size here
    if ids.size and int(rows.min()) < 0:
        raise BadInput(f"{source}: damaged pprof (a sample names an unknown location)")
    bounds = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return SampleTable(rows, bounds, weights.astype(np.float64), location_frames, location_offsets)


def encode_pprof(profile: Profile) -> bytes:
    """``profile`` as a gzipped pprof that ``go tool pprof`` reads (one location per frame)."""
    message = message_classes().Profile()
    strings: dict[str, int] = {"": 0}

    def index(value: str) -> int:
        return strings.setdefault(value, len(strings))

    cpu_like = profile.unit == "nanoseconds" and profile.period > 0 and profile.kind in ("cpu", "wall")
    if cpu_like:
        message.sample_type.add(type=index("samples"), unit=index("count"))
    message.sample_type.add(type=index(profile.sample_type), unit=index(profile.unit))
    if profile.period:
        message.period_type.type = index(profile.sample_type)
        message.period_type.unit = index(profile.unit)
        message.period = int(profile.period)
    functions: dict[tuple[str, str, int], int] = {}
    for position, frame in enumerate(profile.frames, start=1):
        key = (frame.name, frame.file, frame.line)
        function_id = functions.get(key)
        if function_id is None:
            function_id = functions[key] = len(functions) + 1
            message.function.add(id=function_id, name=index(frame.name), system_name=index(frame.name),
                                 filename=index(frame.file), start_line=frame.line)
        location = message.location.add(id=position)
        location.line.add(function_id=function_id, line=frame.line)
    for stack, weight in zip(profile.stacks, profile.weights):
        value = int(round(weight))
        values = [int(round(weight / profile.period)), value] if cpu_like else [value]
        message.sample.add(location_id=[i + 1 for i in reversed(stack)], value=values)
    message.time_nanos = int(profile.start * 1e9)
    message.duration_nanos = int(profile.duration * 1e9)
    message.string_table.extend(strings)
    return gzip.compress(message.SerializeToString(), compresslevel=6)
