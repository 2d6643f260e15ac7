"""A captured log file keeps klog's multi-line records whole and kopf's lines parsed (the real collector path)."""

from __future__ import annotations

from pathlib import Path

from profkit.bundle.reader import open_bundle
from tests.integration.capture_helpers import FIXTURES, profkit


def test_log_file_capture_joins_multi_line_records(tmp_path: Path) -> None:
    log = tmp_path / "controller.log"
    log.write_bytes((FIXTURES / "logs" / "klog-structured.log").read_bytes()
                    + (FIXTURES / "logs" / "kopf-full.log").read_bytes())
    out = tmp_path / "bundle"
    result = profkit("capture", "--log-file", str(log), "--out", str(out), "--duration", "2s", timeout=120)
    assert result.returncode == 0, result.stderr
    records = list(open_bundle(out).logs())
    klog = [r for r in records if r.fields.get("source")]
    assert len(klog) == 7, [r.message for r in klog]
    failed = next(r for r in klog if r.message == "Reconcile failed")
    assert failed.fields["err"] == "line one\nline two" and failed.object_key == "node-1"
    kopf = [r for r in records if r.logger.startswith("kopf")]
    temporarily = next(r for r in kopf if "failed temporarily" in r.message)
    assert (temporarily.level, temporarily.object_key) == ("error", "ns/w-000")
