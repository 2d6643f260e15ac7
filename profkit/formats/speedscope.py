"""speedscope JSON (https://www.speedscope.app/file-format-schema.json): read sampled and evented profiles, write sampled."""

from __future__ import annotations

import json
from typing import Any

from profkit.errors import BadInput
from profkit.model import Frame, Profile

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


def _frames(document: dict[str, Any], source: str) -> list[Frame]:
    shared = document.get("shared")
    if not isinstance(shared, dict) or not isinstance(shared.get("frames"), list):
        raise _fail(source, "no shared.frames")
    frames = []
    for entry in shared["frames"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _fail(source, "a frame without a name")
        line = entry.get("line")
        frames.append(Frame(entry["name"], str(entry.get("file") or ""), int(line) if isinstance(line, (int, float)) else 0))
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


def _sampled(profile: dict[str, Any], frame_count: int, factor: float, source: str,
             totals: dict[tuple[int, ...], float]) -> None:
    samples, weights = profile.get("samples"), profile.get("weights")
    if not isinstance(samples, list) or not isinstance(weights, list) or len(samples) != len(weights):
        raise _fail(source, f"profile {profile.get('name')!r} needs samples and as many weights")
    for stack, weight in zip(samples, weights):
        key = tuple(stack)
        if key and not all(isinstance(i, int) and 0 <= i < frame_count for i in key):
            raise _fail(source, "a sample names a frame that does not exist")
        totals[key] = totals.get(key, 0.0) + float(weight) * factor


def _evented(profile: dict[str, Any], frame_count: int, factor: float, source: str,
             totals: dict[tuple[int, ...], float]) -> None:
    """Time between consecutive events is charged to the stack open at that moment."""
    events = profile.get("events")
    if not isinstance(events, list):
        raise _fail(source, f"evented profile {profile.get('name')!r} without events")
    stack: list[int] = []
    last = float(profile.get("startValue", 0) or 0)
    for event in events:
        try:
            kind, at, frame = event["type"], float(event["at"]), int(event["frame"])
        except (KeyError, TypeError, ValueError):
            raise _fail(source, "an event without type, at and frame") from None
        if not 0 <= frame < frame_count:
            raise _fail(source, "an event names a frame that does not exist")
        if stack and at > last:
            key = tuple(stack)
            totals[key] = totals.get(key, 0.0) + (at - last) * factor
        last = max(last, at)
        if kind == "O":
            stack.append(frame)
        elif kind == "C":
            if not stack or stack[-1] != frame:
                raise _fail(source, "events close a frame that is not open")
            stack.pop()
        else:
            raise _fail(source, f"unknown event type {kind!r}")


def read_speedscope(data: bytes | str, source: str = "speedscope", kind: str | None = None) -> Profile:
    """A speedscope file as one Profile: all its profiles (py-spy writes one per thread) merged.

    Threads are merged so that the same code path in different worker threads adds up in a flame
    graph, as py-spy's own flame graphs do; the thread names are kept in ``extra["threads"]``.
    """
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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
            _sampled(entry, len(frames), factor, source, totals)
            weights_seen.update(float(w) * factor for w in entry["weights"][:1000])
        else:
            raise _fail(source, f"unknown profile type {entry.get('type')!r}")
        span = float(entry.get("endValue", 0) or 0) - float(entry.get("startValue", 0) or 0)
        if unit == "nanoseconds":
            duration = max(duration, span * factor / 1e9)
    if len(units) > 1:
        raise _fail(source, f"profiles in different units ({', '.join(sorted(units))})")
    unit = units.pop() if units else "count"
    exporter = str(document.get("exporter") or "")
    python = exporter.startswith("py-spy") or any(f.file.endswith(".py") for f in frames[:200])
    profile_kind = kind or {"bytes": "heap", "count": "cpu"}.get(unit, "cpu")
    names = [str(p.get("name", "")) for p in profiles if isinstance(p, dict)]
    frames, totals = _deduplicated(frames, totals)
    return Profile(
        frames=frames, stacks=list(totals), weights=list(totals.values()),
        sample_type={"bytes": "space", "count": "samples"}.get(unit, "cpu" if profile_kind != "wall" else "wall"),
        unit=unit, kind=profile_kind, language="python" if python else "go",
        duration=duration, period=weights_seen.pop() if len(weights_seen) == 1 else 0.0,
        extra={"format": "speedscope", "exporter": exporter, "threads": ", ".join(n for n in names if n)},
    )


def to_speedscope(profile: Profile, name: str = "") -> dict[str, Any]:
    """``profile`` as a speedscope document (one sampled profile), ready for ``json.dumps``."""
    from profkit import __version__

    frames: list[dict[str, Any]] = []
    for frame in profile.frames:
        entry: dict[str, Any] = {"name": frame.name}
        if frame.file:
            entry["file"] = frame.file
        if frame.line:
            entry["line"] = frame.line
        frames.append(entry)
    unit = profile.unit if profile.unit in _WRITE_UNITS else "none"
    kept = [(list(stack), weight) for stack, weight in zip(profile.stacks, profile.weights) if weight > 0]
    total = sum(weight for _, weight in kept)
    title = name or " ".join(x for x in (profile.target, profile.instance, profile.kind) if x) or "profile"
    return {
        "$schema": SCHEMA_URL,
        "shared": {"frames": frames},
        "profiles": [{
            "type": "sampled", "name": title, "unit": unit, "startValue": 0, "endValue": total,
            "samples": [stack for stack, _ in kept], "weights": [weight for _, weight in kept],
        }],
        "name": title,
        "activeProfileIndex": 0,
        "exporter": f"profkit@{__version__}",
    }


def write_speedscope(profile: Profile, name: str = "") -> str:
    """``profile`` as speedscope JSON text (compact; these files get large)."""
    return json.dumps(to_speedscope(profile, name), separators=(",", ":"), ensure_ascii=False)
