"""Collector definitions validate with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from profkit.catalog import load_collector_file, resolve
from profkit.errors import BadInput


def test_secure_diagnostics_and_legacy_ports_are_both_described() -> None:
    kcp = resolve("kcp")
    assert kcp is not None
    secure = [e for e in kcp.endpoints if e.auth == "bearer"]
    assert secure and secure[0].port == 8443 and secure[0].scheme == "https"
    assert any(e.port == 6060 and e.pprof for e in kcp.endpoints)


def test_a_deployment_name_resolves_to_its_alias() -> None:
    spec = resolve("capi-kubeadm-control-plane-controller-manager")
    assert spec is not None and spec.alias == "kcp"
    assert resolve("some-unknown-operator") is None


def test_user_collector_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "alias: mine\ndeployment: my-operator\nnamespace: ops\n"
        "endpoints:\n  - {port: 9090, metrics: /metrics}\nflags: {concurrency: --workers}\n"
    )
    spec = load_collector_file(path)
    assert spec.endpoints[0].port == 9090 and spec.concurrency_flags() == ["--workers"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("alias: x\n", "missing deployment, namespace"),
        ("alias: x\ndeployment: d\nnamespace: n\nendpoints: [{port: 1, scheme: ftp, metrics: /m}]\n", "scheme 'ftp'"),
        ("alias: x\ndeployment: d\nnamespace: n\nendpoints: [{port: 1}]\n", "neither metrics nor pprof"),
        ("alias: [\n", "not valid YAML"),
    ],
)
def test_bad_collector_files_name_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message) as info:
        load_collector_file(path)
    assert str(path) in str(info.value)
