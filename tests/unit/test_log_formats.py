"""Log formats beyond zap JSON and klog: kopf (text and JSON, recorded from kopf itself), Python logging,
zap time encodings and console, kubectl --timestamps, Kubernetes JSON errors, lowercase and kind-named
object keys, klog odd keys and multi-line values, and the line assembler."""

from __future__ import annotations

import calendar
import json
from pathlib import Path

import pytest

from profkit.formats.logs import LineAssembler, object_key_of, parse_line, parse_timestamp

LOGS = Path(__file__).parent.parent / "fixtures" / "logs"
READ_TIME = calendar.timegm((2026, 12, 2, 9, 0, 0, 0, 0, 0))


def _lines(name: str) -> list[str]:
    return [line for line in (LOGS / name).read_text().split("\n") if line]


def test_kopf_default_text_lines_keep_level_logger_object_and_time() -> None:
    records = [parse_line(line, read_time=READ_TIME) for line in _lines("kopf-full.log")
               if line.startswith("[")]
    failed = next(r for r in records if "failed temporarily" in r.message)
    assert failed.level == "error" and failed.logger == "kopf.objects" and failed.object_key == "ns/w-000"
    assert failed.message == "Handler 'delete_widget' failed temporarily: configmaps \"w-000\" not found"
    assert failed.ts != READ_TIME and abs(failed.ts - READ_TIME) < 86400 * 400
    assert failed.raw.startswith("[")
    levels = {r.level for r in records}
    assert levels == {"info", "debug", "error", "warning"}
    startup = records[0]
    assert startup.logger == "kopf.activities.star" and startup.object_key == ""  # kopf truncates to 20
    assert all(r.ts != READ_TIME for r in records)


def test_kopf_json_lines_keep_level_object_and_time() -> None:
    records = [parse_line(line, read_time=READ_TIME) for line in _lines("kopf-json.log")]
    failed = next(r for r in records if "failed temporarily" in r.message)
    assert (failed.level, failed.object_key) == ("error", "ns/w-000")
    stamp = json.loads(failed.raw)["timestamp"]
    assert failed.ts == pytest.approx(parse_timestamp(stamp))
    assert records[-1].level == "warn" and records[0].object_key == ""
    traceback = next(r for r in records if "exc_info" in r.fields)
    assert traceback.object_key == "ns/w-002" and "KeyError" in traceback.fields["exc_info"]


@pytest.mark.parametrize("line, level, logger, message", [
    ("ERROR:kopf.objects:Handler 'x' failed", "error", "kopf.objects", "Handler 'x' failed"),
    ("WARNING:root:disk low", "warning", "root", "disk low"),
    ("2026-12-02 01:32:48,498 - widget.op - INFO - started", "info", "widget.op", "started"),
    ("2026-12-02 01:32:48,498 INFO widget.op: started", "info", "widget.op", "started"),
    ("2026-12-02 01:32:48,498 [ERROR] widget.op: boom", "error", "widget.op", "boom"),
])
def test_python_logging_default_formats(line: str, level: str, logger: str, message: str) -> None:
    record = parse_line(line, read_time=READ_TIME)
    assert (record.level, record.logger, record.message) == (level, logger, message)


@pytest.mark.parametrize("value", [
    1764639168.498, 1764639168498.0, 1764639168498, 1764639168498123, 1764639168498123456,
    "1764639168498123456", "2025-12-02T01:32:48.498Z", "2025-12-02T01:32:48.498+0000",
    "2025-12-02T01:32:48.498123456Z", "2025-12-02T02:32:48.498+01:00",
])
def test_zap_time_encodings(value: object) -> None:
    assert parse_timestamp(value) == pytest.approx(1764639168.498, abs=1e-3)


def test_nanosecond_integers_keep_microseconds() -> None:
    assert parse_timestamp(1764639168498123456) == pytest.approx(1764639168.498123, abs=2e-6)


@pytest.mark.parametrize("value", ["2025-13-02T01:32:48Z", "0000-01-01T00:00:00Z", "2025-00-10 10:00:00",
                                   float("nan"), float("inf"), "1e400", 10**30, "abc"])
def test_impossible_timestamps_are_none(value: object) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize("line", [
    "I1302 10:00:00.000000       1 main.go:1] bad month",
    "I0000 10:00:00.000000       1 main.go:1] month zero",
    "E0231 99:99:99.000000       1 main.go:1] bad time",
    "0000-00-00 00:00:00,000 - x - INFO - year zero",
    "[0000-99-00 00:00:00,000] kopf.objects [ERROR   ] bad date",
    "2025-00-01T00:00:00Z\tINFO\tbad zap month",
    '{"ts": "2025-13-45T99:00:00Z", "level": "info", "msg": "x"}',
    '{"ts": 1e400, "msg": "x"}',
])
def test_parse_line_never_raises_on_impossible_dates(line: str) -> None:
    record = parse_line(line, read_time=READ_TIME)
    assert record.ts == READ_TIME and record.raw


def test_kubernetes_json_error_without_level() -> None:
    line = '{"ts":1764639168498.2,"caller":"x.go:1","msg":"Failed to sync","err":"boom","pod":{"name":"p","namespace":"d"}}'
    record = parse_line(line, read_time=READ_TIME)
    assert record.level == "error" and record.object_key == "d/p"
    info = parse_line('{"ts":1764639168498.2,"msg":"ok","v":0}', read_time=READ_TIME)
    assert info.level == "info"


@pytest.mark.parametrize("fields, key", [
    ({"pod": "default/nginx"}, "default/nginx"),
    ({"node": "node-1"}, "node-1"),
    ({"cluster": "capi/c-1", "path": "/a/b"}, "capi/c-1"),
    ({"hostfirmwaresettings": "metal3/host-07", "controller": "hostfirmwaresettings"}, "metal3/host-07"),
    ({"baremetalhost": "metal3/host-00", "ID": "temporary-fake-id"}, "metal3/host-00"),
    ({"ID": "temporary-fake-id"}, ""),
    ({"URL": "a/b"}, ""),
    ({"controller": "widget", "widget": {"name": "w", "namespace": "n"}}, "n/w"),
    ({"reconciler kind": "Gadget", "gadget": "n/g"}, "n/g"),
    ({"Widget": "demo/w-1"}, "demo/w-1"),
])
def test_object_keys(fields: dict[str, object], key: str) -> None:
    assert object_key_of(fields) == key


def test_bmo_lines_read_the_kind_named_key_never_the_id() -> None:
    line = ('{"level":"info","ts":1700000000.1,"logger":"controllers.BareMetalHost","msg":"registering",'
            '"baremetalhost":"metal3/host-00","ID":"temporary-fake-id"}')
    assert parse_line(line).object_key == "metal3/host-00"
    line = ('{"level":"info","ts":1700000000.1,"logger":"controllers.HostFirmwareSettings",'
            '"msg":"could not get baremetalhost, not running reconciler","hostfirmwaresettings":"metal3/host-07"}')
    assert parse_line(line).object_key == "metal3/host-07"


def test_kubectl_timestamps_prefix() -> None:
    record = parse_line("2025-12-02T01:32:48.498123456Z I1202 01:32:48.000000       1 c.go:1] hello pod=\"a/b\"",
                        read_time=READ_TIME)
    assert record.message.startswith("hello") and record.level == "info"
    plain = parse_line("2025-12-02T01:32:48.498123456Z just text", read_time=READ_TIME)
    assert plain.message == "just text" and plain.ts == pytest.approx(1764639168.498123)


def test_klog_odd_keys_keep_the_fields_after_them() -> None:
    line = 'I1202 01:32:48.000000       1 c.go:1] "Odd keys" %!s(int=1)="one" {name}="x" pod="kube-system/coredns" tail="kept"'
    record = parse_line(line, read_time=READ_TIME)
    assert record.fields["%!s(int=1)"] == "one" and record.fields["{name}"] == "x"
    assert record.fields["tail"] == "kept" and record.object_key == "kube-system/coredns"


def test_klog_multi_line_value_is_one_record() -> None:
    lines = ['E1202 01:32:48.000000       1 c.go:1] "Reconcile failed" err=<', "\tline one", "\tline two",
             ' > node="node-1" attempt=3', 'I1202 01:32:49.000000       1 c.go:2] "next"']
    assembler = LineAssembler()
    out = [text for line in lines for text, _, _ in assembler.feed(line)] + [t for t, _, _ in assembler.drain()]
    assert len(out) == 2
    record = parse_line(out[0], read_time=READ_TIME)
    assert record.level == "error" and record.message == "Reconcile failed"
    assert record.fields["err"] == "line one\nline two"
    assert record.fields["attempt"] == "3" and record.object_key == "node-1"


def test_cri_partial_lines_are_joined() -> None:
    assembler = LineAssembler()
    first = assembler.feed('2025-12-02T01:32:48.1Z stdout P {"level":"info","msg":"lo')
    second = assembler.feed('2025-12-02T01:32:48.2Z stdout F ng line"}')
    assert first == [] and len(second) == 1
    assert parse_line(second[0][0]).message == "long line"


def test_an_unclosed_multi_line_value_is_kept_when_it_waits_too_long() -> None:
    assembler = LineAssembler(hold=1.0)
    assert assembler.feed('I1202 01:32:48.000000       1 c.go:1] "x" v=<', now=0.0) == []
    assert assembler.feed("\tpart", now=0.2) == []
    assert not assembler.stale(now=1.0) and assembler.stale(now=1.3)
    [(text, _, _)] = assembler.drain()
    assert text.endswith("\tpart")


def _assembled(name: str) -> list[str]:
    assembler = LineAssembler()
    out = [text for line in _lines(name) for text, _, _ in assembler.feed(line)]
    return out + [text for text, _, _ in assembler.drain()]


def test_recorded_zap_time_encodings_agree() -> None:
    """Real zap lines, one pair per --zap-time-encoding, written within a few milliseconds."""
    records = {json.loads(line)["encoding"] + ":" + json.loads(line)["level"]: parse_line(line, read_time=0.0)
               for line in _lines("zap-time-encodings.jsonl")}
    epoch = records["epoch:info"].ts
    assert 1.7e9 < epoch < 2.0e9
    for key, record in records.items():
        tolerance = 1.0 if key.startswith("rfc3339:") else 0.01  # RFC 3339 without fraction: whole seconds
        assert abs(record.ts - epoch) < tolerance, (key, record.ts, epoch)
        if record.level == "error":
            assert record.object_key == "metal3/host-07"
        else:
            assert record.object_key == "demo/w-1"


def test_recorded_zap_console_lines() -> None:
    records = [parse_line(line, read_time=READ_TIME) for line in _lines("zap-console.log")]
    first, warn, error, bare = records
    assert (first.level, first.logger, first.message, first.object_key) == (
        "info", "controllers.Widget", "Reconciling", "demo/w-1")
    assert first.fields["caller"].endswith("main.go:52") and first.ts != READ_TIME
    assert (warn.level, warn.fields["took"]) == ("warn", "1.5s")
    assert (error.level, error.message, error.controller, error.object_key) == (
        "error", "Reconciler error", "widget", "demo/w-2")
    assert (bare.level, bare.logger, bare.message) == ("info", "", "no logger name and no fields")


def test_recorded_klog_multi_line_values_and_format_output() -> None:
    records = [parse_line(text, read_time=READ_TIME) for text in _assembled("klog-structured.log")]
    assert [r.message for r in records] == [
        "Pod status updated", "Reconcile failed", "Config loaded", "Odd keys", "Missing value",
        "multi-line message\nsecond line", "printf style 42"]
    pod, failed, config, odd, missing, _, _ = records
    assert pod.object_key == "default/nginx"
    assert failed.level == "error" and failed.fields["err"] == "line one\nline two"
    assert failed.fields["attempt"] == "3" and failed.object_key == "node-1"
    assert json.loads(config.fields["config"]) == {"name": "w-1", "namespace": "demo", "size": 3}
    assert config.fields["after"] == "x"
    assert odd.fields["%!s(int=1)"] == "one" and odd.fields["tail"] == "kept"
    assert odd.object_key == "kube-system/coredns"
    assert missing.object_key == "capi/c-1" and missing.fields["dangling"] == "(MISSING)"


def test_the_logger_names_the_kind_key() -> None:
    line = ('{"level":"info","ts":1700000000.1,"logger":"controllers.Gizmo","msg":"start","gizmo":"ns/g-1",'
            '"ID":"x-1"}')
    assert parse_line(line).object_key == "ns/g-1"


def test_kopf_exception_traceback_stays_with_its_record() -> None:
    texts = _assembled("kopf-full.log")
    assert len(texts) == len([line for line in _lines("kopf-full.log") if line.startswith("[")])
    records = [parse_line(text, read_time=READ_TIME) for text in texts]
    failed = next(r for r in records if "failed with an exception" in r.message)
    assert failed.message == ("Handler 'update_widget' failed with an exception and will try again in 60 seconds: "
                              "'size'")
    assert failed.fields["traceback"].startswith("Traceback (most recent call last):")
    assert failed.fields["traceback"].endswith("KeyError: 'size'")
    assert (failed.level, failed.object_key) == ("error", "ns/w-002")
    assert records[records.index(failed) + 1].message == "Handler 'resume_widget' is invoked."


def test_chained_python_tracebacks_are_one_record() -> None:
    lines = ["2026-12-02 01:32:48,498 - op - ERROR - boom", "Traceback (most recent call last):",
             '  File "a.py", line 1, in f', "KeyError: 'x'",
             "During handling of the above exception, another exception occurred:",
             "Traceback (most recent call last):", '  File "b.py", line 2, in g', "ValueError: y",
             "2026-12-02 01:32:49,000 - op - INFO - next"]
    assembler = LineAssembler()
    out = [t for line in lines for t, _, _ in assembler.feed(line)] + [t for t, _, _ in assembler.drain()]
    assert len(out) == 2 and out[0].endswith("ValueError: y")
    assert parse_line(out[0], read_time=READ_TIME).fields["traceback"].count("Traceback") == 2
