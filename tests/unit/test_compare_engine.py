"""compare_bundles on runs written with BundleWriter and on the recorded real Go profiles."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from profkit.bundle import BundleView
from profkit.compare import CompareOptions, compare_bundles
from profkit.compare.findings import finding_changes
from profkit.compare.metrics import METRIC_IDS, target_metrics
from profkit.compare.engine import pair_targets
from profkit.compare.model import Comparison, TargetPair
from profkit.compare.windows import auto_window, slices
from profkit.errors import BadInput
from profkit.model import Finding
from tests.unit.compare_runs import RunSpec, write_run

FIXTURES = Path(__file__).parent.parent / "fixtures"
NO_FINDINGS = CompareOptions(run_findings=False)


def statuses(c: Comparison) -> dict[str, str]:
    return {m.metric.id: m.status for t in c.targets for m in t.metrics}


def test_windows_cover_the_capture_in_equal_slices(tmp_path: Path) -> None:
    view = write_run(tmp_path / "a", RunSpec(duration=300, step=5), seed=1)
    width = auto_window([view])
    assert width == 15.0  # 300 s / 20 windows, above two scrapes
    windows = slices(view, width)
    assert len(windows) == 20 and windows[0][1] - windows[0][0] == 15.0


def test_metrics_read_back_what_the_run_did(tmp_path: Path) -> None:
    spec = RunSpec(reconcile_rate=4.0, cpu_per_reconcile=0.004, idle_cores=0.0, requeue_rate=1.0,
                   reconcile_seconds=0.02, memory_bytes=64e6, goroutines=80, calls_per_reconcile=2.0, noise=0.0,
                   objects_ready_after=3.0, throttle_waits=[(20.0, 1.5), (40.0, 0.5)])
    view = write_run(tmp_path / "a", spec, seed=1)
    m = target_metrics(view, "ctl", slices(view, 15.0))
    assert m["cpu_per_reconcile"].value == pytest.approx(0.004, rel=0.01)
    assert m["cpu_cores"].value == pytest.approx(0.02, rel=0.01)
    assert m["reconcile_rate"].value == pytest.approx(5.0, rel=0.01)
    assert m["requeue_rate"].value == pytest.approx(1.0, rel=0.01)
    assert 0.01 < m["reconcile_p50_seconds"].value < 0.025  # type: ignore[operator]
    assert m["api_requests_per_reconcile"].value == pytest.approx(2.0, rel=0.01)
    assert m["memory_peak_bytes"].value == pytest.approx(64e6, rel=0.05)
    assert m["goroutines"].value == pytest.approx(80, abs=2)
    assert m["time_to_ready_p50_seconds"].value == pytest.approx(3.0, rel=0.01)
    assert m["throttling_wait_per_second"].value == pytest.approx(2.0 / 300, rel=0.01)
    assert len(m["cpu_cores"].samples) == 20
    assert set(m) <= set(METRIC_IDS)


@pytest.mark.parametrize("pair", range(8))
def test_two_runs_of_the_same_controller_show_no_significant_change(tmp_path: Path, pair: int) -> None:
    spec = RunSpec(objects_ready_after=4.0, requeue_rate=0.5, error_rate=0.1)
    base = write_run(tmp_path / "a", spec, seed=100 + 2 * pair)
    new = write_run(tmp_path / "b", spec, seed=101 + 2 * pair)
    c = compare_bundles(base, new, NO_FINDINGS)
    assert not [m for t in c.targets for m in t.metrics if m.status in ("regressed", "improved", "changed")], \
        [(m.metric.id, m.p_value, m.relative) for t in c.targets for m in t.metrics]


def test_cpu_per_reconcile_regression_is_flagged_critical_when_doubled(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(), seed=1)
    new = write_run(tmp_path / "b", RunSpec(cpu_per_reconcile=0.150), seed=2)  # one RSA key per reconcile
    c = compare_bundles(base, new, NO_FINDINGS)
    cpu = c.targets[0].metric("cpu_per_reconcile")
    assert cpu is not None and cpu.status == "regressed" and cpu.severity == "critical"
    assert cpu.p_value is not None and cpu.p_value < 0.01
    assert statuses(c)["reconcile_rate"] == "unchanged"


def test_requeue_regression_is_flagged_from_zero(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(), seed=1)
    new = write_run(tmp_path / "b", RunSpec(requeue_rate=2.5), seed=2)
    c = compare_bundles(base, new, NO_FINDINGS)
    requeue = c.targets[0].metric("requeue_rate")
    assert requeue is not None and requeue.status == "regressed" and requeue.severity == "warning"
    assert requeue.relative is None and requeue.change == pytest.approx(2.5, rel=0.1)
    assert statuses(c)["reconcile_rate"] == "changed"  # neither better nor worse by itself


def test_lower_cpu_is_an_improvement(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(cpu_per_reconcile=0.02), seed=1)
    new = write_run(tmp_path / "b", RunSpec(cpu_per_reconcile=0.004), seed=2)
    assert statuses(compare_bundles(base, new, NO_FINDINGS))["cpu_per_reconcile"] == "improved"


def test_short_runs_are_untested_not_alarming(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(duration=10, step=5), seed=1)
    new = write_run(tmp_path / "b", RunSpec(duration=10, step=5, cpu_per_reconcile=0.15), seed=2)
    assert statuses(compare_bundles(base, new, NO_FINDINGS))["cpu_per_reconcile"] == "untested"


def _declare(bundle: Path, name: str, kind: str = "endpoint", spec: dict[str, str] | None = None) -> BundleView:
    """Declare (or re-declare) a target in a written bundle, as a capture of several targets does, and open the
    bundle anew: a BundleView reads a closed bundle as immutable, so a view opened before the change keeps its
    snapshot."""
    with sqlite3.connect(bundle / "profkit.db") as db:
        db.execute("INSERT OR REPLACE INTO targets (name, kind, spec) VALUES (?, ?, ?)",
                   (name, kind, json.dumps(spec or {})))
    return BundleView(bundle)


def test_bundles_of_different_controllers_are_bad_input(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(), seed=1, target="kcp")
    new = write_run(tmp_path / "b", RunSpec(), seed=2, target="capi")
    new = _declare(tmp_path / "b", "cabpk")
    with pytest.raises(BadInput, match="different controllers: .* has kcp; .* has cabpk, capi .*--pair"):
        compare_bundles(base, new, NO_FINDINGS)


def test_targets_pair_by_pair_then_name_then_deployment_then_one_each_side(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(), seed=1, target="kcp")
    new = write_run(tmp_path / "b", RunSpec(), seed=2, target="kcp-controller-manager")
    assert pair_targets(base, new) == [TargetPair("kcp", "kcp-controller-manager", "one target each side")]
    deployment = {"deployment": "capi-kubeadm-control-plane-controller-manager", "namespace": "capi-system"}
    _declare(tmp_path / "a", "kcp", "deployment", deployment)
    _declare(tmp_path / "b", "kcp-controller-manager", "deployment", deployment)
    base = _declare(tmp_path / "a", "etcd")
    _declare(tmp_path / "b", "etcd")
    new = _declare(tmp_path / "b", "webhook", "deployment", {**deployment, "namespace": "other"})
    assert pair_targets(base, new) == [TargetPair("etcd", "etcd", "same name"),
                                       TargetPair("kcp", "kcp-controller-manager", "same Deployment")]
    assert pair_targets(base, new, [("kcp", "webhook")]) == [
        TargetPair("etcd", "etcd", "same name"), TargetPair("kcp", "webhook", "--pair")]
    with pytest.raises(BadInput, match="--pair kcp=etcd: kcp or etcd is already paired"):
        pair_targets(base, new, [("etcd", "etcd"), ("kcp", "etcd")])


def test_a_pair_with_different_names_compares_under_the_new_name(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(), seed=1, target="127.0.0.1:6060")
    new = write_run(tmp_path / "b", RunSpec(cpu_per_reconcile=0.15), seed=2, target="127.0.0.1:7070")
    result = compare_bundles(base, new, NO_FINDINGS)
    (target,) = result.targets
    assert (target.target, target.base_target, target.paired_by) == (
        "127.0.0.1:7070", "127.0.0.1:6060", "one target each side")
    cpu = target.metric("cpu_per_reconcile")
    assert cpu is not None and cpu.status == "regressed" and cpu.base.value is not None
    assert result.only_in_base == [] and result.only_in_new == []


def test_a_target_without_any_data_is_bad_input_naming_it(tmp_path: Path) -> None:
    from profkit.bundle import BundleWriter, open_bundle
    from profkit.model import Target

    base = write_run(tmp_path / "a", RunSpec(), seed=1)
    w = BundleWriter(tmp_path / "b")
    w.add_target(Target("ctl", "endpoint", {}))
    w.close()
    with pytest.raises(BadInput, match="NEW .*: target ctl has no metrics and no profiles"):
        compare_bundles(base, open_bundle(tmp_path / "b"), NO_FINDINGS)


def test_metrics_only_in_one_run_are_missing(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(), seed=1)
    new = write_run(tmp_path / "b", RunSpec(objects_ready_after=2.0), seed=2)
    c = compare_bundles(base, new, NO_FINDINGS)
    ready = c.targets[0].metric("time_to_ready_p50_seconds")
    assert ready is not None and ready.status == "missing" and ready.reason == "no data in base"


def finding(fid: str, severity: str, target: str = "ctl") -> Finding:
    return Finding(fid, severity, target, f"{fid} title")


def test_finding_changes_classify_new_grown_persisting_reduced_resolved() -> None:
    base = [finding("a", "warning"), finding("b", "info"), finding("c", "warning"), finding("d", "critical"),
            finding("analyzer-error", "info")]
    new = [finding("a", "warning"), finding("b", "critical"), finding("d", "warning"), finding("e", "warning"),
           finding("e", "info")]
    got = {(c.id, c.status, c.base_severity, c.new_severity) for c in finding_changes(base, new)}
    assert got == {("e", "new", None, "warning"), ("b", "grown", "info", "critical"),
                   ("a", "persisting", "warning", "warning"), ("d", "reduced", "critical", "warning"),
                   ("c", "resolved", "warning", None)}
    assert [c.status for c in finding_changes(base, new)][:2] == ["new", "grown"]


def test_real_profiles_top_grown_function_is_in_the_key_generation_path(tmp_path: Path) -> None:
    healthy = (FIXTURES / "go-cpu-healthy.pb.gz").read_bytes()
    keygen = (FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()
    base = write_run(tmp_path / "a", RunSpec(duration=300), seed=1, profiles=[healthy] * 3)
    new = write_run(tmp_path / "b", RunSpec(duration=300), seed=2, profiles=[keygen] * 3)
    c = compare_bundles(base, new, NO_FINDINGS)
    t = c.targets[0]
    assert t.normalised_per == "reconcile"
    top = t.functions[0]
    assert any("crypto/rsa.GenerateKey" in frame for frame in top.path), top
    assert "crypto/rsa.GenerateKey" in top.called_from and "main.newPrivateKey" in top.called_from
    assert top.base_self == 0.0 and top.new_self > 0
    assert all(a.growth >= b.growth for a, b in zip(t.functions, t.functions[1:]))
    # Normalised per reconcile: the same reconcile rate in both runs, so growth is CPU seconds per reconcile.
    assert top.growth == pytest.approx(top.new_self)


def test_the_same_profiles_in_both_runs_grow_nothing(tmp_path: Path) -> None:
    keygen = (FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()
    base = write_run(tmp_path / "a", RunSpec(), seed=1, profiles=[keygen])
    new = write_run(tmp_path / "b", RunSpec(), seed=2, profiles=[keygen])
    c = compare_bundles(base, new, NO_FINDINGS)
    # Reconcile counts differ by noise only: no function grows by more than that noise.
    assert all(f.growth < 0.1 * f.new_self for f in c.targets[0].functions)


def test_analyzers_run_on_both_runs_and_the_keygen_finding_is_new(tmp_path: Path) -> None:
    healthy = (FIXTURES / "go-cpu-healthy.pb.gz").read_bytes()
    keygen = (FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()
    base = write_run(tmp_path / "a", RunSpec(), seed=1, profiles=[healthy])
    new = write_run(tmp_path / "b", RunSpec(), seed=2, profiles=[keygen])
    c = compare_bundles(base, new)
    new_ids = {f.id for f in c.findings if f.status == "new"}
    assert "repeated-key-generation" in new_ids


def test_replicas_scraped_at_different_instants_are_summed(tmp_path: Path) -> None:
    from profkit.bundle import BundleWriter, open_bundle
    from profkit.model import Target

    w = BundleWriter(tmp_path / "r")
    w.add_target(Target("ctl", "deployment", {}))
    w.set_meta(started=repr(1000.0))
    for i in range(61):
        w.add_points("ctl", "pod-a", 1000.0 + 5 * i, [("process_resident_memory_bytes", {}, 100e6)])
        w.add_points("ctl", "pod-b", 1002.7 + 5 * i, [("process_resident_memory_bytes", {}, 50e6)])
    w.close()
    import sqlite3

    db = sqlite3.connect(tmp_path / "r" / "profkit.db")
    db.execute("UPDATE meta SET value=? WHERE key='ended'", (repr(1300.0),))
    db.commit()
    db.close()
    view = open_bundle(tmp_path / "r")
    m = target_metrics(view, "ctl", slices(view, 15.0))
    assert m["memory_median_bytes"].value == pytest.approx(150e6)
    assert m["memory_peak_bytes"].value == pytest.approx(150e6)


def test_a_quiet_log_is_zero_throttling_not_missing(tmp_path: Path) -> None:
    from profkit.bundle import BundleWriter, open_bundle
    from profkit.model import Target

    import time

    start = time.time() - 100  # close() stamps the end with the wall clock
    for name, spec in (("logs", {"log_files": ["/var/log/ctl.log"]}), ("none", {})):
        w = BundleWriter(tmp_path / name)
        w.set_meta(started=repr(start))
        w.add_target(Target("ctl", "endpoint", spec))
        for i in range(20):
            w.add_points("ctl", "pod-0", start + 5 * i, [("go_goroutines", {}, 50.0)])
        w.close()
    with_logs, without = open_bundle(tmp_path / "logs"), open_bundle(tmp_path / "none")
    assert target_metrics(with_logs, "ctl", slices(with_logs, 10.0))["throttling_wait_per_second"].value == 0.0
    assert "throttling_wait_per_second" not in target_metrics(without, "ctl", slices(without, 10.0))


def test_a_four_fold_requeue_rate_over_90_seconds_is_a_regression(tmp_path: Path) -> None:
    """BMO before/after its fix: requeues 0.17/s vs 0.67/s, 90 s captures."""
    base = write_run(tmp_path / "a", RunSpec(duration=90, requeue_rate=0.17), seed=3)
    new = write_run(tmp_path / "b", RunSpec(duration=90, requeue_rate=0.67), seed=4)
    c = compare_bundles(base, new, NO_FINDINGS)
    [requeue] = [m for t in c.targets for m in t.metrics if m.metric.id == "requeue_rate"]
    assert requeue.status == "regressed" and requeue.severity == "critical"
    assert requeue.p_value is not None and requeue.p_value < 1e-4
    assert "rate test" in requeue.reason


def test_the_same_requeue_rate_over_90_seconds_is_unchanged(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(duration=90, requeue_rate=0.17), seed=5)
    new = write_run(tmp_path / "b", RunSpec(duration=90, requeue_rate=0.17), seed=6)
    c = compare_bundles(base, new, NO_FINDINGS)
    [requeue] = [m for t in c.targets for m in t.metrics if m.metric.id == "requeue_rate"]
    assert requeue.status == "unchanged", requeue.reason


def test_a_capture_too_short_for_the_rate_test_says_so(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", RunSpec(duration=10, requeue_rate=0.17), seed=7)
    new = write_run(tmp_path / "b", RunSpec(duration=10, requeue_rate=0.67), seed=8)
    c = compare_bundles(base, new, NO_FINDINGS)
    [requeue] = [m for t in c.targets for m in t.metrics if m.metric.id == "requeue_rate"]
    assert requeue.status == "untested" and "too few events" in requeue.reason
