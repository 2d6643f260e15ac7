"""Shared pytest fixtures: paths to recorded real data and a scratch bundle directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def repo_root() -> Path:
    return REPO


def go_available() -> bool:
    return shutil.which("go") is not None
