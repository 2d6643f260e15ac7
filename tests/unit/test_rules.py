"""Severity rules: one documented table, every threshold listed, overrides from --rules FILE with clear errors."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

import profkit.analyze.rules as rules_module
from controller_bundles import HEALTHY_DURATION, analyze, healthy
from profkit.analyze import AnalyzeOptions, KeyGenerationRules, rules_group
from profkit.analyze.rules import DEFAULT_RULES, Rules, load_rules, rule_ids, rules_from, rules_from_mapping
from profkit.errors import BadInput


def test_every_threshold_of_every_finding_is_in_the_severity_table() -> None:
    doc = rules_module.__doc__ or ""
    for group in fields(Rules):
        finding_id = group.name.replace("_", "-")
        assert finding_id in doc, finding_id
        if group.name in ("repeated_key_generation", "cpu_hotspot"):
            continue  # documented next to their dataclasses in profkit.analyze
        for threshold in fields(getattr(DEFAULT_RULES, group.name)):
            assert f"``{threshold.name}``" in doc, f"{finding_id}.{threshold.name} is not documented"


def test_rules_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("client-side-throttling:\n  critical_wait_seconds: 2\nrepeated-key-generation:\n  warning_share: 0.1\n")
    rules = load_rules(path)
    assert rules.client_side_throttling.critical_wait_seconds == 2.0
    assert rules.client_side_throttling.warning_mean_wait_seconds == 0.05
    assert rules.requeue_storm_deleted == DEFAULT_RULES.requeue_storm_deleted
    # the registry reads the built-in analyzers' groups (repeated-key-generation, cpu-hotspot) through the same file
    options = AnalyzeOptions(rules_file=path)
    assert rules_group(options, "repeated-key-generation", None, KeyGenerationRules()).warning_share == 0.1
    assert rules_from(options) == rules


@pytest.mark.parametrize("text, message", [
    ("nope-analyzer: {a: 1}\n", "unknown finding id 'nope-analyzer'"),
    ("slow-reconcile: {p99: 1}\n", "unknown threshold 'p99'"),
    ("slow-reconcile: {warning_p99_seconds: fast}\n", "is not a number"),
    ("- 1\n", "a rules file is a mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_rules_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message.replace("[", r"\[")):
        load_rules(path)


def test_missing_rules_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--rules"):
        load_rules(tmp_path / "missing.yaml")


def test_integer_thresholds_stay_integers() -> None:
    rules = rules_from_mapping({"requeue-storm-deleted": {"critical_objects": 3.0}})
    assert rules.requeue_storm_deleted.critical_objects == 3
    assert isinstance(rules.requeue_storm_deleted.critical_objects, int)


def test_rule_ids_are_finding_ids() -> None:
    assert "requeue-storm-deleted" in rule_ids() and "gc-pressure" in rule_ids()


def test_a_stricter_rule_turns_the_healthy_info_into_a_warning(tmp_path: Path) -> None:
    view = healthy(tmp_path / "b").view(HEALTHY_DURATION)
    strict = {"reconcile-errors": {"warning_error_share": 0.001, "min_errors": 1}}
    [finding] = analyze(view, "reconcile-errors", rules=strict)
    assert finding.severity == "warning"
