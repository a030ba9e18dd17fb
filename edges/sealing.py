"""Secrets at rest: keys sealed under a passphrase, claims sealed under a one-time code,
password and code hashes. AES-256-GCM throughout; the associated data names what a
ciphertext is for, so one sealed value can never be opened as another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
"""Passphrases and clerk passwords: chosen by people, so guessing them offline must stay slow
(32 MiB and about 0.1 s a try on one core)."""

PIN_SCRYPT_N = 2**10
"""scrypt's cost for one-time PINs (1 MiB, about 2 ms a check on one core).

A 6-digit PIN has only a million values: no hash cost makes it hard to guess offline, and it
does not need to be. What protects a PIN is the attempt limit (``CITYID_PIN_ATTEMPTS``, 5 per
offer, counted before the PIN is compared), and a copy of the database gains nothing from it:
the offer's claims are sealed under the pre-authorized code, which only the QR holds. The cost
of ``_SCRYPT`` would be paid on every ``/token`` (20 wallets at once queued for 2 s on two
cores) for no protection. Still scrypt and salted, so the stored value is no bare digest, and
``check_password`` reads the cost from the hash string: hashes made before stay verifiable."""
_VERSION = b"\x01"


class SealError(Exception):
    """A sealed value could not be opened: wrong passphrase or code, or it was altered."""


class NotSealedError(SealError):
    """Not a sealed value at all (too short, or not this version's first byte): a damaged or
    emptied file, or another kind of file; no passphrase could open it."""


def _seal(key: bytes, plaintext: bytes, purpose: str, salt: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return _VERSION + salt + nonce + AESGCM(key).encrypt(nonce, plaintext, purpose.encode())


def _open(key_for_salt: object, sealed: bytes, purpose: str, salt_length: int) -> bytes:
    if len(sealed) < 1 + salt_length + 12 + 16 or sealed[:1] != _VERSION:
        raise NotSealedError("not a sealed value of this version")
    salt, nonce, body = (
        sealed[1 : 1 + salt_length],
        sealed[1 + salt_length : 13 + salt_length],
        sealed[13 + salt_length :],
    )
    key = key_for_salt(salt)  # type: ignore[operator]
    try:
        return AESGCM(key).decrypt(nonce, body, purpose.encode())
    except InvalidTag:
        raise SealError("wrong passphrase or code, or the sealed value was altered") from None


def _passphrase_key(passphrase: str, salt: bytes) -> bytes:
    return hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, **_SCRYPT)


def seal_with_passphrase(plaintext: bytes, passphrase: str, purpose: str) -> bytes:
    """For long-lived secrets (signing keys): scrypt makes guessing the passphrase slow."""
    salt = secrets.token_bytes(16)
    return _seal(_passphrase_key(passphrase, salt), plaintext, purpose, salt)


def open_with_passphrase(sealed: bytes, passphrase: str, purpose: str) -> bytes:
    return _open(lambda salt: _passphrase_key(passphrase, salt), sealed, purpose, 16)


def _code_key(code: str, salt: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, b"cityid code seal").derive(code.encode("ascii"))


def seal_with_code(plaintext: bytes, code: str, purpose: str) -> bytes:
    """For claims waiting to be issued: the key comes from a random code only the wallet holds
    (128 bits or more, so a fast key derivation is enough)."""
    salt = secrets.token_bytes(16)
    return _seal(_code_key(code, salt), plaintext, purpose, salt)


def open_with_code(sealed: bytes, code: str, purpose: str) -> bytes:
    return _open(lambda salt: _code_key(code, salt), sealed, purpose, 16)


def lookup_hash(secret: str, purpose: str) -> str:
    """A hash to find a row by a high-entropy secret without storing the secret."""
    return hashlib.sha256(f"cityid:{purpose}:{secret}".encode()).hexdigest()


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` for clerk passwords (PINs: :func:`hash_pin`)."""
    return _scrypt_hash(password, _SCRYPT["n"])


def hash_pin(pin: str) -> str:
    """``scrypt$n$r$p$salt$hash`` for an offer's one-time PIN, at the cost ``PIN_SCRYPT_N``."""
    return _scrypt_hash(pin, PIN_SCRYPT_N)


def _scrypt_hash(secret: str, n: int) -> str:
    salt = secrets.token_bytes(16)
    r, p = _SCRYPT["r"], _SCRYPT["p"]
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT["maxmem"], dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
            maxmem=_SCRYPT["maxmem"], dklen=len(digest) // 2,
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)
