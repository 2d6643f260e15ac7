"""Which language a controller container runs (so which profiler it gets): catalog, command, image, or an exec probe."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from profkit.catalog import CollectorSpec
from profkit.model import Language
from profkit.kube.endpoints import PPROF_NAMES

Evidence = Literal["catalog", "command", "image", "ports", "exec probe", "default"]
#: Programs that mean a Python process when they start the container (``python3.12``, ``kopf run``, ...).
PYTHON_PROGRAMS = re.compile(r"^(python[0-9.]*|pypy[0-9.]*|kopf|uvicorn|gunicorn|hypercorn|celery|daphne)$")
#: Words of an image name that mean Python (``python:3.12-slim``, ``example-python-controller``, ``kopf-op``).
PYTHON_IMAGE_WORDS = frozenset({"python", "python3", "pypy", "kopf", "py"})
PID_ENV = "PROFKIT_PYSPY_PID"  # the process py-spy profiles (default 1); the probe looks at the same one


@dataclass(frozen=True)
class LanguageChoice:
    """A container's language and why profkit thinks so, as said on the terminal and stored in the bundle."""

    language: Language
    evidence: Evidence
    reason: str

    @property
    def profiler(self) -> str:
        return "py-spy" if self.language == "python" else "pprof"

    def as_dict(self) -> dict[str, str]:
        return {"language": self.language, "evidence": self.evidence, "reason": self.reason,
                "profiler": self.profiler}


def _program(arg: str) -> str:
    return arg.rsplit("/", 1)[-1]


def from_command(container: dict[str, Any]) -> LanguageChoice | None:
    """Python when the command or args start a Python interpreter or server, or name a ``*.py`` script."""
    words = [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]
    for word in words:
        for part in word.split():  # ``sh -c "python -m op"`` keeps the program inside one argument
            program = _program(part)
            if PYTHON_PROGRAMS.match(program) or (program.endswith(".py") and len(program) > 3):
                return LanguageChoice("python", "command", f"container command runs {program}")
    return None


def from_image(container: dict[str, Any]) -> LanguageChoice | None:
    """Python when a word of the image's repository name says so (``python``, ``kopf``, ``py``); the tag is ignored."""
    image = str(container.get("image") or "")
    repository = image.split("@", 1)[0]
    slash = repository.rfind("/")
    colon = repository.rfind(":")
    name = repository[:colon] if colon > slash else repository
    if set(re.split(r"[/._:-]+", name.lower())) & PYTHON_IMAGE_WORDS:
        return LanguageChoice("python", "image", f"image {image} names Python")
    return None


def from_ports(container: dict[str, Any]) -> LanguageChoice | None:
    """Go when the container declares a pprof port (Go's net/http/pprof)."""
    for entry in container.get("ports") or []:
        name = str(entry.get("name") or "")
        if name in PPROF_NAMES:
            return LanguageChoice("go", "ports", f"container declares pprof port {name}")
    return None


def detect(container: dict[str, Any] | None, spec: CollectorSpec | None) -> LanguageChoice:
    """The catalog's word first, then the container's command and args, then its image; else Go (pprof)."""
    if spec is not None:
        return LanguageChoice(spec.language, "catalog", f"catalog entry {spec.alias} says language: {spec.language}")
    if container is not None:
        found = from_command(container) or from_image(container) or from_ports(container)
        if found is not None:
            return found
    return LanguageChoice("go", "default", "no Python interpreter in the container's command, args or image")


def probe_command() -> list[str]:
    """What the exec probe runs: the executable of the profiled process (``$PROFKIT_PYSPY_PID``, default 1)."""
    return ["sh", "-c", f'readlink /proc/${{{PID_ENV}:-1}}/exe 2>/dev/null || '
                        f'tr "\\0" " " < /proc/${{{PID_ENV}:-1}}/cmdline 2>/dev/null']


def from_probe(output: str) -> LanguageChoice | None:
    """Python when the probe names a Python executable; None when it printed nothing useful."""
    words = output.strip().split()
    if not words:
        return None
    program = _program(words[0])
    if PYTHON_PROGRAMS.match(program):
        return LanguageChoice("python", "exec probe", f"the container's process runs {words[0]}")
    return LanguageChoice("go", "exec probe", f"the container's process runs {words[0]}, not Python")
