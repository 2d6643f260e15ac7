"""Go build info read from executables agrees with ``go version -m``; a controller's module version is its release."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from profkit.analyze.tuning import resolve_tuning
from profkit.formats.gobuildinfo import GoBuildInfo, parse_modinfo, read_build_info
from profkit.model import Target

GO = shutil.which("go")
# Built by the e2e control plane from sigs.k8s.io/cluster-api v1.7.2 (tests/e2e/controlplane/build.py).
KCP_BINARY = Path.home() / ".cache/profkit-e2e/capi-v1.7.2/bin/kubeadm-control-plane-manager"
# What read_build_info gave for that binary (path, main module, two of its 160-odd deps), recorded 2026-12-02.
KCP_V172 = {"go_version": "go1.26.8", "path": "sigs.k8s.io/cluster-api/controlplane/kubeadm",
            "main": ["sigs.k8s.io/cluster-api", "v1.7.2"],
            "deps": {"k8s.io/client-go": "v0.29.3", "sigs.k8s.io/controller-runtime": "v0.17.3"}}


def go_version_m(binary: Path) -> GoBuildInfo:
    """``go version -m`` output turned into the same fields, to compare against."""
    out = subprocess.run([GO or "go", "version", "-m", str(binary)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    first, _, rest = out.partition("\n")
    return parse_modinfo(first.rsplit(" ", 1)[-1], "\n".join(line.lstrip("\t") for line in rest.splitlines()))


@pytest.mark.skipif(GO is None, reason="needs the Go toolchain")
def test_go_toolchain_binary_matches_go_version_m() -> None:
    binary = Path(GO or "").resolve().parent / "gofmt"
    assert read_build_info(binary) == go_version_m(binary)


@pytest.mark.skipif(GO is None or not KCP_BINARY.exists(), reason="needs Go and the e2e Cluster API v1.7.2 build")
def test_real_kcp_binary_matches_go_version_m_and_the_recording() -> None:
    info = read_build_info(KCP_BINARY)
    assert info is not None and info == go_version_m(KCP_BINARY)
    assert info.path == KCP_V172["path"] and list(info.main) == KCP_V172["main"]
    assert all(info.deps[k] == v for k, v in KCP_V172["deps"].items())  # type: ignore[union-attr]


def test_a_program_that_is_not_go_has_no_build_info() -> None:
    assert read_build_info(Path("/bin/sleep")) is None and read_build_info(Path("/nonexistent")) is None


def test_release_from_the_executables_build_info() -> None:
    t = resolve_tuning(Target("kcp", "pid", {"pids": [1], "go_build_info": KCP_V172}))
    assert t.version == "v1.7.2" and "Go build info" in t.version_source
    assert t.rate_flags == "present"
    # a wrapper module that requires Cluster API: the dependency's version is the release
    wrapped = {**KCP_V172, "main": ["example.com/capi-e2e", "(devel)"],
               "deps": {**KCP_V172["deps"], "sigs.k8s.io/cluster-api": "v1.4.9"}}  # type: ignore[dict-item]
    old = resolve_tuning(Target("kcp", "pid", {"pids": [1], "go_build_info": wrapped}))
    assert old.version == "v1.4.9" and old.rate_flags == "absent"
