"""The layers and the "imported only in" rules of README are import-linter contracts that run in the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter (``lint-imports``) on the ``profkit`` package found under ``root``, with the repo's contracts."""
    command = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(command), "--config", str(REPO / ".importlinter"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_contracts_hold() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def test_a_forbidden_import_breaks_the_contracts(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profkit", tmp_path / "profkit", ignore=shutil.ignore_patterns("__pycache__"))
    model = tmp_path / "profkit" / "model" / "series.py"
    model.write_text(model.read_text() + "\nimport sqlite3  # noqa: E402,F401\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sqlite3 is imported only in profkit.bundle BROKEN" in done.stdout
    assert "profkit.model.series -> sqlite3" in done.stdout
