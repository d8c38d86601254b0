"""Encryption at rest for sensitive rows: per-purpose keys, sealed text, keyed hashes.

The pattern (used by the blind mirror): each aggregate that holds something sensitive gets its
own random key, stored in its own row. Text is sealed with AES-256-GCM; identities that must be
compared but never stored are replaced by an HMAC-SHA256 under the same key. Deleting the key
row ("crypto-shredding") makes every remaining ciphertext and hash meaningless at once, even in
a backup taken earlier.

From the one stored key, separate subkeys are derived (HKDF-SHA256) for sealing and hashing, so
no key is used for two purposes. Plaintext is padded to a multiple of :data:`PAD_TO` bytes before
sealing, so a ciphertext's length tells little about the text's.

Optionally the stored keys are themselves wrapped under a *master key* that never touches the
database (derived from a secret in the operator's environment): then a copy of the database
file alone opens nothing, even while a round is open.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
PAD_TO = 256
_LENGTH_PREFIX = 4


class DecryptionError(RuntimeError):
    """A sealed value could not be opened: wrong key, or the row was tampered with."""


def new_key() -> bytes:
    """A fresh random 256-bit key from the operating system's CSPRNG."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _subkey(key: bytes, purpose: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError("keys are 32 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"affinity/" + purpose)
    return hkdf.derive(key)


def keyed_hash(key: bytes, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` under (a subkey of) ``key``: equal inputs, equal hashes;
    without the key, no way back to the value, nor a way to test guesses."""
    return hmac.new(_subkey(key, b"hash"), value.encode("utf-8"), hashlib.sha256).digest()


def _pad(data: bytes) -> bytes:
    framed = len(data).to_bytes(_LENGTH_PREFIX, "big") + data
    return framed + bytes(-len(framed) % PAD_TO)


def _unpad(framed: bytes) -> bytes:
    length = int.from_bytes(framed[:_LENGTH_PREFIX], "big")
    if length > len(framed) - _LENGTH_PREFIX:
        raise DecryptionError("sealed value has a bad length")
    return framed[_LENGTH_PREFIX : _LENGTH_PREFIX + length]


def seal(key: bytes, plaintext: str, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt ``plaintext`` (padded) bound to ``aad``; returns ``(nonce, ciphertext)``.

    ``aad`` names where the value belongs (say, its table and row), so a ciphertext copied into
    another row does not open there.
    """
    nonce = os.urandom(NONCE_BYTES)
    data = _pad(plaintext.encode("utf-8"))
    return nonce, AESGCM(_subkey(key, b"seal")).encrypt(nonce, data, aad)


def unseal(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> str:
    """The inverse of :func:`seal`; raises :class:`DecryptionError` if it does not open."""
    try:
        framed = AESGCM(_subkey(key, b"seal")).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise DecryptionError("sealed value does not open with this key") from exc
    return _unpad(framed).decode("utf-8")


def master_key_from_secret(secret: str) -> bytes:
    """A master key from an operator secret (say, ``AFFINITY_PICKLE_KEY``).

    HKDF, not a password hash: the secret is expected to be long and random, as the README asks.
    """
    if not secret:
        raise ValueError("the master secret is empty")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=b"affinity-master", info=b"key-wrap")
    return hkdf.derive(secret.encode("utf-8"))


def wrap_key(master: bytes, key: bytes, aad: bytes) -> bytes:
    """``key`` encrypted under ``master`` (nonce prepended), bound to ``aad``."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_subkey(master, b"wrap")).encrypt(nonce, key, aad)
    return nonce + sealed


def unwrap_key(master: bytes, wrapped: bytes, aad: bytes) -> bytes:
    """The inverse of :func:`wrap_key`."""
    nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
    try:
        return AESGCM(_subkey(master, b"wrap")).decrypt(nonce, sealed, aad)
    except InvalidTag as exc:
        raise DecryptionError("stored key does not open with this master key") from exc


def file_key(secret: str, purpose: str) -> bytes:
    """The key that seals one kind of file (``"session"``, ``"cross-signing"``) under an
    operator secret (the pickle key): HKDF with the purpose as info, so each kind of file has
    its own key and none is shared with the key-wrapping master key above."""
    if not secret:
        raise ValueError("the secret is empty")
    if not purpose:
        raise ValueError("a file key needs a purpose")
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=b"affinity-files",
        info=b"file/" + purpose.encode("utf-8"),
    )
    return hkdf.derive(secret.encode("utf-8"))
