"""The backup file: the database compressed, then sealed with AES-256-GCM under a key derived
from the operator's passphrase by scrypt, behind a header that says how to open it."""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"AFFINITY-BACKUP\x00"
FORMAT_VERSION = 1
# scrypt: 2**15 x 8 x 128 bytes = 32 MiB and ~0.1 s per try; stored in the header so that a
# later version can raise them and still read old files.
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
_HEADER = struct.Struct(f">{len(MAGIC)}sBBBB16s12s")


class BackupError(Exception):
    """The file is not a backup we can read, or the passphrase is wrong."""


@dataclass(frozen=True)
class _Header:
    version: int
    log2_n: int
    r: int
    p: int
    salt: bytes
    nonce: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.log2_n, self.r, self.p, self.salt, self.nonce)


def _key(passphrase: str, header: _Header) -> bytes:
    kdf = Scrypt(salt=header.salt, length=32, n=1 << header.log2_n, r=header.r, p=header.p)
    return kdf.derive(passphrase.encode("utf-8"))


def encrypt_backup(plain: bytes, passphrase: str) -> bytes:
    """``plain`` compressed, then sealed with AES-256-GCM under a scrypt key.

    The header (magic, version, KDF parameters, salt, nonce) is authenticated data, so a changed
    parameter fails like a wrong passphrase instead of decrypting into garbage.
    """
    header = _Header(FORMAT_VERSION, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, os.urandom(16), os.urandom(12))
    head = header.pack()
    sealed = AESGCM(_key(passphrase, header)).encrypt(header.nonce, zlib.compress(plain, 6), head)
    return head + sealed


def decrypt_backup(blob: bytes, passphrase: str) -> bytes:
    if len(blob) < _HEADER.size or not blob.startswith(MAGIC):
        raise BackupError("this is not an Affinity backup file")
    _, version, log2_n, r, p, salt, nonce = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise BackupError(
            f"backup format version {version} is not supported by this build (it reads {FORMAT_VERSION})"
        )
    if not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise BackupError("the backup header is damaged")
    header = _Header(version, log2_n, r, p, salt, nonce)
    try:
        compressed = AESGCM(_key(passphrase, header)).decrypt(
            nonce, blob[_HEADER.size :], blob[: _HEADER.size]
        )
    except InvalidTag:
        raise BackupError("wrong passphrase, or the backup file is damaged") from None
    return zlib.decompress(compressed)
