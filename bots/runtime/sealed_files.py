"""Small secret files (the session's access token, the cross-signing private keys) sealed under
the operator's pickle key.

Each kind of file has its own key, derived from the pickle key with HKDF
(:func:`storage.crypto.file_key`), and is bound to its bot's user id, so a file copied to another
bot's folder does not open there. A copy of the data directory without the pickle key opens
nothing. A plain JSON file left by an older version is read once, written sealed, then
overwritten and deleted.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

from bots.config import ConfigError
from storage.crypto import DecryptionError, file_key, seal, unseal

log = logging.getLogger(__name__)

FORMAT = "affinity-sealed-1"


def _aad(purpose: str, owner: str) -> bytes:
    return f"{FORMAT}/{purpose}/{owner}".encode()


def shred(path: Path) -> None:
    """Overwrite a file with random bytes, flush it, then unlink it (best effort: SSDs and
    copy-on-write file systems may keep old blocks; full-disk encryption covers those)."""
    size = path.stat().st_size
    with open(path, "r+b", buffering=0) as fh:
        fh.write(os.urandom(size))
        os.fsync(fh.fileno())
    path.unlink()


def write_sealed(path: Path, secret: str, purpose: str, owner: str, data: dict[str, Any]) -> None:
    """Seal ``data`` (JSON) into ``path``, mode 0600, replacing it atomically."""
    nonce, sealed = seal(file_key(secret, purpose), json.dumps(data), _aad(purpose, owner))
    body = json.dumps(
        {
            "format": FORMAT,
            "purpose": purpose,
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ciphertext": base64.b64encode(sealed).decode("ascii"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_sealed(path: Path, secret: str, purpose: str, owner: str) -> dict[str, Any]:
    """The data sealed in ``path``; ConfigError if it does not open with this pickle key."""
    try:
        outer = json.loads(path.read_text("utf-8"))
        if outer.get("format") != FORMAT or outer.get("purpose") != purpose:
            raise ValueError("not a sealed file of this kind")
        nonce = base64.b64decode(outer["nonce"])
        sealed = base64.b64decode(outer["ciphertext"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); move it away to start over") from None
    try:
        data = json.loads(unseal(file_key(secret, purpose), nonce, sealed, _aad(purpose, owner)))
    except DecryptionError:
        raise ConfigError(
            f"{path} does not open with this pickle key: was encryption.pickle_key changed, or the "
            "file copied from another bot's folder? Use the key the bots were started with "
            "(or `affinity wipe` to start over)"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is damaged; move it away to start over")
    return data


def load_sealed(
    sealed_path: Path, plain_path: Path, secret: str, purpose: str, owner: str
) -> dict[str, Any] | None:
    """The sealed file's data; a plain file from an older version is sealed first (then
    overwritten and deleted); None if there is neither."""
    if sealed_path.exists():
        data = read_sealed(sealed_path, secret, purpose, owner)
        if plain_path.exists():  # a crash between sealing and deleting left it behind
            shred(plain_path)
        return data
    if not plain_path.exists():
        return None
    try:
        data = json.loads(plain_path.read_text("utf-8"))
    except ValueError:
        raise ConfigError(f"{plain_path} is damaged; move it away to start over") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{plain_path} is damaged; move it away to start over")
    write_sealed(sealed_path, secret, purpose, owner, data)
    shred(plain_path)
    log.info("sealed %s under the pickle key; the plain file was overwritten and deleted", plain_path.name)
    return data
