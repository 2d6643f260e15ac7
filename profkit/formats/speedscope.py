"""speedscope JSON (https://www.speedscope.app/file-format-schema.json): read sampled and evented profiles, write sampled."""

from __future__ import annotations

import json
import math
from typing import Any

from profkit.errors import BadInput
from profkit.model import Frame, Profile, ProfileKind

_KIND_OF_UNIT: dict[str, ProfileKind] = {"bytes": "heap", "count": "cpu"}

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"

# speedscope unit -> (model unit, factor to it). Time becomes nanoseconds, as in Go CPU profiles.
_READ_UNITS = {
    "nanoseconds": ("nanoseconds", 1.0),
    "microseconds": ("nanoseconds", 1e3),
    "milliseconds": ("nanoseconds", 1e6),
    "seconds": ("nanoseconds", 1e9),
    "bytes": ("bytes", 1.0),
    "none": ("count", 1.0),
}
_WRITE_UNITS = {"nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}


def _fail(source: str, what: str) -> BadInput:
    return BadInput(f"{source}: not a speedscope profile ({what})")


def _number(value: object, source: str, what: str, default: float | None = None) -> float:
    """A finite JSON number (not a bool, string, NaN or infinity), else one-line BadInput."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(source, f"{what} is {type(value).__name__} {_short(value)}, not a number")
    try:
        number = float(value)
    except OverflowError:
        raise _fail(source, f"{what} {_short(value)} is too large") from None
    if not math.isfinite(number):
        raise _fail(source, f"{what} is {number}, not a finite number")
    return number


def _index(value: object, count: int, source: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(source, f"{what} is {type(value).__name__} {_short(value)}, not a frame index")
    if not 0 <= value < count:
        raise _fail(source, f"{what} {_short(value)} names a frame that does not exist (there are {count})")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _frames(document: dict[str, Any], source: str) -> list[Frame]:
    shared = document.get("shared")
    if not isinstance(shared, dict) or not isinstance(shared.get("frames"), list):
        raise _fail(source, "no shared.frames")
    frames = []
    for entry in shared["frames"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _fail(source, "a frame without a name")
        file, line = entry.get("file"), _number(entry.get("line"), source, "a frame's line", default=0.0)
        if file is not None and not isinstance(file, str):
            raise _fail(source, f"a frame's file is {type(file).__name__}, not a string")
        frames.append(Frame(entry["name"], file or "", int(line) if line.is_integer() and 0 < line < 2**31 else 0))
    return frames


def _deduplicated(frames: list[Frame], totals: dict[tuple[int, ...], float]) -> tuple[list[Frame], dict[tuple[int, ...], float]]:
    """Equal frames listed twice (py-spy does that) become one, so their stacks add up."""
    index: dict[Frame, int] = {}
    remap = [index.setdefault(frame, len(index)) for frame in frames]
    if len(index) == len(frames):
        return frames, totals
    merged: dict[tuple[int, ...], float] = {}
    for stack, weight in totals.items():
        key = tuple(remap[i] for i in stack)
        merged[key] = merged.get(key, 0.0) + weight
    return list(index), merged


def _add(totals: dict[tuple[int, ...], float], key: tuple[int, ...], weight: float, source: str) -> None:
    total = totals.get(key, 0.0) + weight
    if not math.isfinite(total):
        raise _fail(source, "weights add up past the largest number a profile can hold")
    totals[key] = total


def _sampled(profile: dict[str, Any], frame_count: int, factor: float, source: str,
             totals: dict[tuple[int, ...], float]) -> list[float]:
    """Add the profile's samples to ``totals``; returns its weights in the model's unit."""
    samples, weights = profile.get("samples"), profile.get("weights")
    if not isinstance(samples, list) or not isinstance(weights, list) or len(samples) != len(weights):
        raise _fail(source, f"profile {_short(profile.get('name'))} needs samples and as many weights")
    scaled = []
    for stack, weight in zip(samples, weights):
        if not isinstance(stack, list):
            raise _fail(source, f"a sample is {type(stack).__name__} {_short(stack)}, not a list of frame indexes")
        key = tuple(_index(i, frame_count, source, "a sample's frame") for i in stack)
        value = _number(weight, source, "a weight") * factor
        _add(totals, key, value, source)
        scaled.append(value)
    return scaled


def _evented(profile: dict[str, Any], frame_count: int, factor: float, source: str,
             totals: dict[tuple[int, ...], float]) -> None:
    """Time between consecutive events is charged to the stack open at that moment.

    As in speedscope, every frame opened must be closed by the end (in the order opened).
    """
    events = profile.get("events")
    if not isinstance(events, list):
        raise _fail(source, f"evented profile {_short(profile.get('name'))} without events")
    stack: list[int] = []
    last = _number(profile.get("startValue", 0), source, "startValue", default=0.0)
    for event in events:
        if not isinstance(event, dict) or not {"type", "at", "frame"} <= event.keys():
            raise _fail(source, "an event without type, at and frame")
        kind = event["type"]
        at = _number(event["at"], source, "an event's at")
        frame = _index(event["frame"], frame_count, source, "an event's frame")
        if stack and at > last:
            _add(totals, tuple(stack), (at - last) * factor, source)
        last = max(last, at)
        if kind == "O":
            stack.append(frame)
        elif kind == "C":
            if not stack or stack[-1] != frame:
                raise _fail(source, "events close a frame that is not open")
            stack.pop()
        else:
            raise _fail(source, f"unknown event type {_short(kind)}")
    if stack:
        raise _fail(source, f"evented profile {_short(profile.get('name'))} ends with {len(stack)} frames "
                            "still open (speedscope refuses such a file)")


def read_speedscope(data: bytes | str, source: str = "speedscope", kind: ProfileKind | None = None) -> Profile:
    """A speedscope file as one Profile: all its profiles (py-spy writes one per thread) merged.

    Threads are merged so that the same code path in different worker threads adds up in a flame
    graph, as py-spy's own flame graphs do; the thread names are kept in ``extra["threads"]``.
    """
    try:
        document = json.loads(data)
    except RecursionError:
        raise BadInput(f"{source}: not a speedscope profile (JSON nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, and integers of > 4300 digits
        raise BadInput(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _fail(source, "the top level is not an object")
    profiles = document.get("profiles")
    if not isinstance(profiles, list):
        raise _fail(source, "no profiles list")
    frames = _frames(document, source)
    totals: dict[tuple[int, ...], float] = {}
    units: set[str] = set()
    weights_seen: set[float] = set()
    duration = 0.0
    for entry in profiles:
        if not isinstance(entry, dict):
            raise _fail(source, "a profile is not an object")
        unit, factor = _READ_UNITS.get(str(entry.get("unit", "none")), ("count", 1.0))
        units.add(unit)
        if entry.get("type") == "evented":
            _evented(entry, len(frames), factor, source, totals)
        elif entry.get("type") == "sampled":
            weights_seen.update(_sampled(entry, len(frames), factor, source, totals)[:1000])
        else:
            raise _fail(source, f"unknown profile type {_short(entry.get('type'))}")
        span = (_number(entry.get("endValue", 0), source, "endValue", default=0.0)
                - _number(entry.get("startValue", 0), source, "startValue", default=0.0))
        if unit == "nanoseconds" and math.isfinite(span * factor):
            duration = max(duration, span * factor / 1e9)
    if len(units) > 1:
        raise _fail(source, f"profiles in different units ({', '.join(sorted(units))})")
    unit = units.pop() if units else "count"
    exporter = str(document.get("exporter") or "")
    python = exporter.startswith("py-spy") or any(f.file.endswith(".py") for f in frames[:200])
    profile_kind = kind or _KIND_OF_UNIT.get(unit, "cpu")
    names = [str(p.get("name", "")) for p in profiles if isinstance(p, dict)]
    frames, totals = _deduplicated(frames, totals)
    return Profile(
        frames=frames, stacks=list(totals), weights=list(totals.values()),
        sample_type={"bytes": "space", "count": "samples"}.get(unit, "cpu" if profile_kind != "wall" else "wall"),
        unit=unit, kind=profile_kind, language="python" if python else "go",
        duration=duration, period=weights_seen.pop() if len(weights_seen) == 1 else 0.0,
        extra={"format": "speedscope", "exporter": exporter, "threads": ", ".join(n for n in names if n)},
    )


def _function_frames(profile: Profile) -> tuple[list[dict[str, Any]], list[int]]:
    """One speedscope frame per function (name and file), so that speedscope's sandwich and left-heavy
    views add a function up once: py-spy reports each line a function was on as a frame of its own.
    The line kept is the lowest seen, the nearest to the function's start. Returns the frames and
    the index of each of ``profile.frames`` among them."""
    index: dict[tuple[str, str], int] = {}
    frames: list[dict[str, Any]] = []
    remap: list[int] = []
    for frame in profile.frames:
        position = index.setdefault((frame.name, frame.file), len(frames))
        if position == len(frames):
            entry: dict[str, Any] = {"name": frame.name}
            if frame.file:
                entry["file"] = frame.file
            frames.append(entry)
        if frame.line and frame.line < frames[position].get("line", 2**31):
            frames[position]["line"] = frame.line
        remap.append(position)
    return frames, remap


def to_speedscope(profile: Profile, name: str = "") -> dict[str, Any]:
    """``profile`` as a speedscope document (one sampled profile), ready for ``json.dumps``.

    speedscope draws only positive weights: stacks weighing zero or less (a delta profile's
    decreases) are left out, and so are non-finite weights; how many and how much is said in the
    profile's name and in ``profkitOmitted``, never dropped silently.
    """
    from profkit import __version__

    frames, remap = _function_frames(profile)
    unit = profile.unit if profile.unit in _WRITE_UNITS else "none"
    kept: list[tuple[list[int], float]] = []
    omitted = {"stacks": 0, "negative_weight": 0.0, "non_finite": 0}
    for stack, weight in zip(profile.stacks, profile.weights):
        if weight > 0 and math.isfinite(weight):
            kept.append(([remap[i] for i in stack], weight))
        elif weight != 0:  # a zero weight is no sample at all
            omitted["stacks"] += 1
            if math.isfinite(weight):
                omitted["negative_weight"] += weight
            else:
                omitted["non_finite"] += 1
    total = sum(weight for _, weight in kept)
    if not math.isfinite(total):
        raise BadInput("cannot write speedscope: the weights add up past the largest number JSON can hold")
    title = name or " ".join(x for x in (profile.target, profile.instance, profile.kind) if x) or "profile"
    shown = title
    if omitted["stacks"]:
        shown = f"{title} ({omitted['stacks']} stacks with weight <= 0 or not finite left out)"
    document: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "shared": {"frames": frames},
        "profiles": [{
            "type": "sampled", "name": shown, "unit": unit, "startValue": 0, "endValue": total,
            "samples": [stack for stack, _ in kept], "weights": [weight for _, weight in kept],
        }],
        "name": title,
        "activeProfileIndex": 0,
        "exporter": f"profkit@{__version__}",
    }
    if omitted["stacks"]:
        document["profkitOmitted"] = omitted
    return document


def write_speedscope(profile: Profile, name: str = "") -> str:
    """``profile`` as speedscope JSON text (compact; these files get large)."""
    return json.dumps(to_speedscope(profile, name), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
