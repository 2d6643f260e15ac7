"""``--baseline-dir DIR``: the latest bundle in DIR that captured the same targets as NEW."""

from __future__ import annotations

from pathlib import Path

from profkit.bundle.reader import BundleView, open_bundle
from profkit.bundle.schema import DB_NAME
from profkit.compare.engine import run_targets
from profkit.errors import BadInput


def _bundles_under(directory: Path) -> list[Path]:
    """Bundle directories in DIR (DIR itself, its children and grandchildren, e.g. nightly/DATE/bundle)."""
    found = [directory] if (directory / DB_NAME).is_file() else []
    for child in sorted(directory.iterdir()):
        if not child.is_dir():
            continue
        if (child / DB_NAME).is_file():
            found.append(child)
            continue
        found.extend(sorted(g for g in child.iterdir() if g.is_dir() and (g / DB_NAME).is_file()))
    return found


def latest_baseline(directory: Path, new: BundleView) -> BundleView:
    """The most recently started bundle in ``directory`` with the same target set as ``new`` (NEW itself excluded).

    Incomplete captures (status ``running`` or ``interrupted``) are used only when nothing complete matches.
    """
    if not directory.is_dir():
        raise BadInput(f"--baseline-dir {directory}: no such directory")
    wanted = sorted(run_targets(new))
    me = new.directory.resolve()
    complete: list[tuple[float, BundleView]] = []
    partial: list[tuple[float, BundleView]] = []
    for path in _bundles_under(directory):
        if path.resolve() == me:
            continue
        try:
            view = open_bundle(path)
        except BadInput:
            continue
        if sorted(run_targets(view)) != wanted:
            continue
        started = view.time_range()[0]
        (complete if view.status == "complete" else partial).append((started, view))
    pool = complete or partial
    if not pool:
        raise BadInput(f"--baseline-dir {directory}: no bundle with the targets of {new.directory} "
                       f"({', '.join(wanted) or 'none'})")
    return max(pool, key=lambda item: item[0])[1]
