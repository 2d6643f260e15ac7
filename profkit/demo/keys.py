"""Pure-Python RSA key generation shaped like the ``rsa`` package (newkeys -> getprime -> is_prime)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

_SMALL_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)
DEFAULT_EXPONENT = 65537


@dataclass(frozen=True)
class PublicKey:
    n: int
    e: int


@dataclass(frozen=True)
class PrivateKey:
    n: int
    e: int
    d: int
    p: int
    q: int


def read_random_odd_int(nbits: int) -> int:
    """A random odd integer of exactly ``nbits`` bits."""
    return secrets.randbits(nbits) | (1 << (nbits - 1)) | 1


def get_primality_testing_rounds(number: int) -> int:
    """Miller-Rabin rounds for an error below 2^-100 at this size (as the ``rsa`` package picks them)."""
    bits = number.bit_length()
    if bits >= 1536:
        return 3
    if bits >= 1024:
        return 4
    if bits >= 512:
        return 7
    return 10


def miller_rabin_primality_testing(n: int, k: int) -> bool:
    """Miller-Rabin with ``k`` random bases; the modular exponentiations are where the time goes."""
    if n < 2:
        return False
    d, r = n - 1, 0
    while not d & 1:
        d >>= 1
        r += 1
    for _ in range(k):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x == 1 or x == n - 1:
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def is_prime(number: int) -> bool:
    """Trial division by small primes, then Miller-Rabin."""
    if number < 10:
        return number in (2, 3, 5, 7)
    if not number & 1:
        return False
    for p in _SMALL_PRIMES:
        if number % p == 0:
            return number == p
    return miller_rabin_primality_testing(number, get_primality_testing_rounds(number) + 1)


def getprime(nbits: int) -> int:
    """A random prime of ``nbits`` bits."""
    while True:
        candidate = read_random_odd_int(nbits)
        if is_prime(candidate):
            return candidate


def find_p_q(nbits: int) -> tuple[int, int]:
    """Two distinct primes whose product has about ``nbits`` bits (their sizes differ a little)."""
    half = nbits // 2
    shift = half // 16
    while True:
        p, q = getprime(half + shift), getprime(half - shift)
        if p != q:
            return max(p, q), min(p, q)


def calculate_keys(p: int, q: int, exponent: int = DEFAULT_EXPONENT) -> tuple[int, int]:
    """The public and private exponents for primes ``p`` and ``q``."""
    phi_n = (p - 1) * (q - 1)
    return exponent, pow(exponent, -1, phi_n)


def newkeys(nbits: int, exponent: int = DEFAULT_EXPONENT) -> tuple[PublicKey, PrivateKey]:
    """A new RSA key pair of about ``nbits`` bits: all the CPU goes into finding the two primes."""
    if nbits < 16:
        raise ValueError("key too small")
    while True:
        p, q = find_p_q(nbits)
        try:
            e, d = calculate_keys(p, q, exponent)
            break
        except ValueError:  # exponent not invertible modulo phi(n): pick other primes
            continue
    n = p * q
    return PublicKey(n, e), PrivateKey(n, e, d, p, q)
