"""Which profile frames generate keys, primes or certificates (shared by repeated-key-generation and cpu-hotspot)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from profkit.analyze.frames import base_name, go_package, python_location, python_module
from profkit.model import Frame, Profile

KEYGEN_ID = "repeated-key-generation"  # the analyzer that reports key generation

# Go: (package, bare function) -> what it does. Closures and methods of these count too.
_GO_KEYGEN = {"GenerateKey": "key generation", "GenerateMultiPrimeKey": "key generation",
              "Prime": "prime generation", "randomPrime": "prime generation",
              "CreateCertificate": "certificate signing", "CreateCertificateRequest": "certificate signing"}
_GO_ALGORITHM = re.compile(r"(?:^|/)(rsa|ecdsa|ed25519|ecdh|elliptic|rand|x509)$")
# Python: library files and the functions in them that generate keys or primes.
_PY_CRYPTOGRAPHY = re.compile(r"cryptography/hazmat/(?:primitives/asymmetric/(\w+)\.py|backends/openssl/backend\.py)$")
_PY_CRYPTOGRAPHY_FUNCTIONS = {"generate_private_key", "generate", "generate_rsa_private_key",
                              "generate_ec_private_key", "generate_dsa_private_key"}
_PY_RSA_PACKAGE = re.compile(r"(?:^|/)rsa/(key|prime)\.py$")
_PY_RSA_FUNCTIONS = {"newkeys": "key generation", "gen_keys": "key generation", "find_p_q": "prime generation",
                     "getprime": "prime generation"}
_OWN_KEYS_FUNCTIONS = {"newkeys", "getprime", "generate_private_key", "gen_keys", "find_p_q"}

@dataclass(frozen=True)
class CryptoCall:
    """A frame that generates a key or prime, or signs a certificate."""

    what: str  # key generation | prime generation | certificate signing
    algorithm: str  # RSA, ECDSA, Ed25519, ... or "" when the frame does not say
    implementation: str  # go | cryptography | rsa | own


def crypto_call(frame: Frame, language: str) -> CryptoCall | None:
    """What a frame does in terms of key generation, or None."""
    if language != "python":
        package, function = go_package(frame.name), base_name(frame.name)
        if not (package.startswith("crypto/") or package.startswith("golang.org/x/crypto/")):
            return None
        what = _GO_KEYGEN.get(function)
        match = _GO_ALGORITHM.search(package)
        if what is None or match is None:
            return None
        algorithm = {"rsa": "RSA", "ecdsa": "ECDSA", "ed25519": "Ed25519", "ecdh": "ECDH", "elliptic": "EC",
                     "rand": "RSA", "x509": ""}[match.group(1)]
        return CryptoCall(what, algorithm, "go")
    function, file = python_location(frame)
    function = function.rsplit(".", 1)[-1]
    path = file.replace("\\", "/")
    match = _PY_CRYPTOGRAPHY.search(path)
    if match and function in _PY_CRYPTOGRAPHY_FUNCTIONS:
        stem = match.group(1) or ""
        algorithm = {"rsa": "RSA", "ec": "ECDSA", "ed25519": "Ed25519", "ed448": "Ed448", "dsa": "DSA",
                     "x25519": "X25519", "x448": "X448", "dh": "DH"}.get(stem, "RSA" if "rsa" in function else "")
        return CryptoCall("key generation", algorithm, "cryptography")
    if path.endswith("cryptography/x509/base.py") and function == "sign":
        return CryptoCall("certificate signing", "", "cryptography")
    if _PY_RSA_PACKAGE.search(path) and function in _PY_RSA_FUNCTIONS:
        return CryptoCall(_PY_RSA_FUNCTIONS[function], "RSA", "rsa")
    module = python_module(path) if path else ""
    if function in _OWN_KEYS_FUNCTIONS and (module == "keys" or module.endswith(".keys")):
        what = "prime generation" if function in ("getprime", "find_p_q") else "key generation"
        return CryptoCall(what, "RSA", "own")
    return None


def keygen_mask(profile: Profile) -> list[bool]:
    """For each stack of ``profile``: does it run key generation?"""
    marks = [crypto_call(f, profile.language) is not None for f in profile.frames]
    return [any(marks[i] for i in stack) for stack in profile.stacks]
