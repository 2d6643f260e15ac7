"""Go pprof profiles: gzipped profile.proto decoded into the Profile model (vectorised) and encoded back."""

from __future__ import annotations

import gzip
import zlib
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from profkit.errors import BadInput
from profkit.model import stackarrays
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
from profkit.model import Frame, Profile, ProfileKind

GZIP_MAGIC = b"\x1f\x8b"
INT64_LIMIT = float(2**63 - 1024)  # the largest float below int64's limit, with room to round

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


MAX_DECOMPRESSED_BYTES = 1 << 30  # 1 GiB: far beyond real profiles, well below a gzip bomb
MAX_EXPANSION = 200  # beyond 64 MiB, gzip that expands more than this is padding, not samples
_EXPANSION_CHECKED_FROM = 64 << 20
_CHUNK = 4 << 20


def gunzip(data: bytes, source: str, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress a gzipped profile (every member, as Go's gzip reader does) in bounded memory.

    A damaged or truncated stream, or one that would expand past ``limit`` bytes (or more than
    ``MAX_EXPANSION`` times once past 64 MiB: a gzip bomb), is BadInput naming ``source``.
    """
    out = bytearray()
    rest = data
    while True:
        decompressor = zlib.decompressobj(wbits=31)
        try:
            chunk = decompressor.decompress(rest, _CHUNK)
            while True:
                out += chunk
                _check_size(len(out), len(data), limit, source)
                if decompressor.eof or not decompressor.unconsumed_tail and not chunk:
                    break
                chunk = decompressor.decompress(decompressor.unconsumed_tail, _CHUNK)
        except zlib.error as exc:
            raise BadInput(f"{source}: damaged gzip data ({exc})") from None
        if not decompressor.eof:
            raise BadInput(f"{source}: truncated gzip data (the profile was cut off)")
        rest = decompressor.unused_data
        if not rest.strip(b"\0"):  # nothing, or zero padding after the last member
            return bytes(out)
        if rest[:2] != GZIP_MAGIC:
            raise BadInput(f"{source}: damaged gzip data (trailing bytes that are not gzip)")


def _check_size(size: int, compressed: int, limit: int, source: str) -> None:
    if size > limit:
        raise BadInput(f"{source}: gzip data expands past {limit >> 20} MiB, the limit for a profile "
                       f"(a gzip bomb or not a profile)")
    if size > _EXPANSION_CHECKED_FROM and size > MAX_EXPANSION * compressed:
        raise BadInput(f"{source}: gzip data expands more than {MAX_EXPANSION}x ({compressed} bytes to over "
                       f"{size >> 20} MiB): a gzip bomb, not a profile")


def infer_kind(sample_types: list[tuple[str, str]], default_sample_type: str = "") -> ProfileKind:
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


def parse_message(data: bytes, source: str, gzipped: bool = False) -> Any:
    """Parse (ungzipped) bytes as a profile with raw samples; BadInput when they are not one."""
    from google.protobuf.message import DecodeError

    message = message_classes().RawProfile()
    try:
        message.ParseFromString(data)
    except DecodeError:
        if gzipped:
            raise BadInput(f"{source}: gzip data that is not a pprof protobuf (or a damaged one)") from None
        raise BadInput(f"{source}: not gzip and not a pprof protobuf") from None
    strings = message.string_table
    if not message.sample_type or not strings or strings[0] != b"":
        raise BadInput(f"{source}: not a pprof profile (no sample types or string table)")
    return message


def decode_pprof(data: bytes, source: str = "profile", kind: ProfileKind | None = None,
                 sample_type: str | None = None, gzipped: bool = False) -> Profile:
    """A (gzipped or raw) pprof profile as a Profile; ``kind``/``sample_type`` pick the values.

    The result is an ArrayProfile: its stacks stay in numpy arrays until something iterates them.
    Strings that are not UTF-8 are read with U+FFFD in place of the bad bytes (pprof reads them
    as bytes). ``gzipped`` says the caller already decompressed ``data``.
    """
    if data[:2] == GZIP_MAGIC:
        data, gzipped = gunzip(data, source), True
    if not data:
        raise BadInput(f"{source}: empty profile")
    message = parse_message(data, source, gzipped)
    strings: list[str] = [raw.decode("utf-8", "replace") for raw in message.string_table]
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
    _check_ids("mapping", np.fromiter((m.id for m in message.mapping), dtype=np.uint64), source)
    _check_ids("location", locations.ids, source)
    frames, location_frames, location_offsets = _location_frames(message, strings, locations, source)
    table = _sample_table(samples, samples.values[:, chosen], location_frames, location_offsets, locations.ids,
                          source)
    extra = {"format": "pprof", "sample_types": ",".join(f"{n}/{u}" for n, u in sample_types)}
    if period_type:
        extra["period_type"] = period_type
    if comments:
        extra["comments"] = comments
    return ArrayProfile(
        table, base_total=_diff_base_total(data, strings, chosen), frames=frames,
        sample_type=sample_types[chosen][0], unit=sample_types[chosen][1], kind=profile_kind, language="go",
        start=message.time_nanos / 1e9, duration=message.duration_nanos / 1e9, period=float(message.period),
        extra=extra,
    )


def _diff_base_total(data: bytes, strings: list[str], chosen: int) -> float | None:
    """The total ``go tool pprof`` shows for a ``-diff_base`` profile: |values| of the samples labelled
    ``pprof::base=true`` (the base), or None when there are none (then all samples count)."""
    keys = {i for i, text in enumerate(strings) if text == "pprof::base"}
    if not keys:
        return None
    true = {i for i, text in enumerate(strings) if text == "true"}
    full = message_classes().Profile.FromString(data)
    total = sum(abs(sample.value[chosen]) for sample in full.sample
                if len(sample.value) > chosen and any(l.key in keys and l.str in true for l in sample.label))
    return float(total) if total > 0 else None


def _check_ids(what: str, ids: np.ndarray, source: str) -> None:
    """pprof's own checks: id 0 is reserved and ids are unique (``go tool pprof`` refuses otherwise)."""
    if ids.size and not ids.all():
        raise BadInput(f"{source}: malformed pprof: found {what} with reserved id 0")
    if ids.size > 1:
        ordered = np.sort(ids)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        if repeated.size:
            raise BadInput(f"{source}: malformed pprof: multiple {what}s with the same id {int(repeated[0])}")


def _tables(message: Any, data: bytes, value_count: int, source: str) -> tuple[RawSamples, RawLocations]:
    """Samples and locations as arrays: scanned in bulk, or message by message if the scan balks."""
    from google.protobuf.message import DecodeError

    try:
        return scan_samples(list(message.sample), value_count, data), scan_locations(list(message.location))
    except (ScanError, DecodeError):
        pass
    try:
        full = message_classes().Profile.FromString(data)
        return samples_from_messages(full.sample, value_count), locations_from_messages(full.location)
    except (DecodeError, ValueError) as exc:
        raise BadInput(f"{source}: damaged pprof samples or locations ({exc})") from None


def unsymbolized_name(mapping_file: str) -> str:
    """What ``go tool pprof -top`` calls code without symbols: ``[binary]``, or ``<unknown>``."""
    return f"[{PurePosixPath(mapping_file).name or mapping_file}]" if mapping_file else "<unknown>"


def _location_frames(message: Any, strings: list[str], locations: RawLocations,
                     source: str) -> tuple[list[Frame], np.ndarray, np.ndarray]:
    """Frames, and each location's frames leaf first (inlined calls expanded) as flat arrays.

    Frames are per function (name, file, start line), the granularity of ``go tool pprof -top``.
    A location without function information, or a function without a name, becomes a frame named
    by its binary as pprof names it (``[binary]``, all addresses of one binary together).
    """
    functions = message.function
    function_ids = np.fromiter((f.id for f in functions), dtype=np.uint64, count=len(functions))
    _check_ids("function", function_ids, source)
    by_id = np.argsort(function_ids, kind="stable")
    sorted_ids = function_ids[by_id]
    position = np.minimum(np.searchsorted(sorted_ids, locations.function_ids), max(sorted_ids.size - 1, 0))
    found = (sorted_ids[position] == locations.function_ids if sorted_ids.size
             else np.zeros(locations.function_ids.size, dtype=bool))
    line_counts = locations.line_counts
    if not found.all():
        line = int(np.flatnonzero(~found)[0])
        location = int(np.searchsorted(np.cumsum(line_counts), line, side="right"))
        raise BadInput(f"{source}: malformed pprof: location id {int(locations.ids[location])} has a line "
                       f"with unknown function id {int(locations.function_ids[line])}")
    line_row = by_id[position] if sorted_ids.size else np.zeros(0, dtype=np.int64)
    frame_index: dict[tuple[str, str, int], int] = {}
    row_frame = np.full(len(functions) + 1, -1, dtype=np.int64)
    try:
        for row in stackarrays.distinct(line_row).tolist():
            function = functions[row]
            name = strings[function.name]
            if name:
                key = (name, strings[function.filename], function.start_line)
                row_frame[row] = frame_index.setdefault(key, len(frame_index))
    except IndexError:
        raise BadInput(f"{source}: damaged pprof (a string index is out of range)") from None
    line_frame = row_frame[line_row]
    entries = np.maximum(line_counts, 1)
    offsets = np.zeros(entries.size + 1, dtype=np.int64)
    np.cumsum(entries, out=offsets[1:])
    flat = np.full(int(offsets[-1]), -1, dtype=np.int64)
    # Lines stay in file order: inlined callees first, the caller last (leaf first, like samples).
    flat[np.repeat(offsets[:-1], line_counts) + ramp(line_counts)] = line_frame
    missing = np.flatnonzero(flat < 0)
    if missing.size:
        mapping_files = {m.id: strings[m.filename] if 0 <= m.filename < len(strings) else "" for m in message.mapping}
        mapping_of_entry = locations.mapping_ids[np.repeat(np.arange(entries.size), entries)[missing]]
        mappings = stackarrays.distinct(mapping_of_entry)
        mapping_frame = np.array([
            frame_index.setdefault((unsymbolized_name(file), file, 0), len(frame_index))
            for file in (mapping_files.get(mapping_id, "") for mapping_id in mappings.tolist())
        ], dtype=np.int64)
        flat[missing] = mapping_frame[np.searchsorted(mappings, mapping_of_entry)]
    return [Frame(name, file, line) for name, file, line in frame_index], flat, offsets


def _location_rows(ids: np.ndarray, sample_ids: np.ndarray) -> np.ndarray:
    """The location row each sample location id names (-1 for ids that name no location)."""
    largest = int(ids.max()) if ids.size else 0
    if largest <= 4 * ids.size + 1024:  # dense ids, as every profiler writes them: a lookup table
        index = np.full(largest + 2, -1, dtype=np.int64)
        index[ids.astype(np.int64)] = np.arange(ids.size)
        rows: np.ndarray = index[np.minimum(sample_ids, largest + 1).astype(np.int64)]
        return rows
    order = np.argsort(ids, kind="stable")
    position = np.minimum(np.searchsorted(ids[order], sample_ids), ids.size - 1)
    return np.where(ids[order][position] == sample_ids, order[position], -1)


def _sample_table(samples: RawSamples, weights: np.ndarray, location_frames: np.ndarray,
                  location_offsets: np.ndarray, location_ids: np.ndarray, source: str) -> SampleTable:
    """The samples with a non-zero weight, as location rows."""
    counts, ids = samples.counts, samples.location_ids
    keep = weights != 0
    if not keep.all():
        ids, counts, weights = ids[np.repeat(keep, counts)], counts[keep], weights[keep]
    rows = _location_rows(location_ids, ids)
    if ids.size and int(rows.min()) < 0:
        raise BadInput(f"{source}: damaged pprof (a sample names an unknown location)")
    bounds = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return SampleTable(rows, bounds, weights.astype(np.float64), location_frames, location_offsets)


def _int64(value: float, what: str, unit: str = "") -> int:
    """``value`` rounded for a pprof int64 field; BadInput when it is not finite or does not fit."""
    if not -INT64_LIMIT < value < INT64_LIMIT:  # also NaN and infinities
        raise BadInput(f"cannot write pprof: {what} {value:g}{' ' + unit if unit else ''} is more than a pprof "
                       "value (int64) holds")
    return int(round(value))


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
        message.period = _int64(profile.period, "sampling period", profile.unit)
    functions: dict[tuple[str, str, int], int] = {}
    for position, frame in enumerate(profile.frames, start=1):
        key = (frame.name, frame.file, frame.line)
        function_id = functions.get(key)
        if function_id is None:
            function_id = functions[key] = len(functions) + 1
            message.function.add(id=function_id, name=index(frame.name), system_name=index(frame.name),
                                 filename=index(frame.file), start_line=_int64(frame.line, "line number"))
        location = message.location.add(id=position)
        location.line.add(function_id=function_id, line=_int64(frame.line, "line number"))
    for stack, weight in zip(profile.stacks, profile.weights):
        value = _int64(weight, "stack weight", profile.unit)
        values = [_int64(weight / profile.period, "sample count"), value] if cpu_like else [value]
        message.sample.add(location_id=[i + 1 for i in reversed(stack)], value=values)
    message.time_nanos = _int64(profile.start * 1e9, "start time", "nanoseconds")
    message.duration_nanos = _int64(profile.duration * 1e9, "duration", "nanoseconds")
    message.string_table.extend(text.encode("utf-8") for text in strings)
    return gzip.compress(message.SerializeToString(), compresslevel=6)
