"""A profile as text or a file: the ``go tool pprof -top`` table, or SVG/speedscope/folded/pprof by file suffix."""

from __future__ import annotations

from pathlib import Path

from profkit.errors import BadInput
from profkit.model import Profile

OUTPUT_SUFFIXES = (".svg", ".speedscope.json", ".json", ".folded", ".txt", ".pb.gz", ".pprof")


def short_weight(value: float, unit: str) -> str:
    """Compact weights as ``go tool pprof -top`` prints them: ``637ms``, ``1.76s``, ``12.5MB``."""
    magnitude = abs(value)
    steps: tuple[tuple[float, str], ...]
    if unit == "nanoseconds":
        steps = ((3600e9, "h"), (60e9, "min"), (1e9, "s"), (1e6, "ms"), (1e3, "us"), (1.0, "ns"))
    elif unit == "bytes":
        steps = ((2.0**40, "TB"), (2.0**30, "GB"), (2.0**20, "MB"), (2.0**10, "kB"), (1.0, "B"))
    else:
        return f"{value:.0f}" if magnitude >= 1 or value == 0 else f"{value:.3g}"
    for factor, suffix in steps:
        if magnitude >= factor:
            text = f"{value / factor:.2f}".rstrip("0").rstrip(".")
            return text + suffix
    return "0"


def top_table(profile: Profile, limit: int = 20) -> str:
    """The ``go tool pprof -top`` table: flat, flat%, sum%, cum, cum% and the function name."""
    rows = profile.top(limit)
    total = profile.total
    unit = profile.unit
    header = [
        f"Type: {profile.sample_type} ({profile.kind}, {profile.language})"
        + (f"   Target: {profile.target}" if profile.target else ""),
        f"Total: {short_weight(total, unit)}" + (f" over {profile.duration:.0f}s" if profile.duration else ""),
        f"Showing top {len(rows)} functions by flat",
        f"{'flat':>10} {'flat%':>6} {'sum%':>6} {'cum':>10} {'cum%':>6}  function",
    ]
    lines = header
    running = 0.0
    share = (lambda value: 100.0 * abs(value) / total) if total else (lambda value: 0.0)  # as pprof: of |total|
    for row in rows:
        running += row.flat
        lines.append(
            f"{short_weight(row.flat, unit):>10} {share(row.flat):5.2f}% {share(running):5.2f}% "
            f"{short_weight(row.cum, unit):>10} {share(row.cum):5.2f}%  {row.name}"
        )
    return "\n".join(lines) + "\n"


def write_output(profile: Profile, output: Path, title: str = "") -> None:
    """Write ``profile`` in the format named by ``output``'s suffix."""
    name = output.name.lower()
    if name.endswith(".svg"):
        from profkit.render.flamegraph_svg import render_flamegraph_svg

        data: str | bytes = render_flamegraph_svg(profile, title=title)
    elif name.endswith(".json"):
        from profkit.formats.speedscope import write_speedscope

        data = write_speedscope(profile, name=title)
    elif name.endswith((".folded", ".txt")):
        from profkit.formats.folded import write_folded

        data = write_folded(profile)
    elif name.endswith((".pb.gz", ".pprof")):
        from profkit.formats.pprof import encode_pprof

        data = encode_pprof(profile)
    else:
        raise BadInput(f"-o {output}: unknown output format (use one of {', '.join(OUTPUT_SUFFIXES)})")
    try:
        if isinstance(data, bytes):
            output.write_bytes(data)
        else:
            output.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"-o {output}: cannot write ({exc.strerror or exc})") from None
