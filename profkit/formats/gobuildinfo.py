"""Go build info embedded in an executable (what ``go version -m`` prints): Go version, main module, dependencies."""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"\xff Go buildinf:"
HEADER = 32  # magic (14), pointer size (1), flags (1), then 16 bytes before the inline strings
FLAG_VERSION_INLINE = 0x2  # Go >= 1.18: version and module info follow the header as varint-length strings
SENTINEL = 16  # runtime/debug wraps the module info in 16 bytes on each side


@dataclass(frozen=True)
class GoBuildInfo:
    """The fields of ``runtime/debug.BuildInfo`` profkit uses."""

    go_version: str
    path: str  # the main package, e.g. sigs.k8s.io/cluster-api/controlplane/kubeadm
    main: tuple[str, str]  # (module path, version); version "(devel)" for a build from a work tree
    deps: dict[str, str] = field(default_factory=dict)  # module path -> version, replacements applied

    def module_version(self, module: str) -> str | None:
        """The version of ``module`` in this binary: the main module's or a dependency's."""
        if self.main[0] == module:
            return self.main[1]
        return self.deps.get(module)

    def as_dict(self) -> dict[str, object]:
        return {"go_version": self.go_version, "path": self.path, "main": list(self.main), "deps": dict(self.deps)}


def _varint(data: bytes | mmap.mmap, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _string(data: bytes | mmap.mmap, at: int) -> tuple[bytes, int]:
    length, at = _varint(data, at)
    if at + length > len(data):
        raise ValueError("string past the end")
    return bytes(data[at:at + length]), at + length


def parse_modinfo(go_version: str, text: str) -> GoBuildInfo:
    """The ``path``/``mod``/``dep``/``=>`` lines of runtime/debug's module info (as ``go version -m`` prints them)."""
    path, main, deps, last = "", ("", ""), {}, ""
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[0] == "path" and len(parts) > 1:
            path = parts[1]
        elif parts[0] == "mod" and len(parts) > 2:
            main = (parts[1], parts[2])
        elif parts[0] == "dep" and len(parts) > 2:
            deps[parts[1]] = parts[2]
            last = parts[1]
        elif parts[0] == "=>" and len(parts) > 2 and last:
            deps[last] = parts[2]  # a replacement: the version actually built in
    return GoBuildInfo(go_version, path, main, deps)


def read_build_info(executable: Path) -> GoBuildInfo | None:
    """The build info of a Go executable; None for anything else (not Go, Go < 1.18, unreadable)."""
    try:
        with executable.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = data.find(MAGIC)
            while at >= 0 and at % 16:  # the section is 16-byte aligned; skip the magic's other occurrences
                at = data.find(MAGIC, at + 1)
            if at < 0 or at + HEADER > len(data) or not data[at + 15] & FLAG_VERSION_INLINE:
                return None
            go_version, after = _string(data, at + HEADER)
            modinfo, _ = _string(data, after)
    except (OSError, ValueError):
        return None
    if len(modinfo) >= 2 * SENTINEL + 1 and modinfo[-SENTINEL - 1:-SENTINEL] == b"\n":
        modinfo = modinfo[SENTINEL:-SENTINEL]
    version = go_version.decode(errors="replace")
    return parse_modinfo(version, modinfo.decode(errors="replace")) if version.startswith("go") else None
