"""Build (or find cached) control-plane binaries from the Go wrapper modules in gomod/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GOMOD_DIR = Path(__file__).resolve().parent / "gomod"
REPO_ROOT = Path(__file__).resolve().parents[3]

#: Binaries built from each wrapper module: (module dir, output name, package).
K8S_PACKAGES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
}
ALL_BINARIES = (*K8S_PACKAGES, "etcd", "kwok")


class BuildError(RuntimeError):
    """A binary could not be built."""


@dataclass(frozen=True)
class Versions:
    """The pinned versions, read from the wrapper modules' go.mod files."""

    kubernetes: str
    etcd: str
    kwok: str

    @property
    def key(self) -> str:
        return f"k8s-{self.kubernetes}-etcd-{self.etcd}-kwok-{self.kwok}"


def _required_version(gomod: Path, module: str) -> str:
    text = gomod.read_text()
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.M)
    if not m:
        raise BuildError(f"{gomod}: no requirement on {module}")
    return m.group(1)


def pinned_versions() -> Versions:
    """The versions pinned by gomod/*/go.mod."""
    return Versions(
        kubernetes=_required_version(GOMOD_DIR / "kubernetes" / "go.mod", "k8s.io/kubernetes"),
        etcd=_required_version(GOMOD_DIR / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3"),
        kwok=_required_version(GOMOD_DIR / "kwok" / "go.mod", "sigs.k8s.io/kwok"),
    )


def cache_root() -> Path:
    """The cache directory (outside the repo) holding built binaries."""
    env = os.environ.get("PROFKIT_E2E_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "profkit-e2e"


def bin_dir(versions: Versions | None = None) -> Path:
    """Where the binaries for the pinned versions live."""
    return cache_root() / (versions or pinned_versions()).key / "bin"


def missing_binaries(directory: Path | None = None) -> list[str]:
    """Names of the binaries not yet in the cache."""
    d = directory or bin_dir()
    return [name for name in ALL_BINARIES if not (d / name).is_file()]


def go_available() -> bool:
    """Whether a Go toolchain is on PATH."""
    return shutil.which("go") is not None


def _k8s_ldflags(version: str) -> str:
    m = re.match(r"v(\d+)\.(\d+)", version)
    if not m:
        raise BuildError(f"bad kubernetes version {version}")
    major, minor = m.groups()
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def _log(msg: str) -> None:
    print(f"[controlplane build] {msg}", file=sys.stderr, flush=True)


def go_env() -> dict[str, str]:
    """Environment for go commands: local toolchain only."""
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _go_build(module_dir: Path, package: str, out: Path, ldflags: str, env: dict[str, str] | None = None,
              nice: bool = False) -> float:
    """``go build`` of ``package`` into ``out`` (atomically, through ``out.tmp``); returns the seconds taken."""
    tmp = out.with_name(out.name + ".tmp")
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), package]
    if nice and shutil.which("nice") is not None:
        cmd = ["nice", "-n", "10", *cmd]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=module_dir, env=env or go_env(), text=True, capture_output=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"go build {package} failed:\n{proc.stdout}{proc.stderr}")
    tmp.replace(out)
    return time.monotonic() - start


def build(force: bool = False) -> Path:
    """Build every missing binary sequentially into the cache; return the bin dir."""
    versions = pinned_versions()
    target = bin_dir(versions)
    todo = list(ALL_BINARIES) if force else missing_binaries(target)
    if not todo:
        _log(f"all binaries cached in {target}")
        return target
    if not go_available():
        raise BuildError("go is not on PATH; cannot build the control plane")
    target.mkdir(parents=True, exist_ok=True)
    _log(f"building {', '.join(todo)} into {target} (sequential; the first build takes long)")
    total = time.monotonic()
    for i, name in enumerate(todo, 1):
        if name in K8S_PACKAGES:
            module, package, ldflags = "kubernetes", K8S_PACKAGES[name], _k8s_ldflags(versions.kubernetes)
        elif name == "etcd":
            module, package, ldflags = "etcd", "go.etcd.io/etcd/server/v3", "-s -w"
        else:
            module, package, ldflags = "kwok", "sigs.k8s.io/kwok/cmd/kwok", "-s -w"
        _log(f"[{i}/{len(todo)}] {name} ({package}) ...")
        secs = _go_build(GOMOD_DIR / module, package, target / name, ldflags)
        _log(f"[{i}/{len(todo)}] {name} done in {secs:.0f}s")
    _log(f"built {len(todo)} binaries in {time.monotonic() - total:.0f}s")
    return target


PROMETHEUS_MODULE = "github.com/prometheus/prometheus"


def prometheus_version() -> str:
    """The Prometheus release pinned by gomod/prometheus/go.mod: Go module v0.X.Y is Prometheus 2.X.Y."""
    module = _required_version(GOMOD_DIR / "prometheus" / "go.mod", PROMETHEUS_MODULE)
    m = re.fullmatch(r"v0\.(\d+)\.(\d+)", module)
    if not m:
        raise BuildError(f"gomod/prometheus pins {PROMETHEUS_MODULE} {module}: not a v0.X.Y (Prometheus 2.X.Y) module")
    return f"2.{m.group(1)}.{m.group(2)}"


def prometheus_binary(version: str | None = None) -> Path:
    """${PROFKIT_E2E_CACHE:-~/.cache/profkit-e2e}/prometheus-<version>/bin/prometheus."""
    return cache_root() / f"prometheus-{version or prometheus_version()}" / "bin" / "prometheus"


def build_prometheus(force: bool = False) -> Path:
    """Build (or find cached) upstream Prometheus with every service discovery, Kubernetes' among them.

    Debian's package (the one the integration tests run) has Kubernetes service discovery removed
    ("Kubernetes support has been completely removed", its NEWS.Debian), so the e2e tests, which discover
    pods through ``kubernetes_sd_configs``, run the same release built from its Go module.
    """
    version = prometheus_version()
    out = prometheus_binary(version)
    if out.is_file() and not force:
        return out
    if not go_available():
        raise BuildError("go is not on PATH; cannot build Prometheus")
    out.parent.mkdir(parents=True, exist_ok=True)
    _log(f"building Prometheus {version} ({PROMETHEUS_MODULE}/cmd/prometheus) into {out} ...")
    ldflags = f"-s -w -X github.com/prometheus/common/version.Version={version} " \
              "-X github.com/prometheus/common/version.Branch=HEAD"
    secs = _go_build(GOMOD_DIR / "prometheus", f"{PROMETHEUS_MODULE}/cmd/prometheus", out, ldflags, nice=True)
    _log(f"Prometheus {version} done in {secs:.0f}s")
    return out


def build_example_controller(out: Path) -> Path:
    """Build the Go example controller from examples/go-controller into ``out``."""
    src = REPO_ROOT / "examples" / "go-controller"
    if not (src / "go.mod").is_file():
        raise BuildError(f"{src} has no go.mod: the Go example controller is missing")
    out.parent.mkdir(parents=True, exist_ok=True)
    _go_build(src, ".", out, "-s -w")
    return out
