"""cpu-hotspot names the deepest own function that still carries the CPU, not runtime flat time or main.main."""

from __future__ import annotations

from pathlib import Path

import pytest

from profkit.analyze import AnalyzeOptions, CpuHotspotRules, run_analyzers
from profkit.analyze.cpu_hotspot import hot_functions, own_code_profile
from profkit.bundle import BundleWriter, open_bundle
from profkit.formats.pprof import encode_pprof
from profkit.model import Frame, Profile

FIXTURES = Path(__file__).parent.parent / "fixtures"
T0 = 1_700_000_000.0
NS = 1e7
ONLY = AnalyzeOptions(only=("cpu-hotspot",), strict=True)

ENTRY = ["runtime.goexit", "main.main", "main.(*Worker).run", "main.(*Worker).processItem"]


def go_profile(stacks: list[tuple[list[str], int]]) -> Profile:
    index: dict[str, int] = {}
    for names, _ in stacks:
        for name in names:
            index.setdefault(name, len(index))
    return Profile([Frame(n) for n in index], [tuple(index[n] for n in names) for names, _ in stacks],
                   [count * NS for _, count in stacks], period=NS, language="go", duration=30.0)


def bundle_with(tmp_path: Path, profile: Profile, cpu_per_scrape: float = 0.0, reconciles_per_scrape: float = 0.0
                ) -> Path:
    writer = BundleWriter(tmp_path / "bundle")
    writer.add_profile("ctl", "pod-1", "cpu", "pprof", encode_pprof(profile), T0, 30.0)
    for step in range(7):
        samples = []
        if cpu_per_scrape:
            samples.append(("process_cpu_seconds_total", {}, step * cpu_per_scrape))
        if reconciles_per_scrape:
            samples.append(("controller_runtime_reconcile_total", {"controller": "w", "result": "success"},
                            step * reconciles_per_scrape))
        writer.add_points("ctl", "pod-1", T0 + step * 5, samples)
    writer.close()
    return tmp_path / "bundle"


HOT = go_profile([
    ([*ENTRY, "main.renderTemplate", "text/template.(*state).walk", "runtime.mallocgc"], 300),
    ([*ENTRY, "main.renderTemplate", "strings.(*Builder).WriteString", "runtime.memmove"], 300),
    ([*ENTRY, "main.computeDiff", "reflect.DeepEqual"], 100),
    ([*ENTRY, "k8s.io/client-go/rest.(*Request).Do", "syscall.Syscall"], 100),
    (["runtime.goexit", "runtime.gcBgMarkWorker", "runtime.scanobject"], 200),
])


def test_pass_through_and_entry_frames_give_way_to_the_function_doing_the_work() -> None:
    own = own_code_profile(HOT)
    assert own.cumulative["main.main"] == own.cumulative["main.(*Worker).processItem"]
    ranked = hot_functions(own, CpuHotspotRules())
    assert ranked[0] == "main.renderTemplate"
    assert "main.main" not in ranked and "main.(*Worker).run" not in ranked
    assert own.flat.get("main.renderTemplate", 0.0) == 0.0  # all its time is flat in the runtime below


def test_hotspot_evidence_lists_cum_flat_and_leaves_and_cpu_per_reconcile(tmp_path: Path) -> None:
    # 1 core while profiled (5 CPU seconds per 5 s scrape), 10 reconciles per scrape.
    bundle = bundle_with(tmp_path, HOT, cpu_per_scrape=5.0, reconciles_per_scrape=10.0)
    [finding] = run_analyzers(open_bundle(bundle), ONLY)
    assert finding.severity == "warning"  # 60 % of CPU, 1 core
    assert finding.evidence["function"] == "main.renderTemplate"
    assert finding.evidence["cpu_share"] == 0.6
    assert finding.evidence["cores"] == pytest.approx(1.0)
    top = finding.evidence["functions"][0]
    assert top["flat_share"] == 0.0
    assert {leaf["function"] for leaf in top["leaves"]} == {"runtime.mallocgc", "runtime.memmove"}
    assert top["called_from"][:2] == ["main.(*Worker).processItem", "main.(*Worker).run"]
    assert finding.evidence["process_cpu_seconds_per_reconcile"] == 0.5
    assert "main.renderTemplate" in finding.recommendation


def test_an_idle_process_gets_info_not_warning(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path, HOT, cpu_per_scrape=0.1)
    [finding] = run_analyzers(open_bundle(bundle), ONLY)
    assert finding.severity == "info"


def test_no_dominant_own_function_means_no_finding(tmp_path: Path) -> None:
    spread = go_profile([([*ENTRY, f"main.step{i}", "runtime.memmove"], 100) for i in range(10)])
    assert run_analyzers(open_bundle(bundle_with(tmp_path, spread, cpu_per_scrape=5.0)), ONLY) == []


def test_key_generation_hotspot_defers_to_repeated_key_generation(tmp_path: Path) -> None:
    keygen = go_profile([([*ENTRY, "main.newPrivateKey", "crypto/rsa.GenerateKey", "math/big.addMulVVW"], 900),
                         ([*ENTRY, "main.computeDiff"], 100)])
    [finding] = run_analyzers(open_bundle(bundle_with(tmp_path, keygen, cpu_per_scrape=5.0)), ONLY)
    assert finding.severity == "info"
    assert "repeated-key-generation" in finding.recommendation


def test_real_healthy_go_profile_names_its_own_hash_function_without_a_warning(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "bundle")
    writer.add_profile("ctl", "pod-1", "cpu", "pprof", (FIXTURES / "go-cpu-healthy.pb.gz").read_bytes(), T0, 10.0)
    writer.close()
    findings = run_analyzers(open_bundle(tmp_path / "bundle"), ONLY)
    assert all(f.severity == "info" for f in findings)
    for finding in findings:
        assert finding.evidence["function"].startswith("main.")


def py_profile(stacks: list[tuple[list[tuple[str, str]], int]]) -> Profile:
    """A py-spy-like profile: frames are (function, file); weights are samples at 100 Hz."""
    index: dict[tuple[str, str], int] = {}
    for frames, _ in stacks:
        for frame in frames:
            index.setdefault(frame, len(index))
    return Profile([Frame(name, file) for name, file in index], [tuple(index[f] for f in frames) for frames, _ in stacks],
                   [float(count) for _, count in stacks], sample_type="samples", unit="count", language="python",
                   duration=30.0, period=0.01)


def speedscope_bundle(tmp_path: Path, profile: Profile, cpu_per_scrape: float) -> Path:
    from profkit.formats.speedscope import write_speedscope

    writer = BundleWriter(tmp_path / "bundle")
    writer.add_profile("op", "pod-1", "cpu", "speedscope", write_speedscope(profile).encode(), T0, 30.0)
    for step in range(7):
        writer.add_points("op", "pod-1", T0 + step * 5, [("process_cpu_seconds_total", {}, step * cpu_per_scrape)])
    writer.close()
    return tmp_path / "bundle"


VENV = "/srv/op/.venv"
SITE = f"{VENV}/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"
KOPF_ENTRY = [("<module>", f"{VENV}/bin/kopf"), ("main", f"{SITE}/click/core.py"), ("run", f"{SITE}/kopf/cli.py"),
              ("run", f"{STDLIB}/asyncio/runners.py"), ("_run_once", f"{STDLIB}/asyncio/base_events.py")]
IDLE_LOOP = [*KOPF_ENTRY, ("EpollSelector.select", f"{STDLIB}/selectors.py")]
HANDLER = [*KOPF_ENTRY, ("_run", f"{STDLIB}/asyncio/events.py"), ("invoke", f"{SITE}/kopf/_core/actions/invocation.py"),
           ("refresh_widget", "/src/kopf/widgetop/operator.py"),
           ("render_widget_report", "/src/kopf/widgetop/operator.py"), ("openssl_sha256", f"{STDLIB}/hashlib.py")]


def test_kopf_entry_point_and_idle_event_loop_are_neither_own_code_nor_cpu(tmp_path: Path) -> None:
    profile = py_profile([(IDLE_LOOP, 2400), (HANDLER, 600)])
    own = own_code_profile(profile)
    assert own.idle_weight == 2400 and own.total == 600
    assert "kopf.<module>" not in own.cumulative and "<module>" not in own.cumulative
    [finding] = run_analyzers(open_bundle(speedscope_bundle(tmp_path, profile, cpu_per_scrape=2.5)), ONLY)
    # A script outside any package is its file's module, not the last three directories (kopf.widgetop.operator).
    assert finding.evidence["function"] == "operator.render_widget_report"
    assert finding.evidence["cpu_share"] == 1.0
    assert finding.evidence["idle_share_left_out"] == 0.8
    assert "select" not in finding.recommendation


def test_an_idle_kopf_replica_gets_no_hotspot(tmp_path: Path) -> None:
    profile = py_profile([(IDLE_LOOP, 2900), (HANDLER, 100)])
    assert run_analyzers(open_bundle(speedscope_bundle(tmp_path, profile, cpu_per_scrape=0.01)), ONLY) == []


def test_nothing_at_zero_cores_is_a_hotspot(tmp_path: Path) -> None:
    # 0.004 cores in all: 60 % of it is 0.0024 cores, under CpuHotspotRules.min_cores.
    assert run_analyzers(open_bundle(bundle_with(tmp_path, HOT, cpu_per_scrape=0.02)), ONLY) == []


@pytest.mark.parametrize(("file", "sys_path", "module"), [
    ("/src/kopf/widgetop/operator.py", (), "operator"),
    ("/src/kopf/widgetop/operator.py", ("/src/kopf",), "widgetop.operator"),
    ("/src/kopf/widgetop/__init__.py", ("/src/kopf", "/src"), "widgetop"),
    (f"{SITE}/kopf/_core/engines/peering.py", (), "kopf._core.engines.peering"),
    (f"{STDLIB}/selectors.py", (), "selectors"),
    ("<frozen importlib._bootstrap>", (), "importlib._bootstrap"),
    (f"{VENV}/bin/kopf", (), "kopf"),
])
def test_python_module_is_the_module_python_knows(file: str, sys_path: tuple[str, ...], module: str) -> None:
    from profkit.analyze.frames import python_module

    assert python_module(file, sys_path) == module


def test_idle_leaves_are_waits_in_the_stdlib_or_go_runtime_only() -> None:
    from profkit.analyze.frames import is_idle_leaf

    assert is_idle_leaf(Frame("select", f"{STDLIB}/selectors.py"), "python")
    assert is_idle_leaf(Frame("Condition.wait", f"{STDLIB}/threading.py"), "python")
    assert not is_idle_leaf(Frame("select", "/src/app/select.py"), "python")  # the user's own select()
    assert not is_idle_leaf(Frame("openssl_sha256", f"{STDLIB}/hashlib.py"), "python")
    assert is_idle_leaf(Frame("runtime.gopark"), "go") and not is_idle_leaf(Frame("runtime.mallocgc"), "go")


def test_short_name_cuts_import_paths_only() -> None:
    from profkit.analyze.frames import short_name

    assert short_name("sigs.k8s.io/cluster-api/internal.(*M).Get") == "internal.(*M).Get"
    assert short_name("k8s.io/client-go/rest.(*Request).Do") == "rest.(*Request).Do"
    assert short_name('process 7:"kopf run --liveness http://0.0.0.0:8080/healthz"') == \
        'process 7:"kopf run --liveness http://0.0.0.0:8080/healthz"'


def test_python_module_of_a_checkout_follows_its_init_files(tmp_path: Path) -> None:
    from profkit.analyze.frames import python_module

    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    for d in (tmp_path / "pkg", tmp_path / "pkg" / "sub"):
        (d / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "mod.py").write_text("")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "handlers.py").write_text("")
    assert python_module(str(tmp_path / "pkg" / "sub" / "mod.py")) == "pkg.sub.mod"
    assert python_module(str(tmp_path / "pkg" / "sub" / "__init__.py")) == "pkg.sub"
    assert python_module(str(tmp_path / "scripts" / "handlers.py")) == "handlers"  # a script dir is no package
    import profkit.demo.keys as keys

    assert python_module(keys.__file__) == "profkit.demo.keys"
