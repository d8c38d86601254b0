"""The access token and the cross-signing private keys rest sealed under the pickle key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bots.config import ConfigError
from bots.runtime.crosssign import CrossSigningKeys, b64
from bots.runtime.sealed_files import load_sealed, read_sealed, write_sealed
from bots.runtime.session import load_session, open_client, session_paths

KEY = "pickle-key-for-tests-0123456789abcdefghij"
BOT = "@bot:example.org"
TOKEN = "syt_Ym90_UNIQUETOKENMARKER_0123"


def every_byte_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_a_sealed_file_holds_no_plaintext_and_opens_only_with_its_key_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "session.sealed"
    write_sealed(path, KEY, "session", BOT, {"access_token": TOKEN})
    assert (path.stat().st_mode & 0o777) == 0o600
    assert TOKEN.encode() not in path.read_bytes()
    assert read_sealed(path, KEY, "session", BOT) == {"access_token": TOKEN}
    with pytest.raises(ConfigError, match="does not open with this pickle key"):
        read_sealed(path, KEY + "x", "session", BOT)
    with pytest.raises(ConfigError, match="does not open with this pickle key"):
        read_sealed(path, KEY, "session", "@other:example.org")  # copied into another bot's folder
    with pytest.raises(ConfigError, match="damaged"):
        read_sealed(path, KEY, "cross-signing", BOT)  # another kind of file
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="damaged"):
        read_sealed(path, KEY, "session", BOT)


def test_a_plain_session_from_an_older_version_is_sealed_then_deleted(tmp_path: Path) -> None:
    sealed, plain = session_paths(tmp_path)
    saved = {"user_id": BOT, "device_id": "DEV", "access_token": TOKEN}
    plain.write_text(json.dumps(saved))
    assert load_session(tmp_path, BOT, KEY) == saved
    assert not plain.exists() and sealed.exists()
    assert TOKEN.encode() not in every_byte_under(tmp_path)
    assert load_session(tmp_path, BOT, KEY) == saved  # and later starts read the sealed file


def test_a_plain_file_left_by_a_crash_after_sealing_is_removed(tmp_path: Path) -> None:
    sealed, plain = session_paths(tmp_path)
    write_sealed(sealed, KEY, "session", BOT, {"access_token": TOKEN})
    plain.write_text(json.dumps({"access_token": TOKEN}))
    assert load_sealed(sealed, plain, KEY, "session", BOT) == {"access_token": TOKEN}
    assert not plain.exists()


async def test_open_client_restores_a_plain_session_and_leaves_it_sealed(tmp_path: Path) -> None:
    sealed, plain = session_paths(tmp_path)
    plain.write_text(json.dumps({"user_id": BOT, "device_id": "DEV", "access_token": TOKEN}))
    client = await open_client(
        "http://127.0.0.1:1", BOT, tmp_path, password=None, access_token=None, device_name="x", pickle_key=KEY
    )
    try:
        assert client.access_token == TOKEN and client.device_id == "DEV"
    finally:
        await client.close()
    assert not plain.exists() and sealed.exists()
    assert TOKEN.encode() not in sealed.read_bytes()
    with pytest.raises(ConfigError, match="pickle key"):
        await open_client(
            "http://127.0.0.1:1",
            BOT,
            tmp_path,
            password=None,
            access_token=None,
            device_name="x",
            pickle_key="a different key entirely, 0123456789",
        )


def test_cross_signing_keys_are_sealed_and_a_plain_file_migrates(tmp_path: Path) -> None:
    plain = tmp_path / "cross_signing.json"
    made = CrossSigningKeys.load_or_create(plain, KEY, BOT)
    sealed = tmp_path / "cross_signing.sealed"
    assert sealed.exists() and not plain.exists()
    private = made.master.private_bytes_raw()
    assert b64(private).encode() not in sealed.read_bytes() and private not in sealed.read_bytes()
    again = CrossSigningKeys.load_or_create(plain, KEY, BOT)
    assert again.master.private_bytes_raw() == private

    older = tmp_path / "older"
    older.mkdir()
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    raw = {
        n: b64(k.private_bytes_raw())
        for n, k in zip(("master", "self_signing", "user_signing"), keys, strict=True)
    }
    (older / "cross_signing.json").write_text(json.dumps(raw))
    loaded = CrossSigningKeys.load_or_create(older / "cross_signing.json", KEY, BOT)
    assert loaded.self_signing.private_bytes_raw() == keys[1].private_bytes_raw()
    assert not (older / "cross_signing.json").exists()
    assert raw["master"].encode() not in every_byte_under(older)
