"""``profkit compare``: exit codes, --json contract, --junit against the Jenkins JUnit schema, --html, budgets, baselines."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from profkit.cli.main import main
from tests.unit.compare_runs import T0, RunSpec, write_run

FIXTURES = Path(__file__).parent.parent / "fixtures"
JUNIT_XSD = FIXTURES / "junit-10.xsd"


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    """A healthy baseline, a second healthy run, a CPU regression and a requeue regression."""
    out = {}
    for name, spec, seed in (("base", RunSpec(), 1), ("same", RunSpec(), 2),
                             ("cpu", RunSpec(cpu_per_reconcile=0.15), 3), ("requeue", RunSpec(requeue_rate=3.0), 4)):
        write_run(tmp_path / name, spec, seed)
        out[name] = tmp_path / name
    return out


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["compare", *[str(a) for a in args]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_same_controller_passes_even_with_fail_on_info(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    code, out, _ = run([runs["base"], runs["same"], "--fail-on", "info"], capsys)
    assert code == 0
    assert "No significant regression" in out and "cpu_per_reconcile" in out
    assert out.rstrip().splitlines()[-1].startswith("PASS: ")
    code, out, _ = run([runs["base"], runs["same"]], capsys)
    assert code == 0 and out.rstrip().splitlines()[-1] == (
        "PASS: no regression, new finding or budget breach at or above --fail-on warning")


def test_regression_exits_1_without_fail_on_as_documented(runs: dict[str, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([runs["base"], runs["cpu"]], capsys)
    assert code == 1 and "regressed (critical)" in out
    assert out.rstrip().splitlines()[-1].startswith("FAIL (exit 1): ")
    # --fail-on above the regression's severity lets it pass; the last line says so.
    code, out, _ = run([runs["base"], runs["requeue"], "--fail-on", "critical"], capsys)
    assert code == 0 and out.rstrip().splitlines()[-1].startswith("PASS: ")


def test_json_keeps_stdout_a_document_and_puts_the_verdict_line_on_stderr(
        runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([runs["base"], runs["cpu"], "--json"], capsys)
    assert code == 1 and json.loads(out)["gate"]["fail_on"] == "warning"
    assert err.startswith("FAIL (exit 1): ") and err.count("\n") == 1


def test_regression_fails_with_fail_on_warning(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([runs["base"], runs["cpu"], "--fail-on", "warning"], capsys)
    assert code == 1
    assert "FAIL" in out and "regression (critical): cpu_per_reconcile on ctl" in out


def test_requeue_regression_fails_with_fail_on_warning(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    code, out, _ = run([runs["base"], runs["requeue"], "--fail-on", "warning", "--json"], capsys)
    assert code == 1
    doc = json.loads(out)
    requeue = next(m for m in doc["targets"][0]["metrics"] if m["id"] == "requeue_rate")
    assert requeue["status"] == "regressed" and requeue["severity"] == "warning"
    assert doc["gate"]["exit_code"] == 1


def test_json_document_is_stable(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([runs["base"], runs["cpu"], "--json"], capsys)
    doc = json.loads(out)
    assert code == 1
    assert list(doc) == ["schema", "base", "new", "window_seconds", "rule", "summary", "targets", "only_in_base",
                         "only_in_new", "findings", "budgets", "gate", "target_summaries"]
    assert doc["schema"] == "profkit.compare/v1"
    for side in ("base", "new"):
        for name, block in doc["target_summaries"][side].items():
            assert block["target"] == name and block["cpu_cores"]["unit"] == "cores"
    assert list(doc["base"]) == ["directory", "started", "duration_seconds", "status", "targets"]
    target = doc["targets"][0]
    assert list(target) == ["target", "base_target", "paired_by", "context", "metrics", "functions_normalised_per",
                            "functions"]
    metric = target["metrics"][0]
    assert list(metric) == ["id", "title", "unit", "better", "base", "new", "change", "relative_change", "p_value",
                            "status", "severity", "reason", "min_relative_change", "min_absolute_change"]
    assert list(metric["base"]) == ["value", "windows", "source", "samples"]
    assert metric["id"] == "cpu_per_reconcile" and metric["status"] == "regressed"
    assert doc["summary"]["regressed"] >= 1
    # The same inputs give the same document (no wall clock in it).
    _, again, _ = run([runs["base"], runs["cpu"], "--json"], capsys)
    assert json.loads(again) == doc


def test_json_is_documented(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    doc_text = (Path(__file__).parents[2] / "docs" / "compare-json.md").read_text(encoding="utf-8")
    _, out, _ = run([runs["base"], runs["requeue"], "--json"], capsys)
    doc = json.loads(out)
    keys = set(doc) | set(doc["targets"][0]) | set(doc["targets"][0]["metrics"][0]) | set(doc["gate"])
    keys |= set(doc["summary"]) | set(doc["rule"])
    missing = sorted(k for k in keys if f"`{k}`" not in doc_text)
    assert not missing, f"undocumented keys in docs/compare-json.md: {missing}"
    from profkit.compare.metrics import METRIC_IDS

    assert not [m for m in METRIC_IDS if f"`{m}`" not in doc_text]


def test_junit_validates_against_the_jenkins_schema(runs: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    budget = tmp_path / "budget.yaml"
    budget.write_text("- {metric: cpu_per_reconcile, max_increase_pct: 20}\n- {metric: goroutines, max_increase: 50}\n")
    report = tmp_path / "compare.xml"
    code, _, _ = run([runs["base"], runs["cpu"], "--junit", report, "--budget", budget], capsys)
    assert code == 1
    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    schema.validate(str(report))
    import xml.etree.ElementTree as ET

    root = ET.parse(report).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["cpu_per_reconcile"].find("failure") is not None
    assert cases["memory_peak_bytes"].find("failure") is None
    assert cases["cpu_per_reconcile (ctl)"].find("failure") is not None  # the budget
    assert cases["goroutines (ctl)"].find("failure") is None
    assert int(root.get("failures", "0")) >= 2


def test_html_report_has_both_runs_on_shared_axes_and_escapes_names(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    name = 'ctl</script><img src=x onerror="alert(1)">'
    write_run(tmp_path / "a", RunSpec(), 1, target=name)
    write_run(tmp_path / "b", RunSpec(cpu_per_reconcile=0.1), 2, target=name, start=T0 + 86400)
    page = tmp_path / "compare.html"
    code, _, _ = run([tmp_path / "a", tmp_path / "b", "--html", page], capsys)
    assert code == 1  # CPU per reconcile 25 times the base: a regression
    text = page.read_text(encoding="utf-8")
    assert '<img src=x onerror="alert(1)">' not in text
    data = json.loads(text.split('id="compare-data">', 1)[1].split("</script>", 1)[0])
    cpu = next(f for f in data["figures"] if f["title"] == "CPU")
    assert [t["name"] for t in cpu["traces"]] == ["BASE", "NEW"]
    # Aligned by time since each capture started, a day apart in wall time.
    assert cpu["traces"][0]["x"][0] == cpu["traces"][1]["x"][0] <= 10
    assert data["xrange"] == [0, 300.0]
    assert "regressed" in text


def test_budget_breach_fails_without_fail_on(runs: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    budget = tmp_path / "budget.yaml"
    budget.write_text("budgets:\n  - metric: requeue_rate\n    target: ctl\n    max_increase: 0.5\n"
                      "    severity: info\n")
    code, out, _ = run([runs["base"], runs["requeue"], "--budget", budget], capsys)
    assert code == 1 and "BREACHED" in out
    # --fail-on above the entry's severity (and the regression's, a warning from 0) lets it pass.
    code, _, _ = run([runs["base"], runs["requeue"], "--budget", budget, "--fail-on", "critical"], capsys)
    assert code == 0


def test_budget_within_limits_passes(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    budget = tmp_path / "budget.yaml"
    budget.write_text("- {metric: cpu_per_reconcile, target: '*', max_increase_pct: 50, severity: critical}\n")
    code, out, _ = run([runs["base"], runs["same"], "--budget", budget], capsys)
    assert code == 0 and "PASS" in out


@pytest.mark.parametrize("content, message", [
    ("- {metric: cpu_per_reconcile}\n", "give max_increase_pct or max_increase"),
    ("- {metric: no_such_metric, max_increase: 1}\n", "unknown metric 'no_such_metric'"),
    ("- {metric: goroutines, max_increase: 1, severity: fatal}\n", "severity 'fatal'"),
    ("- {metric: goroutines, max_increase: lots}\n", "expected a number"),
    ("- {metric: goroutines, max_increase: 1, colour: red}\n", "unknown field(s) colour"),
    ("- {metric: goroutines, max_increase: 1, target: kcp}\n", "target 'kcp' is not in both runs"),
    ("- {metric: time_to_ready_p50_seconds, max_increase: 1, target: ctl}\n", "no data in BASE"),
    ("budgets: 3\n", "expected a list"),
    ("[unclosed\n", "not valid YAML"),
])
def test_bad_budget_files_are_one_line_errors(runs: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    budget = tmp_path / "budget.yaml"
    budget.write_text(content)
    code, _, err = run([runs["base"], runs["same"], "--budget", budget], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def _declare_target(bundle: Path, name: str) -> None:
    """A second target declared in a bundle (as a capture of two targets writes it)."""
    with sqlite3.connect(bundle / "profkit.db") as db:
        db.execute("INSERT INTO targets (name, kind, spec) VALUES (?, 'endpoint', '{}')", (name,))


def test_different_controllers_exit_2_naming_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "a", RunSpec(), 1, target="kcp")
    write_run(tmp_path / "b", RunSpec(), 2, target="capi")
    _declare_target(tmp_path / "b", "cabpk")
    code, _, err = run([tmp_path / "a", tmp_path / "b"], capsys)
    assert code == 2 and "kcp" in err and "capi" in err and "--pair" in err and err.count("\n") == 1


def test_one_target_each_side_pairs_and_the_output_names_the_pairing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "a", RunSpec(), 1, target="127.0.0.1:6060")
    write_run(tmp_path / "b", RunSpec(), 2, target="127.0.0.1:7070")
    code, out, _ = run([tmp_path / "a", tmp_path / "b"], capsys)
    assert code == 0, out
    assert "paired BASE target 127.0.0.1:6060 with NEW target 127.0.0.1:7070 (one target each side)" in out
    code, out, _ = run([tmp_path / "a", tmp_path / "b", "--json"], capsys)
    (target,) = json.loads(out)["targets"]
    assert (target["base_target"], target["target"], target["paired_by"]) == (
        "127.0.0.1:6060", "127.0.0.1:7070", "one target each side")


def test_pair_names_the_targets_to_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "a", RunSpec(), 1, target="kcp-old")
    write_run(tmp_path / "b", RunSpec(cpu_per_reconcile=0.15), 2, target="kcp-new")
    _declare_target(tmp_path / "b", "other")
    code, out, err = run([tmp_path / "a", tmp_path / "b", "--json"], capsys)
    assert code == 2 and "different controllers" in err
    code, out, err = run([tmp_path / "a", tmp_path / "b", "--pair", "kcp-old=kcp-new", "--json"], capsys)
    doc = json.loads(out)
    assert code == 1 and err.startswith("FAIL")
    (target,) = doc["targets"]
    assert (target["base_target"], target["target"], target["paired_by"]) == ("kcp-old", "kcp-new", "--pair")
    assert doc["only_in_new"] == ["other"]
    cpu = next(m for m in target["metrics"] if m["id"] == "cpu_per_reconcile")
    assert cpu["status"] == "regressed"
    for bad, message in (("kcp-old", "expected BASE_TARGET=NEW_TARGET"), ("nope=kcp-new", "BASE"),
                         ("kcp-old=nope", "NEW")):
        code, _, err = run([tmp_path / "a", tmp_path / "b", "--pair", bad], capsys)
        assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["only-one"], "give BASE and NEW"),
    (["a", "b", "--fail-on", "sometimes"], "--fail-on"),
    (["a", "b", "--window", "0"], "--window"),
])
def test_bad_usage_exits_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(args, capsys)
    assert code == 2 and message in err


def test_not_a_bundle_exits_2(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([runs["base"], tmp_path], capsys)
    assert code == 2 and "not a profkit bundle" in err


def test_baseline_dir_picks_the_latest_bundle_with_the_same_targets(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    nightly = tmp_path / "nightly"
    write_run(nightly / "day1", RunSpec(cpu_per_reconcile=0.15), 1, start=T0)
    write_run(nightly / "day2", RunSpec(), 2, start=T0 + 86400)
    write_run(nightly / "day3-other", RunSpec(), 3, target="other", start=T0 + 2 * 86400)
    write_run(nightly / "day4-killed", RunSpec(), 4, start=T0 + 3 * 86400, status="running")
    new = write_run(tmp_path / "new", RunSpec(), 5, start=T0 + 4 * 86400).directory
    code, out, err = run(["--baseline-dir", nightly, new, "--json", "--fail-on", "warning"], capsys)
    assert code == 0
    assert json.loads(out)["base"]["directory"].endswith("day2")
    # NEW inside the baseline directory is never its own baseline.
    code, out, _ = run(["--baseline-dir", tmp_path, new, "--json"], capsys)
    assert not json.loads(out)["base"]["directory"].endswith("new")


def test_baseline_dir_without_a_match_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "nightly" / "x", RunSpec(), 1, target="other")
    new = write_run(tmp_path / "new", RunSpec(), 2).directory
    code, _, err = run(["--baseline-dir", tmp_path / "nightly", new], capsys)
    assert code == 2 and "no bundle with the targets" in err


def test_help_lists_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "--baseline-dir" in out and "Exit codes" in out


def test_html_report_embeds_the_differential_flame_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "a", RunSpec(), 1, profiles=[(FIXTURES / "go-cpu-healthy.pb.gz").read_bytes()])
    write_run(tmp_path / "b", RunSpec(), 2, profiles=[(FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()])
    page = tmp_path / "compare.html"
    code, out, _ = run([tmp_path / "a", tmp_path / "b", "--html", page], capsys)
    assert "bigmod.addMulVVW1024" in out and "rsa.GenerateKey ← main.newPrivateKey" in out
    # keygen is new in NEW, but at 0.01 cores it is an info finding: below the default --fail-on warning, it
    # is listed and does not fail the comparison (the regressed functions above are CPU per reconcile)
    assert "repeated-key-generation" in out and " new " in out
    assert code == 0, out
    text = page.read_text(encoding="utf-8")
    srcdoc = text.split('<iframe class="flame"', 1)[1].split("></iframe>", 1)[0]
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in srcdoc and "&lt;svg " in srcdoc
    assert "crypto/rsa.GenerateKey" in srcdoc and "<svg" not in srcdoc  # escaped into the attribute
    assert "Functions whose CPU per reconcile grew most" in text


def test_html_plots_draw_inside_their_panel_boxes_and_the_diff_flame_fits_the_dark_page(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plotly sizes its SVG to the element it draws in: on the padded panel box it spilled into the next panel."""
    import re

    write_run(tmp_path / "a", RunSpec(), 1, profiles=[(FIXTURES / "go-cpu-healthy.pb.gz").read_bytes()])
    write_run(tmp_path / "b", RunSpec(), 2, profiles=[(FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()])
    page = tmp_path / "compare.html"
    run([tmp_path / "a", tmp_path / "b", "--html", page], capsys)
    text = page.read_text(encoding="utf-8")
    data = json.loads(text.split('id="compare-data">', 1)[1].split("</script>", 1)[0])
    for figure in data["figures"]:
        assert f'<div class="panel"><div class="plot" id="{figure["div"]}"></div></div>' in text
    iframe = re.search(r'<iframe class="flame"[^>]* style="aspect-ratio: (\d+) / (\d+)" srcdoc="([^"]*)"', text)
    assert iframe is not None
    svg = re.search(r'&lt;svg [^\n]*? width=&quot;(\d+)&quot; height=&quot;(\d+)&quot;', iframe.group(3))
    assert svg is not None and svg.groups() == iframe.groups()[:2]  # the frame takes the graph's proportions
    assert "svg{display:block;width:100%;height:auto}" in iframe.group(3)
    assert 'fill=&quot;#181b1f&quot;' in iframe.group(3) and "#f8f8f0" not in iframe.group(3)  # dark, as the page
