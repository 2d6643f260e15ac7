"""flame --diff matches frames by function identity (as the text diff): same code is neutral, a real regression is red where it grew."""

from __future__ import annotations

import json
from pathlib import Path

from profkit.formats import load_profile_bytes, load_profile_file
from profkit.model import Profile
from profkit.render.flame_diff import flame_diff

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _half(document: dict[str, object], parity: int) -> Profile:
    """Every other sample of a recorded real py-spy window: two captures of the very same code."""
    copy = json.loads(json.dumps(document))
    for entry in copy["profiles"]:
        entry["samples"], entry["weights"] = entry["samples"][parity::2], entry["weights"][parity::2]
    return load_profile_bytes(json.dumps(copy).encode(), "half", kind="cpu")


def test_two_captures_of_the_same_python_code_come_out_neutral() -> None:
    document = json.loads((FIXTURES / "pyspy-keygen.speedscope.json").read_bytes())
    base, new = _half(document, 0), _half(document, 1)
    assert len({f.name for f in base.frames}) < len(base.frames)  # one function at several lines: the trap
    diff = flame_diff(base, new)
    marked_new = [i for i, (b, n) in enumerate(zip(diff.base_total, diff.new_total)) if b == 0 and n > 0.01]
    assert marked_new == []
    assert max(abs(n - b) for n, b in zip(diff.new_total, diff.base_total)) < 0.05  # sampling noise only


def test_a_real_regression_is_red_in_the_key_generation_path() -> None:
    base = load_profile_file(FIXTURES / "go-cpu-controller-healthy.pb.gz", kind="cpu")
    new = load_profile_file(FIXTURES / "go-cpu-controller-keygen.pb.gz", kind="cpu")
    diff = flame_diff(base, new)
    names = [new.frames[f].name for f in diff.tree.frame.tolist()]
    grown = {names[i] for i, (b, n) in enumerate(zip(diff.base_total, diff.new_total)) if n - b > 0.10}
    assert "crypto/rsa.GenerateKey" in grown, sorted(grown)
