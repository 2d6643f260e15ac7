"""Writing files whole: ``atomic_write`` (a reader sees the old file or the new one, never half of it)."""

from __future__ import annotations

from pathlib import Path


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through ``path.part`` renamed over it; text is UTF-8."""
    tmp = path.with_name(path.name + ".part")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)
    return path
