"""kwok Exec mappings for py-spy e2e: exec into an example pod runs locally with PROFKIT_PYSPY_PID set.

kwok serves Exec/ClusterExec objects only when started with ``--enable-crds=...,Exec``; when the
harness's kwok lacks that, ``ensure_exec_enabled`` installs the CRDs and restarts kwok (through the
harness's own ProcessSet, same argv and environment) with Exec and ClusterExec added.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.controlplane import build as buildmod
from tests.e2e.controlplane.harness import ControlPlane, ControlPlaneError
from tests.e2e.controlplane.procs import port_open

EXEC_KINDS = ("Exec", "ClusterExec")


def _kwok_crd(kind_plural: str) -> Path:
    modcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                              env=buildmod.go_env()).stdout.strip() or str(Path.home() / "go" / "pkg" / "mod")
    version = buildmod.pinned_versions().kwok
    path = Path(modcache) / f"sigs.k8s.io/kwok@{version}" / "kustomize" / "crd" / "bases" / f"kwok.x-k8s.io_{kind_plural}.yaml"
    if not path.is_file():
        raise ControlPlaneError(f"{path} is missing: build kwok first (python -m tests.e2e.controlplane build)")
    return path


def _kwok_argv_env(cp: ControlPlane) -> tuple[list[str], dict[str, str]]:
    pid = cp.procs.recorded().get("kwok")
    if pid is None:
        raise ControlPlaneError("kwok is not running")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    environ = Path(f"/proc/{pid}/environ").read_bytes().rstrip(b"\0").decode(errors="replace").split("\0")
    env = dict(kv.split("=", 1) for kv in environ if "=" in kv)
    return argv, {k: env[k] for k in ("KWOK_WORKDIR", "HOME") if k in env}


def exec_enabled(argv: list[str]) -> bool:
    for arg in argv:
        if arg.startswith("--enable-crds="):
            return all(kind in arg.split("=", 1)[1].split(",") for kind in EXEC_KINDS)
    return False


def with_exec_enabled(argv: list[str]) -> list[str]:
    out, seen = [], False
    for arg in argv:
        if arg.startswith("--enable-crds="):
            kinds = [k for k in arg.split("=", 1)[1].split(",") if k]
            kinds += [k for k in EXEC_KINDS if k not in kinds]
            arg, seen = "--enable-crds=" + ",".join(kinds), True
        out.append(arg)
    if not seen:
        out.append("--enable-crds=" + ",".join(EXEC_KINDS))
    return out


def ensure_exec_enabled(cp: ControlPlane) -> None:
    """Exec CRDs installed and served by kwok (restarting kwok once if it was started without them)."""
    for plural in ("execs", "clusterexecs"):
        cp.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(_kwok_crd(plural)))
    cp.kubectl("wait", "--for=condition=Established", "--timeout=60s",
               "crd/execs.kwok.x-k8s.io", "crd/clusterexecs.kwok.x-k8s.io")
    argv, env = _kwok_argv_env(cp)
    if exec_enabled(argv):
        return
    cp.procs.stop("kwok")
    # The new kwok would wait for the old one's node leases to expire (40 s) before managing pods.
    if cp.state.nodes:
        cp.kubectl("delete", "lease", "-n", "kube-node-lease", "--ignore-not-found", *cp.state.nodes, check=False)
    cp.procs.start("kwok", with_exec_enabled(argv), env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if cp.state.kwok_port and port_open(cp.state.kwok_port):
            return
        time.sleep(0.2)
    raise ControlPlaneError("kwok did not come back after enabling Exec CRDs")


def pyspy_bin_dir() -> str:
    """Directory of the real py-spy binary (not a pyenv shim), for the exec's PATH."""
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate.parent) if candidate.is_file() else ""


def map_exec(cp: ControlPlane, namespace: str, pod: str, pid: int, workdir: Path | None = None) -> None:
    """``exec`` into any container of ``pod`` runs locally, with PROFKIT_PYSPY_PID=pid and py-spy on PATH."""
    path = os.pathsep.join(p for p in (pyspy_bin_dir(), os.environ.get("PATH", "")) if p)
    doc = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Exec",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"execs": [{"local": {
            "workDir": str(workdir or cp.dir),
            "envs": [{"name": "PROFKIT_PYSPY_PID", "value": str(pid)}, {"name": "PATH", "value": path}],
        }}]},
    }
    cp.apply(json.dumps(doc))


def unmap_exec(cp: ControlPlane, namespace: str, pod: str) -> None:
    cp.kubectl("delete", "exec.kwok.x-k8s.io", pod, "-n", namespace, "--ignore-not-found", check=False)


def child_pid(wrapper_pid: int, needle: str, timeout: float = 10) -> int:
    """The pid of the wrapper's child whose command line contains ``needle`` (crilog.py wraps controllers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == wrapper_pid and needle in cmdline:
                return int(entry.name)
        time.sleep(0.2)
    raise ControlPlaneError(f"no child of {wrapper_pid} running {needle!r}")
