"""Files: ``atomic_write`` (a reader sees the old file or the new one, never half of it) and YAML input files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profkit.errors import BadInput


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through ``path.part`` renamed over it; text is UTF-8."""
    tmp = path.with_name(path.name + ".part")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)
    return path


def parse_yaml(text: str, where: str) -> Any:
    """One YAML document; invalid YAML is a one-line BadInput naming ``where`` and the first problem."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadInput(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None


def load_yaml_file(path: Path, flag: str) -> Any:
    """The YAML document in the file a flag names (``--rules FILE``); errors say ``FLAG FILE: what``."""
    where = f"{flag} {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{where}: cannot read ({exc.strerror or exc})") from None
    return parse_yaml(text, where)
