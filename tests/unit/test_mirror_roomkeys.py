"""A finished reflection's DM room keys leave nio's encryption store (memory and disk).

A real nio client with a real SQLite store, no homeserver: two rooms each get an inbound Megolm
session (the bot's own outbound one creates its inbound copy, as when it sends), and the
conversation in one of them ends.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig

from bots.mirror.roomkeys import forget_room_keys

DM = "!dm-with-author:test.example"
OTHER = "!unrelated:test.example"


def _client(store: Path) -> AsyncClient:
    config = AsyncClientConfig(encryption_enabled=True, pickle_key="a-long-random-pickle-key")
    client = AsyncClient("http://localhost:1", "@bot:test.example", store_path=str(store), config=config)
    client.restore_login("@bot:test.example", "BOTDEVICE", "token")  # loads (creates) the store
    return client


def _stored_rooms(store: Path) -> list[str]:
    client = _client(store)
    try:
        assert client.olm is not None
        return sorted({s.room_id for s in client.olm.inbound_group_store})
    finally:
        client.store.database.close()


def test_forgetting_a_dm_deletes_its_room_keys_and_rotates_the_outbound_session(tmp_path: Path) -> None:
    client = _client(tmp_path)
    assert client.olm is not None
    for room in (DM, OTHER):
        client.olm.create_outbound_group_session(room)  # also stores the inbound copy
    outbound = client.olm.outbound_group_sessions[DM]
    db_file = next(tmp_path.glob("*.db"))
    with sqlite3.connect(db_file) as raw:
        [(pickled,)] = raw.execute(
            "SELECT session FROM megolminboundsessions WHERE room_id = ?", (DM,)
        ).fetchall()
    raw.close()
    assert bytes(pickled) in db_file.read_bytes()
    assert _stored_rooms(tmp_path) == sorted([DM, OTHER])

    assert forget_room_keys(client, DM) == 1
    # In memory: no session of the DM is left, and the next send uses a new outbound session.
    assert [s for s in client.olm.inbound_group_store if s.room_id == DM] == []
    assert DM not in client.olm.outbound_group_sessions
    client.olm.create_outbound_group_session(DM)
    assert client.olm.outbound_group_sessions[DM].id != outbound.id
    client.store.database.close()
    # On disk: gone from the store, and its bytes from the file (secure_delete).
    reopened = _stored_rooms(tmp_path)
    assert DM in reopened  # the new outbound session's inbound copy, with nothing of the old
    assert bytes(pickled) not in db_file.read_bytes()
    client2 = _client(tmp_path)
    try:
        assert client2.olm is not None
        ids = {s.id for s in client2.olm.inbound_group_store if s.room_id == DM}
        assert outbound.id not in ids
        assert {s.room_id for s in client2.olm.inbound_group_store} == {DM, OTHER}
    finally:
        client2.store.database.close()


def test_without_an_encryption_store_nothing_happens() -> None:
    assert forget_room_keys(None, DM) == 0
