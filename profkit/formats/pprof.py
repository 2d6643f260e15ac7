"""Go pprof profiles: gzipped profile.proto decoded into the Profile model (vectorised) and encoded back."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import numpy as np

from profkit.errors import BadInput
from profkit.formats import stackarrays
from profkit.formats.pprof_wire import RawSamples, message_classes, samples_from_messages, scan_samples
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

    message = message_classes().RawSamplesProfile()
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
    """A (gzipped or raw) pprof profile as a Profile; ``kind``/``sample_type`` pick the values."""
    if data[:2] == GZIP_MAGIC:
        data = gunzip(data, source)
    if not data:
        raise BadInput(f"{source}: empty profile")
    message = parse_message(data, source)
    strings: list[str] = list(message.string_table)

    def text(index: int) -> str:
        if not 0 <= index < len(strings):
            raise BadInput(f"{source}: damaged pprof (string index {index} out of range)")
        return strings[index]

    sample_types = [(text(v.type), text(v.unit)) for v in message.sample_type]
    default_type = text(message.default_sample_type)
    profile_kind = kind or infer_kind(sample_types, default_type)
    chosen = choose_sample_type(sample_types, profile_kind, sample_type, default_type, source)
    frames, location_frames, location_offsets, location_index = _locations(message, strings, source)
    samples = _samples(message, len(sample_types), source)
    arrays = _stacks(samples, samples.values[:, chosen], location_frames, location_offsets, location_index, source)
    profile = Profile(
        frames=frames, stacks=[], weights=[],
        sample_type=sample_types[chosen][0], unit=sample_types[chosen][1], kind=profile_kind, language="go",
        start=message.time_nanos / 1e9, duration=message.duration_nanos / 1e9, period=float(message.period),
        extra={"format": "pprof", "sample_types": ",".join(f"{n}/{u}" for n, u in sample_types)},
    )
    if message.HasField("period_type"):
        profile.extra["period_type"] = f"{text(message.period_type.type)}/{text(message.period_type.unit)}"
    if message.comment:
        profile.extra["comments"] = "; ".join(text(c) for c in message.comment)
    profile.stacks = arrays.to_tuples()
    profile.weights = arrays.weights.tolist()
    stackarrays.attach(profile, arrays)
    return profile


def _locations(message: Any, strings: list[str], source: str) -> tuple[list[Frame], np.ndarray, np.ndarray, np.ndarray]:
    """Frames, and per location its frames root first (inlined frames expanded) as flat arrays.

    Returns (frames, location_frames, location_offsets, location_index) where location_index maps
    a location id to its row (-1 for unknown ids). Frames are per function (name, file, start
    line), the granularity of ``go tool pprof -top``.
    """
    frame_index: dict[tuple[str, str, int], int] = {}

    def intern(name: str, file: str = "", line: int = 0) -> int:
        return frame_index.setdefault((name, file, line), len(frame_index))

    try:
        functions = {f.id: (strings[f.name], strings[f.filename], f.start_line) for f in message.function}
        mapping_files = {m.id: strings[m.filename] for m in message.mapping}
    except IndexError:
        raise BadInput(f"{source}: damaged pprof (a string index is out of range)") from None
    function_frames: dict[int, int] = {}

    def function_frame(function_id: int, location: Any) -> int:
        index = function_frames.get(function_id)
        if index is None:
            function = functions.get(function_id)
            if function is None:
                return intern(f"0x{location.address:x}")
            index = function_frames[function_id] = intern(*function)
        return index

    per_location: list[list[int]] = []
    ids: list[int] = []
    for location in message.location:
        ids.append(location.id)
        lines = location.line
        if len(lines) == 1:
            per_location.append([function_frame(lines[0].function_id, location)])
        elif not lines:
            per_location.append([intern(f"0x{location.address:x}", mapping_files.get(location.mapping_id, ""))])
        else:
            # Several lines are inlined calls, the last one the caller: root first means reversed.
            per_location.append([function_frame(line.function_id, location) for line in reversed(lines)])
    frames = [Frame(name, file, line) for name, file, line in frame_index]
    counts = np.fromiter(map(len, per_location), dtype=np.int64, count=len(per_location))
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = np.fromiter((i for row in per_location for i in row), dtype=np.int64, count=int(offsets[-1]))
    id_array = np.array(ids, dtype=np.uint64)
    largest = int(id_array.max()) if id_array.size else 0
    if largest > 4 * id_array.size + 1024:
        raise BadInput(f"{source}: location ids are too sparse for a pprof profile (largest {largest})")
    location_index = np.full(largest + 2, -1, dtype=np.int64)
    location_index[id_array.astype(np.int64)] = np.arange(id_array.size)
    return frames, flat, offsets, location_index


def _samples(message: Any, value_count: int, source: str) -> RawSamples:
    raw = list(message.sample)
    if not raw:
        empty = np.zeros(0, dtype=np.int64)
        return RawSamples(empty.astype(np.uint64), empty, np.zeros((0, value_count), dtype=np.int64))
    scanned = scan_samples(raw, value_count)
    if scanned is not None:
        return scanned
    from google.protobuf.message import DecodeError

    sample_class = message_classes().Sample
    messages = []
    try:
        for encoded in raw:
            sample = sample_class()
            sample.ParseFromString(encoded)
            messages.append(sample)
        return samples_from_messages(messages, value_count)
    except (DecodeError, ValueError) as exc:
        raise BadInput(f"{source}: damaged pprof samples ({exc})") from None


def _stacks(samples: RawSamples, weights: np.ndarray, location_frames: np.ndarray, location_offsets: np.ndarray,
            location_index: np.ndarray, source: str) -> stackarrays.StackArrays:
    """Root-first frame stacks of the samples with a non-zero weight, identical stacks merged."""
    keep = weights != 0
    counts = samples.counts
    starts = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    if not keep.all():
        element_keep = np.repeat(keep, counts)
        ids, counts, weights = samples.location_ids[element_keep], counts[keep], weights[keep]
        starts = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
    else:
        ids = samples.location_ids
    if ids.size and int(ids.max()) >= location_index.size - 1:
        raise BadInput(f"{source}: damaged pprof (a sample names an unknown location)")
    rows = location_index[ids.astype(np.int64)]
    if (rows < 0).any():
        raise BadInput(f"{source}: damaged pprof (a sample names an unknown location)")
    # Samples list locations leaf first; reverse each sample in place: j -> 2*start + count - 1 - j.
    sample_of = np.repeat(np.arange(counts.size), counts)
    reversed_rows = rows[2 * starts[sample_of] + counts[sample_of] - 1 - np.arange(rows.size)]
    per_location = np.diff(location_offsets)
    if (per_location == 1).all():
        frames, lengths = location_frames[reversed_rows], counts
    else:
        sizes = per_location[reversed_rows]
        total = int(sizes.sum())
        begin = np.zeros(sizes.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=begin[1:])
        within = np.arange(total) - np.repeat(begin[:-1], sizes)
        frames = location_frames[np.repeat(location_offsets[reversed_rows], sizes) + within]
        lengths = np.bincount(sample_of, weights=sizes, minlength=counts.size).astype(np.int64)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return stackarrays.aggregate(stackarrays.StackArrays(frames, offsets, weights.astype(np.float64)))


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
