"""A finished reflection's DM cannot be decrypted with what nio's encryption store keeps.

A real nio client with a real SQLite store, no homeserver. In the DM, the person's session (as
their app would share it) has carried the conversation, and the bot's own outbound session its
replies; an unrelated room has a session too. When the conversation ends, the bot's own session
for the DM is gone, the person's is ratcheted past what was read (what they send next is still
readable), and the unrelated room is untouched: in memory and in the file on disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from nio import AsyncClient, AsyncClientConfig
from nio.crypto.sessions import InboundGroupSession, OutboundGroupSession

from bots.runtime.roomkeys import forget_room_keys

DM = "!dm-with-author:test.example"
OTHER = "!unrelated:test.example"
PERSON_KEY = "person-curve25519-key"
PICKLE = "a-long-random-pickle-key"


def _client(store: Path) -> AsyncClient:
    config = AsyncClientConfig(encryption_enabled=True, pickle_key=PICKLE)
    client = AsyncClient("http://localhost:1", "@bot:test.example", store_path=str(store), config=config)
    client.restore_login("@bot:test.example", "BOTDEVICE", "token")  # loads (creates) the store
    return client


def _stored(path: Path) -> dict[str, list[bytes]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT room_id, session FROM megolminboundsessions").fetchall()
    conn.close()
    found: dict[str, list[bytes]] = {}
    for room, pickled in rows:
        found.setdefault(room, []).append(bytes(pickled))
    return found


def test_a_finished_conversation_cannot_be_decrypted_from_the_store(tmp_path: Path) -> None:
    client = _client(tmp_path)
    olm = client.olm
    assert olm is not None
    for room in (DM, OTHER):
        olm.create_outbound_group_session(room)  # the bot's replies; stores its inbound copy
    own = olm.outbound_group_sessions[DM]
    theirs = OutboundGroupSession()  # the person's app
    theirs.mark_as_shared()
    received = InboundGroupSession(theirs.session_key, "person-ed25519", PERSON_KEY, DM)
    olm.inbound_group_store.add(received)
    client.store.save_inbound_group_session(received)
    conversation = [theirs.encrypt(text) for text in ("reflect k7m2qx", "ANSWER-ONE", "submit")]
    for ciphertext in conversation:  # decrypted as nio does, which remembers each index
        _, index = received.decrypt(ciphertext)
        olm.message_index_store[(PERSON_KEY, received.id, index)] = ("$event", 0)
    db_file = next(tmp_path.glob("*.db"))
    before = _stored(db_file)
    assert len(before[DM]) == 2 and len(before[OTHER]) == 1

    assert forget_room_keys(client, DM) == 2
    assert DM not in olm.outbound_group_sessions  # the next reply uses a new session
    after = _stored(db_file)
    raw = db_file.read_bytes()
    for pickled in before[DM]:
        assert pickled not in raw  # neither old session is left in the file
    assert after[OTHER] == before[OTHER] and len(after[DM]) == 1
    client.store.database.close()

    # What a reader of the disk (with the pickle key) can do with what is stored now.
    reader = _client(tmp_path)
    try:
        assert reader.olm is not None
        [kept] = [s for s in reader.olm.inbound_group_store if s.room_id == DM]
        assert kept.id == received.id and kept.first_known_index == len(conversation)
        for ciphertext in conversation:
            with pytest.raises(Exception):  # noqa: B017 - vodozemac's DecryptionError
                kept.decrypt(ciphertext)
        assert kept.decrypt(theirs.encrypt("what they write next"))[0] == "what they write next"
        assert own.id not in {s.id for s in reader.olm.inbound_group_store}
    finally:
        reader.store.database.close()


def test_without_an_encryption_store_nothing_happens() -> None:
    assert forget_room_keys(None, DM) == 0
