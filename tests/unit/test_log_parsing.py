"""Log line parsing: controller-runtime zap JSON, klog text (both client-go throttling formats), CRI, plain."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

import pytest

from profkit.formats.logs import parse_line, parse_timestamp

FIXTURE = Path(__file__).parent.parent / "fixtures" / "controller-log.jsonl"
READ_TIME = calendar.timegm((2025, 11, 24, 9, 0, 0, 0, 0, 0))


def test_zap_json_reconcile_line() -> None:
    line = ('{"level":"info","ts":1732437000.123,"logger":"controller","msg":"Reconciling","controller":"widget",'
            '"controllerGroup":"demo.profkit.dev","controllerKind":"Widget","Widget":{"name":"w-1","namespace":"demo"},'
            '"namespace":"demo","name":"w-1","reconcileID":"5c7e"}')
    record = parse_line(line, target="demo", instance="pid-1", read_time=READ_TIME)
    assert record.ts == pytest.approx(1732437000.123)
    assert (record.level, record.logger, record.message) == ("info", "controller", "Reconciling")
    assert record.controller == "widget"
    assert record.object_key == "demo/w-1"
    assert record.fields["reconcileID"] == "5c7e"
    assert (record.target, record.instance, record.raw) == ("demo", "pid-1", line)


def test_zap_json_iso_timestamp_and_kind_object() -> None:
    line = ('{"level":"ERROR","ts":"2024-11-24T08:30:00.250+01:00","msg":"Reconciler error",'
            '"controller":"kubeadmcontrolplane","KubeadmControlPlane":{"name":"cp-1","namespace":"ns-3"},'
            '"error":"failed to create client"}')
    record = parse_line(line, read_time=READ_TIME)
    assert record.ts == pytest.approx(calendar.timegm((2024, 11, 24, 7, 30, 0, 0, 0, 0)) + 0.25)
    assert record.level == "error"
    assert record.object_key == "ns-3/cp-1"
    assert record.fields["error"] == "failed to create client"


def test_bmo_style_not_found_line_with_object_only() -> None:
    line = ('{"level":"info","ts":1700000000,"logger":"controllers.HostFirmwareSettings",'
            '"msg":"could not get baremetalhost, not running reconciler",'
            '"hostfirmwaresettings":"metal3/host-7","object":{"name":"host-7","namespace":"metal3"}}')
    record = parse_line(line, read_time=READ_TIME)
    assert record.object_key == "metal3/host-7"
    assert record.message.startswith("could not get baremetalhost")


def test_klog_text_throttling_old_format() -> None:
    line = ("I1124 08:30:00.123456   12345 request.go:697] Waited for 1.18s due to client-side throttling, "
            "not priority and fairness, request: GET:https://10.96.0.1:443/api/v1/namespaces/ns/secrets/s")
    record = parse_line(line, read_time=READ_TIME)
    assert record.level == "info"
    assert record.message.startswith("Waited for 1.18s due to client-side throttling")
    assert record.fields["source"] == "request.go:697"
    assert record.fields["thread"] == 12345
    expected = time.mktime((2025, 11, 24, 8, 30, 0, 0, 0, -1)) + 0.123456
    assert record.ts == pytest.approx(expected)


def test_klog_structured_throttling_new_format() -> None:
    line = ('I1124 08:30:00.123456   12345 request.go:752] "Waited before sending request" delay="1.18s" '
            'reason="client-side throttling, not priority and fairness" verb="GET" '
            'URL="https://10.96.0.1:443/api/v1/namespaces/ns/secrets/s"')
    record = parse_line(line, read_time=READ_TIME)
    assert record.message == "Waited before sending request"
    assert record.fields["delay"] == "1.18s"
    assert record.fields["reason"] == "client-side throttling, not priority and fairness"
    assert record.fields["verb"] == "GET"
    assert record.fields["URL"].startswith("https://10.96.0.1")
    assert record.object_key == ""  # a URL is not an object key


def test_klog_structured_error_with_kobj_and_escapes() -> None:
    line = ('E1124 08:30:01.000001       1 controller.go:316] "Reconciler error" err="widget \\"w-1\\" not found" '
            'controller="widget" Widget="demo/w-1" namespace="demo" name="w-1" reconcileID="ab-12"')
    record = parse_line(line, read_time=READ_TIME)
    assert record.level == "error"
    assert record.fields["err"] == 'widget "w-1" not found'
    assert record.controller == "widget"
    assert record.object_key == "demo/w-1"


def test_klog_year_rolls_back_across_new_year() -> None:
    new_year = calendar.timegm((2026, 1, 1, 0, 5, 0, 0, 0, 0))
    record = parse_line("W1231 23:59:59.000000       7 x.go:1] late", read_time=new_year)
    assert time.localtime(record.ts).tm_year == 2025
    assert record.level == "warning"


def test_cri_wrapped_lines() -> None:
    klog = parse_line("2025-11-24T08:30:00.123456789Z stderr F I1124 08:30:00.123456   1 request.go:697] "
                      "Waited for 2.5s due to client-side throttling, not priority and fairness, request: GET:https://x")
    assert klog.message.startswith("Waited for 2.5s")
    assert klog.fields["stream"] == "stderr"
    zap = parse_line('2025-11-24T08:30:00.5Z stdout F {"level":"info","ts":1764000000.5,"msg":"Reconciling",'
                     '"controller":"widget","namespace":"demo","name":"w-2"}')
    assert zap.ts == 1764000000.5 and zap.object_key == "demo/w-2"
    plain = parse_line("2025-11-24T08:30:00.5Z stdout F starting manager")
    assert plain.message == "starting manager"
    assert plain.ts == pytest.approx(calendar.timegm((2025, 11, 24, 8, 30, 0, 0, 0, 0)) + 0.5)


def test_plain_text_and_broken_json_use_read_time() -> None:
    assert parse_line("panic: something", read_time=READ_TIME).ts == READ_TIME
    broken = parse_line('{"level":"info","ts":1', read_time=READ_TIME)
    assert broken.ts == READ_TIME and broken.message == '{"level":"info","ts":1'
    assert parse_line("[1, 2]", read_time=READ_TIME).message == "[1, 2]"


def test_timestamps() -> None:
    assert parse_timestamp(1700000000123.0) == pytest.approx(1700000000.123)  # milliseconds
    assert parse_timestamp("2024-01-02T03:04:05Z") == calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0))
    assert parse_timestamp("2024-01-02T03:04:05.5-0200") == calendar.timegm((2024, 1, 2, 5, 4, 5, 0, 0, 0)) + 0.5
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(True) is None


def test_demo_controller_log_lines_roundtrip(tmp_path: Path) -> None:
    from profkit.demo.controller import Logger

    path = tmp_path / "log.jsonl"
    with open(path, "w") as handle:
        Logger(handle, "controller").info("could not get widget, not running reconciler", controller="widget",
                                          Widget={"name": "w-9", "namespace": "demo"}, namespace="demo",
                                          name="w-9", reconcileID="r")
    record = parse_line(path.read_text().strip())
    assert record.object_key == "demo/w-9" and record.logger == "controller"


def test_recorded_controller_log_fixture() -> None:
    lines = [ln for ln in FIXTURE.read_text().splitlines() if ln.strip()]
    records = [parse_line(ln, read_time=READ_TIME) for ln in lines]
    structured = [r for r, ln in zip(records, lines) if ln.lstrip().startswith("{") and json.loads(ln)]
    assert structured and all(r.ts != READ_TIME for r in structured)
    assert any(r.controller for r in records)
    assert any(r.object_key for r in records)
