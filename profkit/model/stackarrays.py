"""Profile stacks as flat numpy arrays: aggregation, function totals and top tables without Python loops.

``Profile.stack_arrays()`` and ``Profile.top()`` use this module (imported on first use, so the
model stays cheap to import); ``ArrayProfile`` overrides both with its decoder's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from profkit.model.profile import Profile

HASH_BASES = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


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


def from_tuples(stacks: list[tuple[int, ...]], weights: list[float]) -> StackArrays:
    """The flat form of root-first stack tuples and their weights."""
    lengths = np.fromiter(map(len, stacks), dtype=np.int64, count=len(stacks))
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    frames = np.fromiter((i for stack in stacks for i in stack), dtype=np.int64, count=int(offsets[-1]))
    return StackArrays(frames, offsets, np.asarray(weights, dtype=np.float64))


def powers_of(base: np.uint64, count: int) -> np.ndarray:
    """``base**0 .. base**(count-1)`` modulo 2**64."""
    powers = np.ones(max(count, 1), dtype=np.uint64)
    if count > 1:
        powers[1:] = np.cumprod(np.full(count - 1, base, dtype=np.uint64), dtype=np.uint64)
    return powers


def segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of ``values[offsets[i]:offsets[i+1]]`` for each i, modulo 2**64 (uint64 wraps)."""
    running = np.zeros(values.size + 1, dtype=np.uint64)
    np.cumsum(values, dtype=np.uint64, out=running[1:])
    sums: np.ndarray = running[offsets[1:]] - running[offsets[:-1]]
    return sums


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


def pprof_order(names: list[str], flat: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Ids of the names some sample holds, by |flat| (largest first), then name: ``go tool pprof -top``'s order."""
    by_name = np.empty(len(names), dtype=np.int64)
    by_name[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    order: np.ndarray = np.lexsort((by_name, -np.abs(flat)))
    shown: np.ndarray = order[present[order]]
    return shown


def _flat(arrays: StackArrays, element_names: np.ndarray, name_count: int) -> np.ndarray:
    nonempty = arrays.lengths > 0
    leaves = element_names[arrays.offsets[1:][nonempty] - 1]
    return np.bincount(leaves, weights=arrays.weights[nonempty], minlength=name_count)


def top_functions(profile: Profile, limit: int = 20) -> list[FunctionRow]:
    """The ``limit`` heaviest functions by |flat| weight, like ``go tool pprof -top``, from the stacks.

    Cumulative weight counts each stack once per function, so recursion does not inflate it.
    """
    arrays = profile.stack_arrays()
    names, name_of_frame = name_ids(profile)
    if not names or arrays.frames.size == 0:
        return []
    element_names = name_of_frame[arrays.frames]
    flat = _flat(arrays, element_names, len(names))
    weighed = np.repeat(arrays.weights != 0, arrays.lengths)  # pprof leaves zero-weight samples out
    present = np.bincount(element_names[weighed], minlength=len(names)) > 0
    chosen = pprof_order(names, flat, present)[:limit]
    cum = _cumulative(arrays, element_names, chosen, len(names))
    return [FunctionRow(names[i], float(flat[i]), float(c)) for i, c in zip(chosen.tolist(), cum.tolist())]


def all_function_totals(profile: Profile) -> tuple[dict[str, float], dict[str, float]]:
    """Flat weight of every leaf function and cumulative weight of every function in a stack.

    The same dictionaries as ``Profile.function_totals``, computed on arrays.
    """
    arrays = profile.stack_arrays()
    names, name_of_frame = name_ids(profile)
    if not names or arrays.frames.size == 0:
        return {}, {}
    element_names = name_of_frame[arrays.frames]
    nonempty = arrays.lengths > 0
    leaves = element_names[arrays.offsets[1:][nonempty] - 1]
    flat = np.bincount(leaves, weights=arrays.weights[nonempty], minlength=len(names))
    is_leaf = np.bincount(leaves, minlength=len(names)) > 0
    present = np.flatnonzero(np.bincount(element_names, minlength=len(names)) > 0)
    cum = _cumulative(arrays, element_names, present, len(names))
    return ({names[i]: float(flat[i]) for i in np.flatnonzero(is_leaf).tolist()},
            dict(zip((names[i] for i in present.tolist()), cum.tolist())))


def _cumulative(arrays: StackArrays, element_names: np.ndarray, wanted: np.ndarray, name_count: int) -> np.ndarray:
    """Cumulative weight of the names ``wanted`` (each counted once per stack); names no stack uses are 0."""
    slot = np.full(name_count, -1, dtype=np.int64)
    slot[wanted] = np.arange(wanted.size)
    hit = np.flatnonzero(slot[element_names] >= 0)
    stacks = arrays.stack_of_element()[hit]
    pairs = distinct(stacks * wanted.size + slot[element_names[hit]])
    return np.bincount(pairs % wanted.size, weights=arrays.weights[pairs // wanted.size], minlength=wanted.size)
