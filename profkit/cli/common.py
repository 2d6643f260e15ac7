"""What several commands share: the ``--fail-on`` severity option (from ``model.SEVERITIES``) and output paths."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from profkit.errors import BadInput
from profkit.model import SEVERITIES

SEVERITY_METAVAR = "|".join(SEVERITIES)


def check_severity(flag: str, value: Optional[str]) -> Optional[str]:
    """``value`` if it names a severity (or is None), else a one-line BadInput naming the flag."""
    if value is not None and value not in SEVERITIES:
        raise BadInput(f"{flag} {value!r}: use {', '.join(SEVERITIES[:-1])} or {SEVERITIES[-1]}")
    return value


def output_file(path: Path, flag: str) -> Path:
    """A file the command may write: not a directory, in a directory that exists."""
    if path.exists() and path.is_dir():
        raise BadInput(f"{flag} {path}: is a directory")
    if not path.parent.is_dir():
        raise BadInput(f"{flag} {path}: directory {path.parent} does not exist")
    return path
