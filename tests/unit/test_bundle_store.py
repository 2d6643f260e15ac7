"""The bundle keeps what collectors write, readable while and after a capture."""

from pathlib import Path

import pytest

from profkit.bundle import BundleWriter, open_bundle
from profkit.errors import BadInput
from profkit.model import LogRecord, ObjectEvent, Target


def test_points_logs_objects_round_trip(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b", command=["profkit", "capture"])
    writer.add_target(Target("ctl", "endpoint", {"url": "http://127.0.0.1:1"}))
    writer.add_points("ctl", "p1", 10.0, [("go_goroutines", {}, 5.0), ("x_total", {"a": "1"}, 1.0)])
    writer.add_points("ctl", "p1", 15.0, [("go_goroutines", {}, 7.0), ("x_total", {"a": "1"}, 4.0)])
    writer.add_logs([LogRecord(11.0, "ctl", "p1", "Reconciling", object_key="ns/a")])
    writer.add_objects([ObjectEvent(12.0, "widgets", "ns", "a", "deleted")])
    writer.error("ctl", "pprof", "connection refused")
    view = open_bundle(tmp_path / "b")  # readable before close, like after a SIGKILL
    assert view.status == "running"
    [gor] = view.series("go_goroutines")
    assert gor.points == [(10.0, 5.0), (15.0, 7.0)]
    [counter] = view.series("x_total", a="1")
    assert counter.increase() == 3.0
    assert [r.object_key for r in view.logs()] == ["ns/a"]
    assert view.objects()[0].key == "ns/a"
    assert view.events("error")[0].message == "connection refused"
    writer.close("interrupted")
    assert open_bundle(tmp_path / "b").status == "interrupted"


def test_existing_bundle_is_never_overwritten(tmp_path: Path) -> None:
    BundleWriter(tmp_path).close()
    with pytest.raises(BadInput, match="already holds a bundle"):
        BundleWriter(tmp_path)


def test_opening_a_directory_without_bundle_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not a profkit bundle"):
        open_bundle(tmp_path)


def test_log_filters_by_time_and_fields_text_and_counts_per_object(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b")
    writer.add_logs([
        LogRecord(1.0, "ctl", "p1", "Reconciling", object_key="ns/a"),
        LogRecord(2.0, "ctl", "p1", "Reconciler error", object_key="ns/a", fields={"error": 'widgets "a" not found'}),
        LogRecord(3.0, "ctl", "p1", "Reconciler error", object_key="ns/b", fields={"error": "conflict"}),
        LogRecord(4.0, "other", "p2", "Reconciling", object_key="ns/b"),
        LogRecord(5.0, "ctl", "p1", "starting manager"),
    ])
    view = open_bundle(tmp_path / "b")
    assert [r.ts for r in view.logs(since=2.0)] == [3.0, 4.0, 5.0]
    assert [r.ts for r in view.logs(object_keys=["ns/a"], since=1.0)] == [2.0]
    assert [r.ts for r in view.logs(contains="Reconciler error", fields_contains=["NOT FOUND", "gone"])] == [2.0]
    assert view.log_counts_by_object() == [("ns/a", 2), ("ns/b", 2)]
    assert view.log_counts_by_object("ctl") == [("ns/a", 2), ("ns/b", 1)]
    writer.close()


def test_profiles_reports_the_files_it_could_not_read(tmp_path: Path) -> None:
    good = (Path(__file__).parent.parent / "fixtures" / "go-cpu-keygen.pb.gz").read_bytes()
    writer = BundleWriter(tmp_path / "b")
    writer.add_profile("ctl", "pod-0", "cpu", "pprof", good, 1_700_000_000.0, 10.0)
    damaged = writer.add_profile("ctl", "pod-0", "cpu", "pprof", b"\x1f\x8b not gzip", 1_700_000_010.0, 10.0)
    writer.close()
    view = open_bundle(tmp_path / "b")
    assert view.unreadable_profiles() == {}
    loaded = [ref.path for ref, _ in view.profiles("ctl", "cpu")]
    unreadable = view.unreadable_profiles()
    rel = damaged.relative_to(tmp_path / "b").as_posix()
    assert len(loaded) == 1 and list(unreadable) == [rel]
    assert rel in unreadable[rel] or "gzip" in unreadable[rel].lower()
    assert [ref.path for ref, _ in view.profiles()] == loaded and list(view.unreadable_profiles()) == [rel]
