"""Profile: interned frames, root-first stacks and weights, whatever the source format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Literal, Sequence

if TYPE_CHECKING:
    from profkit.model.stackarrays import FunctionRow, StackArrays


# "unknown": a pprof whose sample types name none of Go's profiles.
ProfileKind = Literal["cpu", "heap", "allocs", "goroutine", "mutex", "block", "wall", "unknown"]
Language = Literal["go", "python"]  # which profiler a controller gets: pprof or py-spy
FrameOrigin = Literal["own", "library", "stdlib", "runtime"]  # whose code a frame is


@dataclass(frozen=True)
class Frame:
    """One function in a stack. Frames are interned per profile and compared by value."""

    name: str
    file: str = ""
    line: int = 0


@dataclass
class Profile:
    """A sampled profile in the neutral model.

    ``stacks[i]`` is a tuple of indexes into ``frames``, root first; ``weights[i]``
    is its value in ``unit`` (nanoseconds of CPU, bytes, goroutines, samples).
    Identical stacks are aggregated, so each stack appears once.
    """

    frames: list[Frame]
    stacks: list[tuple[int, ...]]
    weights: list[float]
    sample_type: str = "cpu"
    unit: str = "nanoseconds"
    kind: ProfileKind = "cpu"
    language: Language = "go"
    target: str = ""
    instance: str = ""
    start: float = 0.0  # unix seconds
    duration: float = 0.0  # seconds
    period: float = 0.0  # sampling period in ``unit`` (10 ms for Go CPU profiles)
    extra: dict[str, str] = field(default_factory=dict)
    # The flat form of ``stacks``/``weights`` and the lists it was made from (rebuilt when they are replaced).
    _arrays_of: tuple[object, object, int, StackArrays] | None = field(
        default=None, init=False, repr=False, compare=False)

    def stack_arrays(self) -> StackArrays:
        """``stacks`` and ``weights`` as flat numpy arrays, built once per pair of lists."""
        cached = self._arrays_of
        stacks, weights = self.stacks, self.weights
        if cached is not None and cached[0] is stacks and cached[1] is weights and cached[2] == len(stacks):
            return cached[3]
        from profkit.model.stackarrays import from_tuples

        arrays = from_tuples(stacks, weights)
        self._arrays_of = (stacks, weights, len(stacks), arrays)
        return arrays

    def top(self, limit: int = 20) -> list[FunctionRow]:
        """The ``limit`` heaviest functions by |flat| weight with their cumulative weight (``go tool pprof -top``)."""
        from profkit.model.stackarrays import top_functions

        return top_functions(self, limit)

    @property
    def total(self) -> float:
        """Sum of absolute weights, as ``go tool pprof`` totals a delta profile with negative values."""
        return float(sum(map(abs, self.weights)))

    def __len__(self) -> int:
        return len(self.stacks)

    def named_stacks(self) -> Iterable[tuple[list[str], float]]:
        """Each stack as frame names, root first, with its weight."""
        names = [f.name for f in self.frames]
        for stack, weight in zip(self.stacks, self.weights):
            yield [names[i] for i in stack], weight

    def function_totals(self) -> tuple[dict[str, float], dict[str, float]]:
        """Self (flat) and cumulative weight per function name.

        A function that appears several times in one stack (recursion) counts once
        for that stack in its cumulative total.
        """
        names = [f.name for f in self.frames]
        flat: dict[str, float] = {}
        cumulative: dict[str, float] = {}
        for stack, weight in zip(self.stacks, self.weights):
            if not stack:
                continue
            leaf = names[stack[-1]]
            flat[leaf] = flat.get(leaf, 0.0) + weight
            for name in {names[i] for i in stack}:
                cumulative[name] = cumulative.get(name, 0.0) + weight
        return flat, cumulative

def _replace_samples(
    base: Profile, frames: list[Frame], stacks: list[tuple[int, ...]], weights: list[float]
) -> Profile:
    return Profile(
        frames=frames,
        stacks=stacks,
        weights=weights,
        sample_type=base.sample_type,
        unit=base.unit,
        kind=base.kind,
        language=base.language,
        target=base.target,
        instance=base.instance,
        start=base.start,
        duration=base.duration,
        period=base.period,
        extra=dict(base.extra),
    )


def merge_profiles(profiles: Sequence[Profile]) -> Profile:
    """Merge profiles of one kind (windows, replicas) into one, summing identical stacks.

    The merged time window spans all inputs; the target is kept when all agree.
    """
    if not profiles:
        raise ValueError("merge_profiles needs at least one profile")
    first = profiles[0]
    frame_index: dict[Frame, int] = {}
    frames: list[Frame] = []
    totals: dict[tuple[int, ...], float] = {}
    for profile in profiles:
        remap: list[int] = []
        for frame in profile.frames:
            index = frame_index.get(frame)
            if index is None:
                index = frame_index[frame] = len(frames)
                frames.append(frame)
            remap.append(index)
        for stack, weight in zip(profile.stacks, profile.weights):
            key = tuple(remap[i] for i in stack)
            totals[key] = totals.get(key, 0.0) + weight
    merged = _replace_samples(first, frames, list(totals.keys()), list(totals.values()))
    starts = [p.start for p in profiles if p.start]
    ends = [p.start + p.duration for p in profiles if p.start]
    if starts:
        merged.start = min(starts)
        merged.duration = max(ends) - merged.start
    else:
        merged.duration = sum(p.duration for p in profiles)
    if len({p.target for p in profiles}) > 1:
        merged.target = ""
    if len({p.instance for p in profiles}) > 1:
        merged.instance = ""
    return merged
