"""Cross-signing, which nio does not do.

Clients following MSC4153 (Element since April 2026) neither share room keys with nor accept
messages from a device its owner has not cross-signed. So on first start the bot makes its own
master, self-signing and user-signing keys (ed25519), uploads them, and signs its device with
the self-signing key. The same code checks *other* users' devices: a device counts as trusted
when its owner's self-signing key (itself signed by their master key) signed it.

Keys, key ids and signatures use unpadded *standard* base64: Synapse accepts URL-safe too, but
Element's crypto rejects it and silently drops the identity.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bots.runtime.errors import MatrixError
from bots.runtime.matrix import Matrix
from bots.runtime.sealed_files import load_sealed, write_sealed

log = logging.getLogger(__name__)

KEYS_QUERY = "/_matrix/client/v3/keys/query"
CROSS_SIGNING_PURPOSE = "cross-signing"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def canonical_json(obj: Any) -> bytes:
    """The Matrix canonical JSON form that signatures cover."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _signable(obj: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


def public_b64(key: Ed25519PrivateKey) -> str:
    return b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def sign(key: Ed25519PrivateKey, obj: dict[str, Any]) -> str:
    return b64(key.sign(_signable(obj)))


def verify_signature(obj: dict[str, Any], user_id: str, public_key: str) -> bool:
    """Does ``obj`` carry a valid signature of ``user_id`` by the ed25519 key ``public_key``?"""
    sig = obj.get("signatures", {}).get(user_id, {}).get(f"ed25519:{public_key}")
    if not sig:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(unb64(public_key)).verify(unb64(sig), _signable(obj))
    except (InvalidSignature, ValueError):
        return False
    return True


def _only_ed25519(key_obj: dict[str, Any]) -> str | None:
    keys = [v for k, v in key_obj.get("keys", {}).items() if k.startswith("ed25519:")]
    return keys[0] if len(keys) == 1 else None


@dataclass
class CrossSigningKeys:
    master: Ed25519PrivateKey
    self_signing: Ed25519PrivateKey
    user_signing: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        return cls(Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path, pickle_key: str | None = None, owner: str = "") -> CrossSigningKeys:
        """The keys kept at ``path``, made on first use.

        With ``pickle_key`` (the bots) the private keys are sealed under it in ``path`` with the
        suffix ``.sealed`` (a plain file from an older version is sealed, then shredded), bound to
        ``owner``; without (the test people's clients only) they are plain JSON, mode 0600.
        """
        sealed = path.with_suffix(".sealed")
        raw: dict[str, Any] | None
        if pickle_key is not None:
            raw = load_sealed(sealed, path, pickle_key, CROSS_SIGNING_PURPOSE, owner)
        else:
            raw = json.loads(path.read_text("utf-8")) if path.exists() else None
        if raw is not None:
            return cls(
                *(
                    Ed25519PrivateKey.from_private_bytes(unb64(raw[k]))
                    for k in ("master", "self_signing", "user_signing")
                )
            )
        keys = cls.generate()
        raw = {
            name: b64(key.private_bytes_raw())
            for name, key in (
                ("master", keys.master),
                ("self_signing", keys.self_signing),
                ("user_signing", keys.user_signing),
            )
        }
        if pickle_key is not None:
            write_sealed(sealed, pickle_key, CROSS_SIGNING_PURPOSE, owner, raw)
            return keys
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(raw, fh)
        os.replace(tmp, path)
        return keys

    def upload_body(self, user_id: str) -> dict[str, Any]:
        master_pub = public_b64(self.master)
        master = {"user_id": user_id, "usage": ["master"], "keys": {f"ed25519:{master_pub}": master_pub}}
        out: dict[str, Any] = {"master_key": master}
        for name, key, usage in (
            ("self_signing_key", self.self_signing, "self_signing"),
            ("user_signing_key", self.user_signing, "user_signing"),
        ):
            pub = public_b64(key)
            obj: dict[str, Any] = {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{pub}": pub}}
            obj["signatures"] = {user_id: {f"ed25519:{master_pub}": sign(self.master, obj)}}
            out[name] = obj
        return out


async def ensure_cross_signed(
    matrix: Matrix, keys_path: Path, password: str | None, pickle_key: str | None = None
) -> bool:
    """Make sure our identity is published and our device signed by it. Returns True if it is.

    Idempotent: on a later start it only checks (one /keys/query) and changes nothing. The bots
    pass their ``pickle_key``: the private keys are then sealed (see ``load_or_create``).
    """
    user_id, device_id = matrix.client.user_id, matrix.client.device_id
    keys = CrossSigningKeys.load_or_create(keys_path, pickle_key, user_id)
    master_pub, ssk_pub = public_b64(keys.master), public_b64(keys.self_signing)

    query = await matrix.api("POST", KEYS_QUERY, {"device_keys": {user_id: []}})
    published_master = _only_ed25519(query.get("master_keys", {}).get(user_id, {}))
    device = query.get("device_keys", {}).get(user_id, {}).get(device_id)
    if device is None:
        raise MatrixError("our device keys are not on the server yet; upload them first")

    if published_master != master_pub:
        body = keys.upload_body(user_id)
        try:
            await matrix.api("POST", "/_matrix/client/v3/keys/device_signing/upload", body)
        except MatrixError as exc:
            if exc.status != 401:
                raise
            if password is None:
                log.warning(
                    "cross-signing keys differ on the server and no password is configured to replace them"
                )
                return False
            # Replacing an identity needs user-interactive auth: get a session, then prove the password.
            session = await _uia_session(matrix, body)
            body["auth"] = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user_id},
                "password": password,
                "session": session,
            }
            await matrix.api("POST", "/_matrix/client/v3/keys/device_signing/upload", body)
        log.info("published cross-signing identity for %s", user_id)
    elif verify_signature(device, user_id, ssk_pub):
        return True

    signed = {k: device[k] for k in ("algorithms", "device_id", "keys", "user_id")}
    signed["signatures"] = {user_id: {f"ed25519:{ssk_pub}": sign(keys.self_signing, signed)}}
    result = await matrix.api(
        "POST", "/_matrix/client/v3/keys/signatures/upload", {user_id: {device_id: signed}}
    )
    # Errors come back under HTTP 200, in "failures".
    if result.get("failures"):
        raise MatrixError(f"signing our device failed: {json.dumps(result['failures'])[:300]}")
    log.info("cross-signed device %s", device_id)
    return True


async def _uia_session(matrix: Matrix, body: dict[str, Any]) -> str:
    # A bare request answers 401 with the flows and a session id in the body; the adapter turns
    # the 401 into an exception, so make this one call raw.
    import aiohttp

    client = matrix.client
    headers = {"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"}
    resp = await client.send(
        "POST", "/_matrix/client/v3/keys/device_signing/upload", json.dumps(body), headers
    )
    try:
        payload = await resp.json(content_type=None)
    except (aiohttp.ContentTypeError, json.JSONDecodeError):
        payload = {}
    session = payload.get("session") if isinstance(payload, dict) else None
    if not session:
        raise MatrixError("homeserver offered no user-interactive auth session for cross-signing")
    return str(session)


def trusted_devices(query: dict[str, Any], user_id: str) -> dict[str, bool]:
    """For one user in a /keys/query answer: device id -> cross-signed by its owner?

    A device is trusted when the owner's self-signing key, itself validly signed by their master
    key, signed it. A user with no cross-signing identity has no trusted devices.
    """
    devices = query.get("device_keys", {}).get(user_id, {})
    master = query.get("master_keys", {}).get(user_id)
    ssk = query.get("self_signing_keys", {}).get(user_id)
    master_pub = _only_ed25519(master) if master else None
    ssk_pub = _only_ed25519(ssk) if ssk else None
    ssk_ok = bool(master_pub and ssk_pub and ssk and verify_signature(ssk, user_id, master_pub))
    return {
        device_id: bool(ssk_ok and ssk_pub and verify_signature(dev, user_id, ssk_pub))
        for device_id, dev in devices.items()
    }
