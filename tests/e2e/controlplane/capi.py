"""Build (or find cached) the unmodified Cluster API managers from the Go wrapper modules gomod/capi*."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import build as buildmod
from .build import GOMOD_DIR, BuildError

CORE_MODULE = "sigs.k8s.io/cluster-api"
TEST_MODULE = "sigs.k8s.io/cluster-api/test"


@dataclass(frozen=True)
class Manager:
    """One Cluster API manager: its binary, its Go package and wrapper module, its provider config."""

    binary: str
    package: str
    wrapper: str
    #: The module (CORE_MODULE or TEST_MODULE) and directory in it holding the kustomize config/.
    module: str
    config: str


MANAGERS: dict[str, Manager] = {
    "capi": Manager("capi-manager", CORE_MODULE, "capi", CORE_MODULE, "config/default"),
    "cabpk": Manager("kubeadm-bootstrap-manager", f"{CORE_MODULE}/bootstrap/kubeadm", "capi", CORE_MODULE,
                     "bootstrap/kubeadm/config/default"),
    "kcp": Manager("kubeadm-control-plane-manager", f"{CORE_MODULE}/controlplane/kubeadm", "capi", CORE_MODULE,
                   "controlplane/kubeadm/config/default"),
    "capim": Manager("capim-manager", f"{TEST_MODULE}/infrastructure/inmemory", "capi-test", TEST_MODULE,
                     "infrastructure/inmemory/config/default"),
}


def _log(msg: str) -> None:
    buildmod._log(f"capi: {msg}")


def capi_version() -> str:
    """The Cluster API release pinned by gomod/capi/go.mod (and gomod/capi-test/go.mod)."""
    core = buildmod._required_version(GOMOD_DIR / "capi" / "go.mod", CORE_MODULE)
    for module in (CORE_MODULE, TEST_MODULE):
        other = buildmod._required_version(GOMOD_DIR / "capi-test" / "go.mod", module)
        if other != core:
            raise BuildError(f"gomod/capi-test pins {module} {other}, gomod/capi pins {CORE_MODULE} {core}")
    return core


def cache_dir(version: str | None = None) -> Path:
    """${PROFKIT_E2E_CACHE:-~/.cache/profkit-e2e}/capi-<version>."""
    return buildmod.cache_root() / f"capi-{version or capi_version()}"


def bin_dir(version: str | None = None) -> Path:
    return cache_dir(version) / "bin"


def missing_binaries(directory: Path | None = None) -> list[str]:
    d = directory or bin_dir()
    return [key for key, m in MANAGERS.items() if not (d / m.binary).is_file()]


def go_env() -> dict[str, str]:
    """The control plane's go environment plus the checksum-database exception for the test module."""
    env = buildmod.go_env()
    nosum = [p for p in env.get("GONOSUMDB", "").split(",") if p]
    if TEST_MODULE not in nosum:
        env["GONOSUMDB"] = ",".join([*nosum, TEST_MODULE])
    return env


def ldflags(version: str) -> str:
    """Cluster API's own version ldflags (hack/version.sh), so `--version` and user agents say the release."""
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = f"{CORE_MODULE}/version"
    values = {"gitMajor": major, "gitMinor": minor, "gitVersion": version, "gitTreeState": "clean",
              "buildDate": "1970-01-01T00:00:00Z"}
    return " ".join(["-s", "-w", *(f"-X {pkg}.{k}={v}" for k, v in values.items())])


def module_dir(module: str, version: str | None = None) -> Path:
    """Where ``module`` at the pinned version sits in the Go module cache (downloading it if needed)."""
    version = version or capi_version()
    wrapper = "capi" if module == CORE_MODULE else "capi-test"
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=GOMOD_DIR / wrapper,
                          env=go_env(), text=True, capture_output=True)
    if proc.returncode != 0:
        raise BuildError(f"go mod download {module}@{version} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    import json

    info = json.loads(proc.stdout)
    if info.get("Error") or not info.get("Dir"):
        raise BuildError(f"go mod download {module}@{version}: {info.get('Error', 'no Dir')}")
    return Path(info["Dir"])


def build(force: bool = False) -> Path:
    """Build every missing manager (sequentially, niced) into the cache; return the bin dir."""
    version = capi_version()
    target = bin_dir(version)
    todo = list(MANAGERS) if force else missing_binaries(target)
    if not todo:
        _log(f"all managers cached in {target}")
        return target
    if not buildmod.go_available():
        raise BuildError("go is not on PATH; cannot build the Cluster API managers")
    target.mkdir(parents=True, exist_ok=True)
    _log(f"building {', '.join(MANAGERS[k].binary for k in todo)} {version} into {target}")
    total = time.monotonic()
    for i, key in enumerate(todo, 1):
        m = MANAGERS[key]
        _log(f"[{i}/{len(todo)}] {m.binary} ({m.package}) ...")
        secs = buildmod._go_build(GOMOD_DIR / m.wrapper, m.package, target / m.binary, ldflags(version),
                                 env=go_env(), nice=True)
        _log(f"[{i}/{len(todo)}] {m.binary} done in {secs:.0f}s")
    _log(f"built {len(todo)} managers in {time.monotonic() - total:.0f}s")
    return target


def cache_size(path: Path | None = None) -> int:
    """Bytes under the Cluster API cache directory."""
    root = path or cache_dir()
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def env_summary() -> str:
    return f"GONOSUMDB={go_env()['GONOSUMDB']} GOTOOLCHAIN={os.environ.get('GOTOOLCHAIN', 'local')}"
