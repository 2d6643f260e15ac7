"""Folded stacks (``root;...;leaf COUNT`` per line), as flamegraph.pl, py-spy and inferno read and write them."""

from __future__ import annotations

import math
import re

from profkit.errors import BadInput
from profkit.model import Frame, Language, Profile, ProfileKind

_LINE = re.compile(r"^(?P<stack>.*\S)\s+(?P<count>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$")
_LOCATED = re.compile(r"^(?P<name>.+) \((?P<file>[^()]+):(?P<line>\d{1,9})\)$")


def looks_folded(text: str) -> bool:
    """True when the first non-empty lines of ``text`` read as folded stacks."""
    lines = [line for line in text.split("\n")[:20] if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a head may be cut
    return bool(lines) and all(_LINE.match(line.strip()) for line in lines)


def parse_frame(text: str) -> Frame:
    """``name (file:line)`` as py-spy writes frames, or a bare function name."""
    located = _LOCATED.match(text)
    if located:
        return Frame(located["name"], located["file"], int(located["line"]))
    return Frame(text)


def read_folded(text: str, source: str = "folded", kind: ProfileKind | None = None) -> Profile:
    """Folded stacks as a Profile. With two counts per line (a differential file) the last one counts.

    Lines are split on ``\n`` only (a frame name may hold any other character); ``#`` lines are
    comments. A count that is not a finite number (``1e999``, hundreds of digits) is BadInput.
    """
    frame_index: dict[str, int] = {}
    frames: list[Frame] = []
    totals: dict[tuple[int, ...], float] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise BadInput(f"{source}:{number}: not a folded stack line (want 'root;...;leaf COUNT')")
        stack_text = match["stack"]
        head, _, before = stack_text.rpartition(" ")
        if head and _is_number(before):  # differential: "stack COUNT_BEFORE COUNT_AFTER"
            stack_text = head.rstrip()
        stack: list[int] = []
        for name in stack_text.split(";"):
            index = frame_index.get(name)
            if index is None:
                index = frame_index[name] = len(frames)
                frames.append(parse_frame(name))
            stack.append(index)
        key = tuple(stack)
        count = float(match["count"])
        total = totals.get(key, 0.0) + count
        if not math.isfinite(total):
            raise BadInput(f"{source}:{number}: count {_short(match['count'])} is too large for a profile")
        totals[key] = total
    if not totals:
        raise BadInput(f"{source}: no stacks in folded file")
    language: Language = "python" if any(f.file.endswith(".py") for f in frames) else "go"
    return Profile(
        frames=frames, stacks=list(totals), weights=list(totals.values()),
        sample_type="samples", unit="count", kind=kind or "cpu", language=language,
        extra={"format": "folded"},
    )


def _short(text: str) -> str:
    return text if len(text) <= 30 else f"{text[:12]}…({len(text)} characters)"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def frame_label(frame: Frame, with_location: bool) -> str:
    """How a frame is written in a folded line (no ``;`` or line breaks inside)."""
    label = f"{frame.name} ({frame.file}:{frame.line})" if with_location and frame.file and frame.line else frame.name
    return label.replace(";", ":").replace("\n", " ").replace("\r", " ")


def format_count(weight: float) -> str:
    """A count as folded files write it: an integer when it is one, else 6 significant digits."""
    if not math.isfinite(weight):
        raise BadInput(f"cannot write folded stacks: a stack weighs {weight}, not a finite number")
    rounded = round(weight)
    return str(int(rounded)) if abs(weight - rounded) < 1e-9 else f"{weight:.6g}"


def write_folded(profile: Profile) -> str:
    """``profile`` as folded text, heaviest stacks first. Python frames keep ``(file:line)``."""
    with_location = profile.language == "python"
    labels = [frame_label(frame, with_location) for frame in profile.frames]
    order = sorted(range(len(profile.stacks)), key=lambda i: -profile.weights[i])
    lines = [
        ";".join(labels[i] for i in profile.stacks[s]) + " " + format_count(profile.weights[s])
        for s in order
        if profile.stacks[s]
    ]
    return "\n".join(lines) + "\n" if lines else ""
