"""py-spy samples become CPU seconds from the kernel's counters (recorded real py-spy window)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profkit.bundle.cpu_time import (
    PROCESS_CPU, PROCESS_METRIC, SCALED_PROCESS, SCALED_THREADS, THREAD_CPU, UNSCALED, Window, cpu_seconds_profile,
)
from profkit.formats import load_profile_bytes
from profkit.model import Series

FIXTURE = Path(__file__).parent.parent / "fixtures" / "pyspy-keygen.speedscope.json"
START = 1_000.0


def _decode(raw: bytes):  # type: ignore[no-untyped-def]
    return load_profile_bytes(raw, "fixture", kind="cpu")


def _lookup(series: list[Series]):  # type: ignore[no-untyped-def]
    return lambda name: [s for s in series if s.name == name]


def test_thread_samples_are_scaled_to_that_threads_cpu() -> None:
    data = FIXTURE.read_bytes()
    tid = json.loads(data)["profiles"][0]["name"].split()[1]
    window = Window("pid-1", START, 5.0)
    series = [
        Series(PROCESS_CPU, {"source": "psutil"}, [(START - 0.01, 10.0), (START + 5.05, 11.6)], "t", "pid-1"),
        Series(THREAD_CPU, {"source": "psutil", "tid": tid}, [(START - 0.01, 8.0), (START + 5.05, 9.2)], "t", "pid-1"),
    ]
    profile = cpu_seconds_profile(data, _decode, window, _lookup(series))
    sampled = _decode(data).total
    assert profile.extra["cpu_time"] == SCALED_THREADS
    assert profile.total / 1e9 == pytest.approx(1.2 * 5.0 / 5.06, rel=1e-6)  # the thread's own 1.2 s, window share
    assert float(profile.extra["sampled_seconds"]) == pytest.approx(sampled / 1e9, abs=1e-3)
    # Shares stay py-spy's: the heaviest leaf is the same function.
    top = lambda p: max(p.function_totals()[0].items(), key=lambda kv: kv[1])[0]  # noqa: E731
    assert top(profile) == top(_decode(data))


def test_without_thread_counters_the_window_is_scaled_to_process_cpu() -> None:
    data = FIXTURE.read_bytes()
    window = Window("pod-a", START, 5.0)
    series = [Series(PROCESS_METRIC, {}, [(START - 5 + i, 2.0 + 0.3 * i) for i in range(12)], "t", "pod-a")]
    profile = cpu_seconds_profile(data, _decode, window, _lookup(series))
    assert profile.extra["cpu_time"] == SCALED_PROCESS
    assert profile.total / 1e9 == pytest.approx(1.5, rel=1e-6)  # 0.3 CPU-s per second over 5 s


def test_without_any_cpu_counter_the_profile_is_labelled_wall() -> None:
    data = FIXTURE.read_bytes()
    profile = cpu_seconds_profile(data, _decode, Window("pod-a", START, 5.0), _lookup([]))
    assert profile.extra["cpu_time"] == UNSCALED and profile.sample_type == "wall"
    assert profile.total == pytest.approx(_decode(data).total)
