"""``profkit flame``: a flame graph (SVG, speedscope, folded, pprof) or a top table from a profile or a bundle."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from profkit.errors import BadInput

if TYPE_CHECKING:
    from profkit.model import Profile, ProfileKind

EXAMPLES = """
Examples:

  profkit flame cpu.pb.gz --top 30

  profkit flame run1 -o cpu.svg

  profkit flame run1 --kind heap --target kcp -o heap.speedscope.json

  profkit flame pyspy.speedscope.json -o stacks.folded

  profkit flame --diff base-run new-run -o diff.svg   # red grew, blue shrank

  profkit flame --diff before.pb.gz after.pb.gz      # functions whose share changed most

Without -o it prints the top functions like go tool pprof -top. A bundle directory
(run1) is merged over all its windows and replicas.
"""

KINDS: tuple[ProfileKind, ...] = ("cpu", "heap", "allocs", "goroutine", "mutex", "block", "wall")


def kind_option(kind: Optional[str]) -> Optional[ProfileKind]:
    """The profile kind ``--kind`` names (None when not given); BadInput for anything else."""
    profile_kind = next((k for k in KINDS if k == kind), None)
    if kind is not None and profile_kind is None:
        raise BadInput(f"--kind {kind!r}: unknown kind (use one of {', '.join(KINDS)})")
    return profile_kind


def load_input(source: Path, kind: Optional[ProfileKind], target: Optional[str], sample_type: Optional[str] = None) -> Profile:
    """A profile file, or a bundle directory's profiles of ``kind`` merged over windows and replicas."""
    if source.is_dir():
        from profkit.bundle import open_bundle

        wanted = kind or "cpu"
        profile = open_bundle(source).merged_profile(target, wanted)
        if profile is None:
            where = f" of target {target}" if target else ""
            raise BadInput(f"{source}: no readable {wanted} profiles{where} in this bundle")
        return profile
    if not source.exists():
        raise BadInput(f"{source}: no such file or bundle directory")
    from profkit.formats import load_profile_file

    profile = load_profile_file(source, kind=kind, sample_type=sample_type)
    if target:
        profile.target = target
    return profile


def _diff(base_source: Path, new_source: Path, output: Optional[Path], kind: Optional[ProfileKind], target: Optional[str],
          sample_type: Optional[str], top: int) -> None:
    from profkit.render.flame_diff import diff_folded, diff_table, render_diff_svg

    base = load_input(base_source, kind, target, sample_type)
    new = load_input(new_source, kind, target, sample_type)
    if output is None:
        sys.stdout.write(diff_table(base, new, top))
        return
    name = output.name.lower()
    if name.endswith(".svg"):
        title = f"{base_source.name} → {new_source.name}" + (f" {new.kind}" if new.kind else "")
        data = render_diff_svg(base, new, title=title)
    elif name.endswith((".folded", ".txt")):
        data = diff_folded(base, new)
    else:
        raise BadInput(f"-o {output}: a differential flame graph is written as FILE.svg or FILE.folded")
    try:
        output.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"-o {output}: cannot write ({exc.strerror or exc})") from None


def flame(
    source: Path = typer.Argument(..., metavar="PROFILE|DIR", help="pprof (.pb.gz), speedscope JSON, folded file or bundle directory."),
    new: Optional[Path] = typer.Argument(None, metavar="NEW", show_default=False,
                                         help="With --diff: the newer profile or bundle, compared with the first."),
    diff: bool = typer.Option(False, "--diff", help="Differential flame graph BASE NEW (normalised by each total)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="FILE.svg, FILE.speedscope.json, FILE.folded or FILE.pb.gz; without it, print the top table."),
    kind: Optional[str] = typer.Option(None, "--kind", help="cpu | heap | allocs | goroutine | mutex | block | wall (bundles: default cpu)."),
    target: Optional[str] = typer.Option(None, "--target", help="Only this target of a bundle."),
    top: int = typer.Option(20, "--top", min=1, help="Rows in the top table."),
    sample_type: Optional[str] = typer.Option(None, "--sample-type", help="pprof sample type to use, e.g. alloc_objects."),
) -> None:
    """Flame graph or top table from a profile file or a bundle (merged over windows and replicas)."""
    profile_kind = kind_option(kind)
    if diff or new is not None:
        if not diff or new is None:
            raise BadInput("two profiles are compared with --diff BASE NEW")
        _diff(source, new, output, profile_kind, target, sample_type, top)
        return
    from profkit.render.profile_output import top_table, write_output

    profile = load_input(source, profile_kind, target, sample_type)
    if output is None:
        sys.stdout.write(top_table(profile, top))
        return
    title = " ".join(x for x in (source.name, profile.target, profile.kind) if x)
    write_output(profile, output, title=title)
    if sys.stderr.isatty():
        print(f"wrote {output}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("flame", help="Flame graph (SVG, speedscope, folded) or top table from a profile or bundle." + EXAMPLES)(flame)
