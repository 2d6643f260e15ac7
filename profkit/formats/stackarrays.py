"""Profile stacks as flat numpy arrays: aggregation, function totals and top tables without Python loops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from profkit.model import Profile

_CACHE_ATTRIBUTE = "_profkit_stack_arrays"
_HASH_BASES = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


@dataclass
class StackArrays:
    """``frames[offsets[i]:offsets[i + 1]]`` is stack ``i`` (frame indexes, root first)."""

    frames: np.ndarray  # int64
    offsets: np.ndarray  # int64, one more than there are stacks
    weights: np.ndarray  # float64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def stack_of_element(self) -> np.ndarray:
        """For each entry of ``frames``, the index of its stack."""
        return np.repeat(np.arange(self.weights.size), self.lengths)

    def to_tuples(self) -> list[tuple[int, ...]]:
        flat = self.frames.tolist()
        bounds = self.offsets.tolist()
        return [tuple(flat[a:b]) for a, b in zip(bounds, bounds[1:])]


def attach(profile: Profile, arrays: StackArrays) -> None:
    """Remember ``arrays`` as the flat form of ``profile``'s current stacks and weights."""
    setattr(profile, _CACHE_ATTRIBUTE, (profile.stacks, profile.weights, len(profile.stacks), arrays))


def stack_arrays(profile: Profile) -> StackArrays:
    """The flat form of ``profile``: the one the decoder attached, or built from the tuples."""
    cached = getattr(profile, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        stacks, weights, count, arrays = cached
        if stacks is profile.stacks and weights is profile.weights and count == len(stacks) == len(weights):
            assert isinstance(arrays, StackArrays)
            return arrays
    lengths = np.fromiter(map(len, profile.stacks), dtype=np.int64, count=len(profile.stacks))
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    frames = np.fromiter(
        (i for stack in profile.stacks for i in stack), dtype=np.int64, count=int(offsets[-1])
    )
    arrays = StackArrays(frames, offsets, np.asarray(profile.weights, dtype=np.float64))
    attach(profile, arrays)
    return arrays


def _segment_hash(frames: np.ndarray, offsets: np.ndarray, base: np.uint64) -> np.ndarray:
    """A 64-bit polynomial hash of each segment, its length mixed in (uint64 arithmetic wraps)."""
    lengths = np.diff(offsets)
    position = np.arange(frames.size, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    longest = int(lengths.max()) if lengths.size else 0
    powers = np.cumprod(np.full(max(longest, 1), base, dtype=np.uint64), dtype=np.uint64)
    with np.errstate(over="ignore"):
        terms = (frames.astype(np.uint64) + np.uint64(1)) * powers[position]
        running = np.zeros(frames.size + 1, dtype=np.uint64)
        np.cumsum(terms, dtype=np.uint64, out=running[1:])
        hashed: np.ndarray = running[offsets[1:]] - running[offsets[:-1]]
        hashed ^= lengths.astype(np.uint64) * np.uint64(0xFF51AFD7ED558CCD)
    return hashed


def aggregate(arrays: StackArrays) -> StackArrays:
    """Identical stacks merged (weights summed), in order of first appearance."""
    count = arrays.weights.size
    if count < 2:
        return arrays
    keys = _segment_hash(arrays.frames, arrays.offsets, _HASH_BASES[0])
    group, representative = group_keys(keys)
    lengths = arrays.lengths
    # Verify every stack equals its group's representative, element by element (hash collisions).
    mine = arrays.stack_of_element()
    position = np.arange(arrays.frames.size) - arrays.offsets[mine]
    theirs = arrays.offsets[representative[group[mine]]] + position
    same_length = lengths == lengths[representative[group]]
    if not same_length.all() or not np.array_equal(arrays.frames, arrays.frames[np.minimum(theirs, arrays.frames.size - 1)]):
        return _aggregate_exact(arrays)
    new_lengths = lengths[representative]
    offsets = np.zeros(representative.size + 1, dtype=np.int64)
    np.cumsum(new_lengths, out=offsets[1:])
    pick = np.repeat(arrays.offsets[representative] - offsets[:-1], new_lengths) + np.arange(int(offsets[-1]))
    weights = np.bincount(group, weights=arrays.weights, minlength=representative.size)
    return StackArrays(arrays.frames[pick], offsets, weights)


def _aggregate_exact(arrays: StackArrays) -> StackArrays:
    totals: dict[tuple[int, ...], float] = {}
    for stack, weight in zip(arrays.to_tuples(), arrays.weights.tolist()):
        totals[stack] = totals.get(stack, 0.0) + weight
    lengths = np.fromiter(map(len, totals), dtype=np.int64, count=len(totals))
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    frames = np.fromiter((i for s in totals for i in s), dtype=np.int64, count=int(offsets[-1]))
    return StackArrays(frames, offsets, np.fromiter(totals.values(), dtype=np.float64, count=len(totals)))


def group_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group id of each key (numbered by first appearance) and the first index of each group.

    Sort-based on purpose: ``np.unique`` is hash-based and many times slower in numpy 2.x.
    """
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts_group = np.empty(ordered.size, dtype=bool)
    starts_group[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_group[1:])
    sorted_group = np.cumsum(starts_group) - 1
    first = order[starts_group]  # stable sort: the first index of each group
    by_appearance = np.argsort(first, kind="stable")
    rank = np.empty_like(by_appearance)
    rank[by_appearance] = np.arange(by_appearance.size)
    group = np.empty(keys.size, dtype=np.int64)
    group[order] = rank[sorted_group]
    return group, first[by_appearance]


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` without its hash-table slowness)."""
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


@dataclass
class FunctionRow:
    """One line of a top table: a function with its flat and cumulative weight."""

    name: str
    flat: float
    cum: float


def name_ids(profile: Profile) -> tuple[list[str], np.ndarray]:
    """Distinct function names and, per frame index, the id of its name."""
    ids: dict[str, int] = {}
    per_frame = np.fromiter((ids.setdefault(f.name, len(ids)) for f in profile.frames), dtype=np.int64,
                            count=len(profile.frames))
    return list(ids), per_frame


def top_functions(profile: Profile, limit: int = 20, by: str = "flat") -> list[FunctionRow]:
    """The ``limit`` heaviest functions by flat (or cum) weight, like ``go tool pprof -top``.

    Cumulative weight counts each stack once per function, so recursion does not inflate it.
    """
    arrays = stack_arrays(profile)
    names, name_of_frame = name_ids(profile)
    if not names or arrays.frames.size == 0:
        return []
    element_names = name_of_frame[arrays.frames]
    lengths = arrays.lengths
    nonempty = lengths > 0
    leaves = element_names[arrays.offsets[1:][nonempty] - 1]
    flat = np.bincount(leaves, weights=arrays.weights[nonempty], minlength=len(names))
    if by == "cum":
        candidates = np.argsort(-_cumulative(arrays, element_names, np.arange(len(names))), kind="stable")[:limit]
    else:
        candidates = np.lexsort((np.arange(len(names)), -flat))[:limit]
    cum = _cumulative(arrays, element_names, candidates)
    return [FunctionRow(names[i], float(flat[i]), float(c)) for i, c in zip(candidates.tolist(), cum.tolist())]


def _cumulative(arrays: StackArrays, element_names: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Cumulative weight of the names ``wanted`` (each counted once per stack)."""
    slot = np.full(int(element_names.max()) + 1, -1, dtype=np.int64)
    slot[wanted] = np.arange(wanted.size)
    hit = np.flatnonzero(slot[element_names] >= 0)
    stacks = arrays.stack_of_element()[hit]
    pairs = distinct(stacks * wanted.size + slot[element_names[hit]])
    return np.bincount(pairs % wanted.size, weights=arrays.weights[pairs // wanted.size], minlength=wanted.size)
