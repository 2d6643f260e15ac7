"""Profile file formats: sniff a file (pprof, speedscope JSON, folded stacks) and load it as a Profile.

Heavy libraries (numpy, protobuf) are imported only when a file is actually decoded, so importing
this package stays cheap for the CLI.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from profkit.errors import BadInput
from profkit.model import Profile, ProfileKind

__all__ = ["load_profile_file", "load_profile_bytes", "sniff_format"]

GZIP_MAGIC = b"\x1f\x8b"


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of ``head``
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch >= " " or ch in "\t\r\n\x0b\x0c" for ch in text)  # no C0 control bytes: protobuf has them


def _first_line(data: bytes, limit: int = 60) -> str:
    line = data.lstrip().split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def sniff_format(data: bytes) -> str:
    """``pprof``, ``speedscope``, ``folded``, ``html`` or ``text`` for (ungzipped) file content."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = head[:512].lower()
    if head.startswith(b"<"):
        return "html" if b"<html" in lowered or b"<!doctype html" in lowered or b"<head" in lowered else "markup"
    if head.startswith((b"{", b"[")):
        return "speedscope"
    if _looks_like_text(data[:4096]):
        from profkit.formats.folded import looks_folded

        return "folded" if looks_folded(data[:4096].decode("utf-8", errors="replace")) else "text"
    return "pprof"


def load_profile_bytes(data: bytes, source: str, kind: ProfileKind | None = None, sample_type: str | None = None) -> Profile:
    """Decode profile bytes of any supported format; ``source`` names them in errors.

    ``kind`` (cpu, heap, goroutine, ...) sets the profile's kind and, for pprof, which sample type
    is used; ``sample_type`` picks a pprof sample type by name (e.g. ``alloc_objects``).
    """
    if not data:
        raise BadInput(f"{source}: empty file, not a profile")
    gzipped = data[:2] == GZIP_MAGIC
    if gzipped:
        from profkit.formats.pprof import gunzip

        data = gunzip(data, source)
        if not data:
            raise BadInput(f"{source}: empty profile (gzip of nothing)")
    data = _utf8(data, source)
    found = sniff_format(data)
    if found == "html":
        raise BadInput(f"{source}: got an HTML page, not a profile ({_first_line(data)})")
    if found == "markup":
        raise BadInput(f"{source}: got XML/markup, not a profile ({_first_line(data)})")
    if found == "text":
        raise BadInput(f"{source}: got text, not a profile: {_first_line(data)!r}")
    if found == "speedscope":
        from profkit.formats.speedscope import read_speedscope

        return read_speedscope(data, source, kind=kind)
    if found == "folded":
        from profkit.formats.folded import read_folded

        return read_folded(data.decode("utf-8", errors="replace"), source, kind=kind)
    from profkit.formats.pprof import decode_pprof

    return decode_pprof(data, source, kind=kind, sample_type=sample_type, gzipped=gzipped)


def _utf8(data: bytes, source: str) -> bytes:
    """Text with a UTF-16 or UTF-32 byte-order mark (Windows editors, PowerShell's ``>``) as UTF-8."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(f"{source}: starts with a {encoding.upper()} byte-order mark but is not "
                               f"{encoding.upper()} text ({exc.reason} at byte {exc.start})") from None
    return data


def load_profile_file(path: Path, kind: ProfileKind | None = None, sample_type: str | None = None) -> Profile:
    """Load a pprof (gzipped or raw), speedscope JSON or folded-stacks file as a Profile.

    Damaged input raises BadInput with one line naming the file and what is wrong.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not a profile file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    return load_profile_bytes(data, str(path), kind=kind, sample_type=sample_type)
