"""Vectorised protobuf decoding of many small messages at once (pprof samples, locations, lines) with numpy.

upb hands the raw encodings of ``Sample`` and ``Location`` messages over as bytes (see
``pprof_wire``). They hold only varints, so every byte below 0x80 ends one. The walker steps
through the fields of all messages in lock-step (one field per message per step, a handful of
steps), decoding tags and lengths only at the current positions; packed payloads are then
decoded in bulk. Anything that is not well-formed raises ``ScanError`` so the caller can fall
back to protobuf's own decoding, which reports the damage.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ScanError(ValueError):
    """The bytes are not the well-formed, varint-only messages this scanner handles."""


class VarintBuffer:
    """Concatenated message encodings; ``ends`` (bytes that end a varint) is found on first use."""

    def __init__(self, data: bytes) -> None:
        self.buf = np.frombuffer(data, dtype=np.uint8)
        self._ends: np.ndarray | None = None

    @property
    def ends(self) -> np.ndarray:
        if self._ends is None:
            self._ends = np.flatnonzero(self.buf < 0x80)
        return self._ends

    def decode_at(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Varints starting at ``positions`` (a few per message): (values, position after each)."""
        if positions.size and int(positions.max()) >= self.buf.size:
            raise ScanError("a varint starts past the end of the data")
        byte = self.buf[positions]
        values = (byte & 0x7F).astype(np.uint64)
        after = positions + 1
        longer = np.flatnonzero(byte >= 0x80)
        shift = 7
        while longer.size:
            if shift >= 70 or int(after[longer].max()) >= self.buf.size:
                raise ScanError("a varint runs past the end of the data or beyond ten bytes")
            byte = self.buf[after[longer]]
            values[longer] |= (byte & 0x7F).astype(np.uint64) << np.uint64(shift)
            after[longer] += 1
            longer = longer[byte >= 0x80]
            shift += 7
        return values, after

    def count_varints(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """How many varints end in each byte range ``[start[i], stop[i])`` (packed payload sizes)."""
        counts: np.ndarray = np.searchsorted(self.ends, stop) - np.searchsorted(self.ends, start)
        return counts

    def decode_ending(self, index: np.ndarray) -> np.ndarray:
        """The varints whose last byte is ``ends[index]`` (bulk: packed ids and values)."""
        last = self.ends[index]
        first = np.where(index > 0, self.ends[np.maximum(index - 1, 0)] + 1, 0)
        sizes = last - first + 1
        values: np.ndarray = self.buf[last].astype(np.uint64)
        longest = int(sizes.max()) if sizes.size else 0
        for k in range(1, min(longest, 10)):
            byte = (self.buf[np.maximum(last - k, 0)] & 0x7F).astype(np.uint64)
            values = np.where(sizes > k, (values << np.uint64(7)) | byte, values)
        if longest > 10:
            raise ScanError("a varint is longer than ten bytes")
        return values


class Fields(NamedTuple):
    """Every field of every message, messages in order and fields in order within each message."""

    message: np.ndarray  # which message the field belongs to
    number: np.ndarray  # field number
    wire_type: np.ndarray
    value: np.ndarray  # uint64 value (wire type 0)
    start: np.ndarray  # payload [start, stop) in bytes (wire type 2)
    stop: np.ndarray

    def select(self, number: int, wire_type: int) -> Fields:
        keep = (self.number == number) & (self.wire_type == wire_type)
        return Fields(*(column[keep] for column in self))


def walk(varints: VarintBuffer, begin: np.ndarray, end: np.ndarray) -> Fields:
    """The fields of the messages occupying bytes ``[begin[i], end[i])``."""
    columns: list[list[np.ndarray]] = [[] for _ in Fields._fields]
    active = np.flatnonzero(begin < end)
    position = begin[active]
    while active.size:
        tag, after_tag = varints.decode_at(position)
        wire_type = (tag & np.uint64(7)).astype(np.int64)
        number = (tag >> np.uint64(3)).astype(np.int64)
        value = np.zeros(active.size, dtype=np.uint64)
        start = np.zeros(active.size, dtype=np.int64)
        stop = np.zeros(active.size, dtype=np.int64)
        following = np.full(active.size, -1, dtype=np.int64)
        plain = np.flatnonzero(wire_type == 0)
        if plain.size:
            value[plain], following[plain] = varints.decode_at(after_tag[plain])
        delimited = np.flatnonzero(wire_type == 2)
        if delimited.size:
            length, start[delimited] = varints.decode_at(after_tag[delimited])
            stop[delimited] = start[delimited] + length.astype(np.int64)
            following[delimited] = stop[delimited]
        for fixed, width in ((1, 8), (5, 4)):
            chosen = np.flatnonzero(wire_type == fixed)
            following[chosen] = after_tag[chosen] + width
        limit = end[active]
        if ((following < 0) | (following > limit) | (number == 0)).any():
            raise ScanError("a field runs past its message or has a bad tag")
        for column, data in zip(columns, (active, number, wire_type, value, start, stop)):
            column.append(data)
        more = following < limit
        active, position = active[more], following[more]
    if not columns[0]:
        empty = np.zeros(0, dtype=np.int64)
        return Fields(empty, empty, empty, empty.astype(np.uint64), empty, empty)
    joined = [np.concatenate(column) for column in columns]
    order = np.argsort(joined[0], kind="stable")  # by message; steps keep field order within one
    return Fields(*(column[order] for column in joined))


def repeated_varints(varints: VarintBuffer, fields: Fields, number: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeated varint field ``number`` of ``count`` messages, packed or not: (values, per-message counts).

    Pieces (a packed run, or one unpacked value) are taken in message order and, within a
    message, in the order they appear, as protobuf concatenates them.
    """
    keep = (fields.number == number) & ((fields.wire_type == 0) | (fields.wire_type == 2))
    message, wire_type = fields.message[keep], fields.wire_type[keep]
    packed = wire_type == 2
    payload_start, payload_stop = fields.start[keep][packed], fields.stop[keep][packed]
    first = np.searchsorted(varints.ends, payload_start)
    stop = np.searchsorted(varints.ends, payload_stop)
    nonempty = stop > first
    if ((~nonempty) & (payload_stop > payload_start)).any() or \
            (varints.ends[stop[nonempty] - 1] != payload_stop[nonempty] - 1).any():
        raise ScanError("a packed field ends inside a varint")
    piece_sizes = np.ones(message.size, dtype=np.int64)
    piece_sizes[packed] = stop - first
    offsets = np.zeros(message.size + 1, dtype=np.int64)
    np.cumsum(piece_sizes, out=offsets[1:])
    runs = piece_sizes[packed]
    steps = ramp(runs)
    if packed.all():
        values = varints.decode_ending(np.repeat(first, runs) + steps)
    else:
        values = np.zeros(int(offsets[-1]), dtype=np.uint64)
        values[np.repeat(offsets[:-1][packed], runs) + steps] = varints.decode_ending(np.repeat(first, runs) + steps)
        values[offsets[:-1][~packed]] = fields.value[keep][~packed]
    counts = np.bincount(message, weights=piece_sizes, minlength=count).astype(np.int64)
    return values, counts


def ramp(sizes: np.ndarray) -> np.ndarray:
    """0..n-1 for each size n, concatenated."""
    offsets = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return np.arange(int(offsets[-1])) - np.repeat(offsets[:-1], sizes)


def singular_varint(fields: Fields, number: int, count: int) -> np.ndarray:
    """Optional varint field ``number`` of ``count`` messages (0 when absent, last one wins)."""
    chosen = fields.select(number, 0)
    values = np.zeros(count, dtype=np.uint64)
    values[chosen.message] = chosen.value  # fields are in order, so the last assignment wins
    return values


def message_bounds(pieces: list[bytes]) -> tuple[VarintBuffer, np.ndarray, np.ndarray]:
    """The messages ``pieces`` back to back: (buffer, begin, end) byte offsets."""
    sizes = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    bounds = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    return VarintBuffer(b"".join(pieces)), bounds[:-1], bounds[1:]


def leading_field_counts(varints: VarintBuffer, begin: np.ndarray, end: np.ndarray, number: int) -> np.ndarray:
    """Elements of repeated varint field ``number`` when it comes first in each message.

    Reads one packed run, or a run of unpacked values, at the start of each message; the
    caller checks the total against a full decode, since later occurrences are not seen here.
    """
    counts = np.zeros(begin.size, dtype=np.int64)
    active = np.flatnonzero(begin < end)
    first_tag = varints.buf[begin[active]]
    packed = active[first_tag == (number << 3 | 2)]
    if packed.size:
        length, start = varints.decode_at(begin[packed] + 1)
        stop = start + length.astype(np.int64)
        if int(stop.max()) > end[packed].max() or (stop > end[packed]).any():
            raise ScanError("a packed field runs past its message")
        counts[packed] = varints.count_varints(start, stop)
    single = active[first_tag == (number << 3)]
    position = begin[single]
    while single.size:
        counts[single] += 1
        _, position = varints.decode_at(position + 1)
        more = (position < end[single]) & (varints.buf[np.minimum(position, varints.buf.size - 1)] == number << 3)
        single, position = single[more], position[more]
    return counts
