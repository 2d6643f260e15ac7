"""repeated-key-generation names the key generation and the controller's own caller, Go and Python alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from profkit.analyze import AnalyzeOptions, KeyGenerationRules, run_analyzers
from profkit.analyze.keygen_frames import crypto_call
from profkit.analyze.repeated_key_generation import find_keygen
from profkit.bundle import BundleWriter, open_bundle
from profkit.model import Frame, Profile

FIXTURES = Path(__file__).parent.parent / "fixtures"
T0 = 1_700_000_000.0
NS = 1e7  # one 10 ms Go CPU sample in nanoseconds


def go_profile(stacks: list[tuple[list[str], int]]) -> Profile:
    """A Go CPU profile from root-first function names and sample counts."""
    index: dict[str, int] = {}
    for names, _ in stacks:
        for name in names:
            index.setdefault(name, len(index))
    return Profile([Frame(n) for n in index], [tuple(index[n] for n in names) for names, _ in stacks],
                   [count * NS for _, count in stacks], period=NS, language="go", duration=30.0)


KCP_CHAIN = [
    "runtime.goexit",
    "sigs.k8s.io/controller-runtime/pkg/internal/controller.(*Controller).processNextWorkItem",
    "sigs.k8s.io/controller-runtime/pkg/internal/controller.(*Controller).reconcileHandler",
    "sigs.k8s.io/cluster-api/controlplane/kubeadm/internal/controllers.(*KubeadmControlPlaneReconciler).Reconcile",
    "sigs.k8s.io/cluster-api/controlplane/kubeadm/internal.(*Management).GetWorkloadCluster",
    "sigs.k8s.io/cluster-api/controlplane/kubeadm/internal.generateClientCert",
    "sigs.k8s.io/cluster-api/util/certs.NewPrivateKey",
    "crypto/rsa.GenerateKey",
    "crypto/rand.Prime",
    "math/big.nat.expNNMontgomery",
    "math/big.addMulVVW",
]
OTHER = ["runtime.goexit", "sigs.k8s.io/controller-runtime/pkg/internal/controller.(*Controller).reconcileHandler",
         "sigs.k8s.io/cluster-api/controlplane/kubeadm/internal/controllers.(*KubeadmControlPlaneReconciler).Reconcile",
         "k8s.io/client-go/rest.(*Request).Do", "runtime.mallocgc"]


def write_bundle(tmp_path: Path, profiles: list[tuple[str, str, bytes]], reconciles_per_scrape: float = 0.0,
                 duration: float = 30.0) -> Path:
    """A bundle with raw profiles ``(kind, format, bytes)`` and optionally a reconcile counter."""
    writer = BundleWriter(tmp_path / "bundle")
    for i, (kind, fmt, data) in enumerate(profiles):
        writer.add_profile("ctl", "pod-1", kind, fmt, data, T0 + i * duration, duration)
    if reconciles_per_scrape:
        for step in range(int(len(profiles) * duration / 5) + 1):
            writer.add_points("ctl", "pod-1", T0 + step * 5, [
                ("controller_runtime_reconcile_total", {"controller": "widget", "result": "success"},
                 step * reconciles_per_scrape)])
    writer.close()
    return tmp_path / "bundle"


def test_go_key_generation_is_found_with_the_own_caller_chain_above_it() -> None:
    profile = go_profile([(KCP_CHAIN, 60), (OTHER, 40)])
    use = find_keygen(profile)
    assert use.weight == 60 * NS
    assert dict(use.by_call) == {"crypto/rsa.GenerateKey": 60 * NS}
    [(chain, _)] = use.chains.items()
    assert chain[:3] == (
        "sigs.k8s.io/cluster-api/util/certs.NewPrivateKey",
        "sigs.k8s.io/cluster-api/controlplane/kubeadm/internal.generateClientCert",
        "sigs.k8s.io/cluster-api/controlplane/kubeadm/internal.(*Management).GetWorkloadCluster",
    )
    # NewPrivateKey and generateClientCert only wrap key creation: the fix belongs in GetWorkloadCluster.
    assert list(use.fix_sites) == ["sigs.k8s.io/cluster-api/controlplane/kubeadm/internal.(*Management).GetWorkloadCluster"]
    assert list(use.leaves) == ["math/big.addMulVVW"]


@pytest.mark.parametrize("name, file, what", [
    ("crypto/ecdsa.GenerateKey", "", "key generation"),
    ("crypto/ed25519.GenerateKey", "", "key generation"),
    ("crypto/x509.CreateCertificate", "", "certificate signing"),
    ("crypto/rsa.GenerateMultiPrimeKey", "", "key generation"),
    ("crypto/internal/fips140/rsa.GenerateKey", "", "key generation"),
])
def test_go_crypto_calls_are_recognised(name: str, file: str, what: str) -> None:
    call = crypto_call(Frame(name, file), "go")
    assert call is not None and call.what == what


@pytest.mark.parametrize("frame, expected", [
    (Frame("generate_private_key", "/v/site-packages/cryptography/hazmat/primitives/asymmetric/rsa.py"), "RSA"),
    (Frame("generate_private_key", "/v/site-packages/cryptography/hazmat/primitives/asymmetric/ec.py"), "ECDSA"),
    (Frame("Ed25519PrivateKey.generate", "/v/site-packages/cryptography/hazmat/primitives/asymmetric/ed25519.py"),
     "Ed25519"),
    (Frame("newkeys", "/usr/lib/python3/dist-packages/rsa/key.py"), "RSA"),
    (Frame("getprime", "/v/site-packages/rsa/prime.py"), "RSA"),
    (Frame("newkeys", "/work/main/profkit/demo/keys.py"), "RSA"),
])
def test_python_key_generation_frames_are_recognised(frame: Frame, expected: str) -> None:
    call = crypto_call(frame, "python")
    assert call is not None and call.algorithm == expected


def test_ordinary_functions_are_not_key_generation() -> None:
    assert crypto_call(Frame("crypto/sha256.Sum256"), "go") is None
    assert crypto_call(Frame("main.GenerateKeyName"), "go") is None
    assert crypto_call(Frame("newkeys", "/app/controller.py"), "python") is None


def test_python_demo_controller_caller_is_named(tmp_path: Path) -> None:
    """The demo's own keys.newkeys under generate_client_cert: the caller to fix is get_workload_cluster_client."""
    site = "/usr/lib/python3/site-packages/profkit/demo/"
    frames = [
        Frame("_run_module_as_main", "/usr/lib/python3.11/runpy.py"),
        Frame("<module>", site + "controller.py"),
        Frame("WidgetReconciler.reconcile", site + "controller.py"),
        Frame("get_workload_cluster_client", site + "controller.py"),
        Frame("generate_client_cert", site + "controller.py"),
        Frame("newkeys", site + "keys.py"),
        Frame("getprime", site + "keys.py"),
        Frame("is_prime", site + "keys.py"),
        Frame("HTTPServer.serve_forever", "/usr/lib/python3.11/socketserver.py"),
    ]
    profile = Profile(frames, [(0, 1, 2, 3, 4, 5, 6, 7), (0, 1, 8)], [0.9, 0.1], unit="seconds",
                      language="python")
    use = find_keygen(profile)
    assert use.weight == pytest.approx(0.9)
    assert list(use.fix_sites) == ["profkit.demo.controller.get_workload_cluster_client"]


def test_keygen_profile_from_bundle_gives_critical_finding_with_keys_per_reconcile(tmp_path: Path) -> None:
    from profkit.formats.pprof import encode_pprof

    chain = ["runtime.goexit", "main.(*Worker).processItem", "main.issueCertificate", "main.newPrivateKey",
             "crypto/rsa.GenerateKey", "crypto/rand.Prime", "math/big.addMulVVW"]
    healthy = ["runtime.goexit", "main.(*Worker).processItem", "crypto/sha256.Sum256"]
    data = encode_pprof(go_profile([(chain, 600), (healthy, 400)]))
    # 6 s of CPU in key generation during a 30 s window with 2 reconciles/s: 0.1 s per reconcile.
    bundle = write_bundle(tmp_path, [("cpu", "pprof", data)], reconciles_per_scrape=10.0)
    [finding] = run_analyzers(open_bundle(bundle), AnalyzeOptions(only=("repeated-key-generation",), strict=True))
    assert finding.severity == "warning"  # 60 % of CPU, but 0.2 cores: below critical_cores (0.25)
    assert finding.evidence["cores"] == pytest.approx(0.2)
    assert finding.evidence["cpu_share"] == 0.6
    assert finding.evidence["caller"] == "main.(*Worker).processItem"
    assert finding.evidence["caller_chain"][:2] == ["main.newPrivateKey", "main.issueCertificate"]
    assert finding.evidence["reconciles"] == 60.0
    assert finding.evidence["keygen_cpu_seconds_per_reconcile"] == 0.1
    assert finding.evidence["estimated_keys_per_reconcile"] == pytest.approx(0.1 / 0.103, abs=0.05)
    assert finding.evidence["estimated_keys_per_reconcile_range"] == [0.67, 2.5]  # 0.1 s / 150 ms, 0.1 s / 40 ms
    assert "0.67-2.5 RSA keys per reconcile" in finding.title
    assert "main.(*Worker).processItem" in finding.recommendation
    assert "PR 8617" not in finding.recommendation  # the Cluster API story is for Cluster API code only


@pytest.mark.parametrize("keygen_samples, severity", [(3, "info"), (10, "warning"), (30, "critical")])
def test_default_thresholds_decide_severity(tmp_path: Path, keygen_samples: int, severity: str) -> None:
    from profkit.formats.pprof import encode_pprof

    data = encode_pprof(go_profile([(KCP_CHAIN, keygen_samples), (OTHER, 100 - keygen_samples)]))
    bundle = write_bundle(tmp_path, [("cpu", "pprof", data)])
    by_share = KeyGenerationRules(warning_cores=0.0, critical_cores=0.0)  # grade by share alone here
    [finding] = run_analyzers(open_bundle(bundle), AnalyzeOptions(only=("repeated-key-generation",), strict=True,
                                                                  key_generation=by_share))
    assert finding.severity == severity
    assert "PR 8617" in finding.recommendation  # Cluster API code: the KCP story fits


def test_small_absolute_cost_is_info_and_signing_is_titled_as_signing(tmp_path: Path) -> None:
    """2 % of one core of which 14 % signs a certificate: info, titled certificate signing, not key generation."""
    from profkit.formats.pprof import encode_pprof

    signing = ["runtime.goexit", "main.(*Worker).processItem", "main.renewCertificate",
               "crypto/x509.CreateCertificate", "crypto/rsa.SignPKCS1v15", "math/big.addMulVVW"]
    idle = ["runtime.goexit", "main.(*Worker).processItem", "encoding/json.Marshal"]
    profile = go_profile([(signing, 8), (idle, 52)])  # 0.6 s of CPU in 30 s: 2 % of a core, 13 % signing
    bundle = write_bundle(tmp_path, [("cpu", "pprof", encode_pprof(profile))])
    [finding] = run_analyzers(open_bundle(bundle), AnalyzeOptions(only=("repeated-key-generation",), strict=True,
                                                                  key_generation=KeyGenerationRules(min_samples=1)))
    assert finding.severity == "info"
    assert finding.title.startswith("certificate signing takes 13% of CPU, 0.00 cores")
    assert "signs a certificate" in finding.recommendation and "private key every time" not in finding.recommendation


def test_explicit_thresholds_override_the_defaults(tmp_path: Path) -> None:
    from profkit.formats.pprof import encode_pprof

    data = encode_pprof(go_profile([(KCP_CHAIN, 10), (OTHER, 90)]))
    bundle = write_bundle(tmp_path, [("cpu", "pprof", data)])
    options = AnalyzeOptions(only=("repeated-key-generation",), strict=True,
                             key_generation=KeyGenerationRules(warning_share=0.5, critical_share=0.9))
    [finding] = run_analyzers(open_bundle(bundle), options)
    assert finding.severity == "info"
    quiet = AnalyzeOptions(only=("repeated-key-generation",), key_generation=KeyGenerationRules(min_share=0.2))
    assert run_analyzers(open_bundle(bundle), quiet) == []


def test_real_go_keygen_profile_names_the_programs_own_caller(tmp_path: Path) -> None:
    data = (FIXTURES / "go-cpu-keygen.pb.gz").read_bytes()
    bundle = write_bundle(tmp_path, [("cpu", "pprof", data)])
    [finding] = run_analyzers(open_bundle(bundle), AnalyzeOptions(only=("repeated-key-generation",), strict=True))
    assert finding.severity in ("warning", "critical")
    assert finding.evidence["caller"] in ("main.issueCertificate", "main.(*Worker).processItem")
    assert "main.issueCertificate" in finding.evidence["caller_chain"]


def test_real_go_healthy_profile_has_no_key_generation_finding(tmp_path: Path) -> None:
    data = (FIXTURES / "go-cpu-healthy.pb.gz").read_bytes()
    bundle = write_bundle(tmp_path, [("cpu", "pprof", data)])
    assert run_analyzers(open_bundle(bundle), AnalyzeOptions(only=("repeated-key-generation",), strict=True)) == []


def test_real_pyspy_keygen_profile_is_flagged(tmp_path: Path) -> None:
    data = (FIXTURES / "pyspy-keygen.speedscope.json").read_bytes()
    bundle = write_bundle(tmp_path, [("cpu", "speedscope", data)])
    [finding] = run_analyzers(open_bundle(bundle), AnalyzeOptions(only=("repeated-key-generation",), strict=True))
    assert finding.severity in ("warning", "critical")
    assert finding.evidence["caller"]
    # The fix fits a Python operator: a cache per object or issuer, or a Secret; no Cluster API story.
    assert "per object or per issuer" in finding.recommendation and "Secret" in finding.recommendation
    assert "KubeadmControlPlane" not in finding.recommendation and "sync.Map" not in finding.recommendation
    # The fix fits a Python operator: a cache per object or issuer, or a Secret; no Cluster API story.
    assert "per object or per issuer" in finding.recommendation and "Secret" in finding.recommendation
    assert "KubeadmControlPlane" not in finding.recommendation and "sync.Map" not in finding.recommendation
