"""Certificates and kubeconfig for the loopback control plane, made with the openssl CLI."""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class CertError(RuntimeError):
    """openssl is missing or failed."""


@dataclass(frozen=True)
class Pki:
    """Paths of every key and certificate the control plane uses."""

    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def apiserver_crt(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    @property
    def admin_crt(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def kubelet_client_crt(self) -> Path:
        return self.dir / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.dir / "apiserver-kubelet-client.key"

    @property
    def kwok_crt(self) -> Path:
        return self.dir / "kwok.crt"

    @property
    def kwok_key(self) -> Path:
        return self.dir / "kwok.key"


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise CertError("the openssl command is required to make the e2e certificates")
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CertError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def _sign(pki: Pki, name: str, subject: str, ext: str) -> None:
    """Make ``name.key`` and ``name.crt`` signed by the CA with the given v3 extensions."""
    d = pki.dir
    _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=d)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.crt", cwd=d,
    )
    (d / f"{name}.csr").unlink()
    (d / f"{name}.ext").unlink()


def make_pki(directory: Path, service_ip: str = "10.96.0.1") -> Pki:
    """Create (once) the CA, serving, client and service-account keys in ``directory``."""
    pki = Pki(directory)
    if pki.kwok_crt.is_file():
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    d = directory
    _openssl("genrsa", "-out", "ca.key", "2048", cwd=d)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=profkit-e2e-ca", "-days", "3650",
        "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", "ca.crt", cwd=d,
    )
    server_ext = (
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=IP:127.0.0.1,IP:{service_ip},DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
    )
    client_ext = (
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    _sign(pki, "apiserver", "/CN=kube-apiserver", server_ext)
    _sign(pki, "kwok", "/CN=kwok", server_ext)
    _sign(pki, "admin", "/O=system:masters/CN=kubernetes-admin", client_ext)
    _sign(pki, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", client_ext)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    return pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, pki: Pki, server: str) -> Path:
    """Write an admin kubeconfig (embedded certificates) for ``server``."""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: profkit-e2e\n  cluster:\n"
        f"    server: {server}\n    certificate-authority-data: {_b64(pki.ca_crt)}\n"
        "users:\n- name: admin\n  user:\n"
        f"    client-certificate-data: {_b64(pki.admin_crt)}\n    client-key-data: {_b64(pki.admin_key)}\n"
        "contexts:\n- name: profkit-e2e\n  context:\n    cluster: profkit-e2e\n    user: admin\n"
        "current-context: profkit-e2e\n"
    )
    path.chmod(0o600)
    return path
