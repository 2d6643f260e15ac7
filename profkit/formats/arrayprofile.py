"""ArrayProfile: a decoded pprof kept as numpy arrays of samples and locations until stacks are needed.

A large profile holds millions of (sample, location) pairs. Totals and top tables are computed
on those arrays directly; merging identical stacks, and expanding locations into frames, happens
only when something asks for stacks (a flame graph, an analyzer, a conversion), and Python
tuples are made only when something iterates ``profile.stacks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from profkit.formats.pprof_scan import ramp
from profkit.model import Profile, stackarrays
from profkit.model.stackarrays import FunctionRow, StackArrays

_LENGTH_MIX = np.uint64(0xFF51AFD7ED558CCD)


@dataclass
class SampleTable:
    """Samples as location rows (leaf first), and each location's frames (leaf first)."""

    rows: np.ndarray  # int64: location row of each (sample, position) pair
    bounds: np.ndarray  # int64: rows[bounds[i]:bounds[i + 1]] belong to sample i
    weights: np.ndarray  # float64 per sample
    location_frames: np.ndarray  # int64: frame indexes, inlined callee first, caller last
    location_offsets: np.ndarray  # int64: location_frames[location_offsets[r]:...[r + 1]] is location r

    def leaf_frames(self) -> tuple[np.ndarray, np.ndarray]:
        """(samples with a stack, their innermost frame)."""
        nonempty = np.flatnonzero(np.diff(self.bounds) > 0)
        return nonempty, self.location_frames[self.location_offsets[self.rows[self.bounds[nonempty]]]]

    def merged(self) -> StackArrays:
        """Root-first stacks with identical frame sequences merged (the lazy, costly part).

        Samples are compared by frames, not locations (two program counters in one function
        are one frame), without expanding every sample: each location's frames are hashed once,
        and the polynomial hash of a concatenation is the sum of its parts' hashes shifted by
        their positions. A second, order-free hash confirms each group; only one sample per
        group is expanded into frames.
        """
        counts = np.diff(self.bounds)
        per_location = np.diff(self.location_offsets)
        frames_before = np.zeros(self.rows.size + 1, dtype=np.int64)
        np.cumsum(per_location[self.rows], out=frames_before[1:])
        stack_start = frames_before[self.bounds]
        lengths = np.diff(stack_start)
        position = frames_before[:-1] - np.repeat(stack_start[:-1], counts)
        longest = max(int(lengths.max()) if lengths.size else 0, int(per_location.max()) if per_location.size else 0)
        within = ramp(per_location)
        frame_terms = self.location_frames.astype(np.uint64) + np.uint64(1)
        with np.errstate(over="ignore"):
            powers = stackarrays.powers_of(stackarrays.HASH_BASES[0], longest + 1)
            location_hash = stackarrays.segment_sums(frame_terms * powers[within], self.location_offsets)
            keys = stackarrays.segment_sums(location_hash[self.rows] * powers[position], self.bounds)
            keys ^= lengths.astype(np.uint64) * _LENGTH_MIX
            other = stackarrays.powers_of(stackarrays.HASH_BASES[1], longest + 1)
            location_check = stackarrays.segment_sums(frame_terms * other[within], self.location_offsets)
            location_check = (location_check ^ (location_check >> np.uint64(29))) * _LENGTH_MIX
            check = stackarrays.segment_sums(location_check[self.rows], self.bounds) + lengths.astype(np.uint64)
        group, representative = stackarrays.group_keys(keys)
        if not np.array_equal(check, check[representative][group]):
            group, representative = self._exact_groups()
        # Representatives root first: their locations backwards, each location's frames backwards.
        chosen_counts = counts[representative]
        chosen_rows = self.rows[np.repeat(self.bounds[representative] + chosen_counts, chosen_counts) - 1
                                - ramp(chosen_counts)]
        merged_offsets = np.zeros(representative.size + 1, dtype=np.int64)
        np.cumsum(lengths[representative], out=merged_offsets[1:])
        if (per_location == 1).all():
            frames = self.location_frames[chosen_rows]
        else:
            sizes = per_location[chosen_rows]
            frames = self.location_frames[np.repeat(self.location_offsets[chosen_rows + 1], sizes) - 1 - ramp(sizes)]
        weights = np.bincount(group, weights=self.weights, minlength=representative.size)
        return StackArrays(frames, merged_offsets, weights)

    def _exact_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Group samples by their exact frame sequence (the slow path, after a hash collision)."""
        flat, offsets = self.location_frames.tolist(), self.location_offsets.tolist()
        per_location = [tuple(flat[a:b]) for a, b in zip(offsets, offsets[1:])]
        rows, bounds = self.rows.tolist(), self.bounds.tolist()
        index: dict[tuple[int, ...], int] = {}
        group = np.array([index.setdefault(tuple(f for r in rows[a:b] for f in per_location[r]), len(index))
                          for a, b in zip(bounds, bounds[1:])], dtype=np.int64)
        first = np.zeros(len(index), dtype=np.int64)
        first[group[::-1]] = np.arange(group.size)[::-1]
        return group, first

    def top(self, name_of_frame: np.ndarray, names: list[str], limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(name ids, flat, cum) of the ``limit`` first names in ``go tool pprof -top``'s order, from the samples."""
        name_count = len(names)
        samples, leaves = self.leaf_frames()
        flat = np.bincount(name_of_frame[leaves], weights=self.weights[samples], minlength=name_count)
        # Names some sample of non-zero weight holds (the decoder keeps only those samples).
        used = np.bincount(self.rows, minlength=self.location_offsets.size - 1) > 0
        entry_used = np.repeat(used, np.diff(self.location_offsets))
        present = np.bincount(name_of_frame[self.location_frames[entry_used]], minlength=name_count) > 0
        chosen = stackarrays.pprof_order(names, flat, present)[:limit]
        slot = np.full(name_count, -1, dtype=np.int64)
        slot[chosen] = np.arange(chosen.size)
        # Which wanted names each location holds (a location holds several when calls were inlined).
        entry_slot = slot[name_of_frame[self.location_frames]]
        hit_entries = np.flatnonzero(entry_slot >= 0)
        entry_location = np.searchsorted(self.location_offsets, hit_entries, side="right") - 1
        holds = np.bincount(entry_location, minlength=self.location_offsets.size - 1)
        hits = np.flatnonzero((holds > 0)[self.rows])
        hit_rows = self.rows[hits]
        sample_of_hit = np.searchsorted(self.bounds, hits, side="right") - 1
        first_entry = np.searchsorted(entry_location, hit_rows)  # hit entries are in location order
        repeat = holds[hit_rows]
        pairs = (np.repeat(sample_of_hit, repeat) * chosen.size
                 + entry_slot[hit_entries[np.repeat(first_entry, repeat) + ramp(repeat)]])
        pairs = stackarrays.distinct(pairs)
        cum = np.bincount(pairs % chosen.size, weights=self.weights[pairs // chosen.size], minlength=chosen.size)
        return chosen, flat[chosen], cum


class ArrayProfile(Profile):
    """A Profile backed by a SampleTable; ``stacks`` and ``weights`` are built on first use.

    Assigning ``stacks`` or ``weights`` works as on any Profile (derived forms are then rebuilt
    from the lists); like every cached form, it assumes lists are replaced, not edited in place.
    """

    def __init__(self, table: SampleTable, base_total: float | None = None, **fields: Any) -> None:
        self._table = table
        self._base_total = base_total  # a -diff_base profile's total: its base samples' (pprof::base)
        self._arrays: StackArrays | None = None
        self._stack_list: list[tuple[int, ...]] | None = None
        self._weight_list: list[float] | None = None
        self._made: tuple[object, object] = (None, None)
        super().__init__(stacks=None, weights=None, **fields)  # type: ignore[arg-type]

    @property
    def stacks(self) -> list[tuple[int, ...]]:
        if self._stack_list is None:
            self._stack_list = self.merged_arrays().to_tuples()
            self._made = (self._stack_list, self._made[1])
        return self._stack_list

    @stacks.setter
    def stacks(self, value: list[tuple[int, ...]] | None) -> None:
        if value is not None:
            self._stack_list = value

    @property
    def weights(self) -> list[float]:
        if self._weight_list is None:
            self._weight_list = self.merged_arrays().weights.tolist()
            self._made = (self._made[0], self._weight_list)
        return self._weight_list

    @weights.setter
    def weights(self, value: list[float] | None) -> None:
        if value is not None:
            self._weight_list = value

    def merged_arrays(self) -> StackArrays:
        if self._arrays is None:
            self._arrays = self._table.merged()
        return self._arrays

    def stack_arrays(self) -> StackArrays:
        """The decoder's merged arrays while the stacks are its own, else as any Profile."""
        return self.merged_arrays() if self.untouched() else super().stack_arrays()

    def top(self, limit: int = 20) -> list[FunctionRow]:
        """Straight from the samples (no merging of stacks) while the stacks are the decoder's."""
        return table_top(self, self._table, limit) if self.untouched() else super().top(limit)

    def untouched(self) -> bool:
        """True while stacks and weights are still the decoder's (not replaced by the caller)."""
        return all(current is None or current is made for current, made in
                   zip((self._stack_list, self._weight_list), self._made))

    @property
    def total(self) -> float:
        if not self.untouched():
            return super().total
        return self._base_total if self._base_total else float(np.abs(self._table.weights).sum())

    def __len__(self) -> int:
        return int(self.merged_arrays().weights.size) if self.untouched() else len(self.stacks)

    def function_totals(self) -> tuple[dict[str, float], dict[str, float]]:
        """As Profile.function_totals, computed on arrays."""
        return stackarrays.all_function_totals(self)


def table_top(profile: ArrayProfile, table: SampleTable, limit: int) -> list[FunctionRow]:
    """top_functions straight from the samples, without merging stacks."""
    names, name_of_frame = stackarrays.name_ids(profile)
    if not names or table.rows.size == 0:
        return []
    chosen, flat, cum = table.top(name_of_frame, names, limit)
    return [FunctionRow(names[i], float(f), float(c)) for i, f, c in zip(chosen.tolist(), flat.tolist(), cum.tolist())]
