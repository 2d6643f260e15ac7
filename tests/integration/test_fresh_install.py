"""A wheel installed into a clean venv without the test extras: usage errors are one line, never a traceback."""

from __future__ import annotations

import ast
import json
import os
import sqlite3
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FreshInstall:
    """The clean venv: its python and its ``profkit`` console script."""

    python: Path
    profkit: Path


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> FreshInstall:
    """Build the wheel (no deps), make a venv with nothing but pip, install the wheel (deps from the index)."""
    root = tmp_path_factory.mktemp("fresh-install")
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
                   check=True, timeout=600)
    (wheel,) = wheels.glob("profkit-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)  # the test's pip installs into it (--python): no ensurepip, no pip inside
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--disable-pip-version-check", str(wheel)], check=True, timeout=900)
    return FreshInstall(python, env_dir / "bin" / "profkit")


def run(fresh: FreshInstall, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(fresh.profkit), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PROFKIT_DEBUG": "", **(env or {})}, cwd=fresh.python.parent)


def test_the_clean_venv_has_no_test_extras_and_no_click(fresh: FreshInstall) -> None:
    probe = subprocess.run([str(fresh.python), "-c", "import importlib.util as u, json; print(json.dumps("
                            "[m for m in ('click', 'pytest', 'mypy', 'hypothesis') if u.find_spec(m)]))"],
                           capture_output=True, text=True, check=True)
    assert json.loads(probe.stdout) == []


USAGE_ERRORS = {
    "analyze without a bundle": (["analyze"], "Missing argument"),
    "plan without --objects": (["plan"], "--objects"),
    "an unknown flag": (["analyze", "run1", "--no-such-flag"], "--no-such-flag"),
    "flame --top 0": (["flame", "x", "--top", "0"], "--top"),
    "an unknown command": (["nosuchcmd"], "nosuchcmd"),
    "a missing bundle directory": (["analyze", "/nonexistent/bundle"], "/nonexistent/bundle"),
    "a bad --fail-on": (["compare", "a", "b", "--fail-on", "fatal"], "--fail-on"),
    "an endpoint with nothing listening": (["capture", "--endpoint", "http://127.0.0.1:9", "--out", "/nonexistent/b"],
                                           "nothing is listening at 127.0.0.1:9"),
    "a log file that does not exist": (["capture", "--log-file", "/nonexistent/kcp.log", "--out", "/nonexistent/b"],
                                       "/nonexistent/kcp.log: no such file"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_error_is_one_line_on_stderr_and_exit_2(fresh: FreshInstall, case: str) -> None:
    args, named = USAGE_ERRORS[case]
    result = run(fresh, *args)
    assert result.returncode == 2, (case, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("profkit: "), result.stderr
    assert named in result.stderr
    assert result.stdout == ""


def _bundle_without_tables(directory: Path) -> Path:
    """A bundle whose database has a meta table and nothing else: readers fail in a way no check foresaw."""
    directory.mkdir()
    db = sqlite3.connect(directory / "profkit.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()
    return directory


def test_an_internal_error_is_one_line_exit_70_and_the_traceback_is_behind_debug(
        fresh: FreshInstall, tmp_path: Path) -> None:
    bundle = _bundle_without_tables(tmp_path / "broken")
    plain = run(fresh, "report", str(bundle))
    assert plain.returncode == 70, plain.stderr
    assert "Traceback" not in plain.stderr and plain.stderr.count("\n") == 1
    assert plain.stderr.startswith("profkit: internal error: OperationalError: ")
    assert "--debug" in plain.stderr and "please report" in plain.stderr
    for debug in (run(fresh, "--debug", "report", str(bundle)), run(fresh, "report", str(bundle),
                                                                     env={"PROFKIT_DEBUG": "1"})):
        assert debug.returncode == 70
        assert "Traceback (most recent call last)" in debug.stderr and "sqlite3.OperationalError" in debug.stderr


def test_help_and_version_work_without_click(fresh: FreshInstall) -> None:
    version = run(fresh, "--version")
    assert version.returncode == 0 and version.stdout.startswith("profkit ")
    helped = run(fresh, "capture", "--help")
    assert helped.returncode == 0 and "--endpoint" in helped.stdout and helped.stderr == ""


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "profkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("profkit", "__future__")}


def test_every_imported_library_is_a_declared_dependency(fresh: FreshInstall) -> None:
    """Each top-level package profkit imports belongs to a distribution profkit's metadata requires."""
    script = (
        "import importlib.metadata as m, json, re, sys\n"
        "owners = m.packages_distributions()\n"
        "declared = {re.split(r'[<>=!~ ;\\[]', r)[0].lower().replace('_', '-') for r in m.requires('profkit')"
        " if 'extra ==' not in r}\n"
        "modules = json.loads(sys.argv[1])\n"
        "print(json.dumps({mod: [d.lower().replace('_', '-') for d in owners.get(mod, [])] for mod in modules}"
        " | {'': sorted(declared)}))\n"
    )
    probe = subprocess.run([str(fresh.python), "-c", script, json.dumps(sorted(_third_party_imports()))],
                           capture_output=True, text=True, check=True)
    found = json.loads(probe.stdout)
    declared = set(found.pop(""))
    undeclared = {mod: dists for mod, dists in found.items() if not declared & set(dists)}
    assert not undeclared, f"imported but not declared in pyproject dependencies: {undeclared}"


def test_every_profkit_module_imports_in_the_clean_venv(fresh: FreshInstall) -> None:
    script = ("import importlib, pkgutil, profkit\n"
              "for m in pkgutil.walk_packages(profkit.__path__, 'profkit.'):\n"
              "    importlib.import_module(m.name)\n"
              "print('ok')\n")
    probe = subprocess.run([str(fresh.python), "-c", script], capture_output=True, text=True,
                           cwd=fresh.python.parent)
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", probe.stderr
