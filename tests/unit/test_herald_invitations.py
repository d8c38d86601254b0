"""Invitations any herald accepts: what the control room's invitation event reads as, and a
herald's table following it (an open invitation issued by another herald joins a room here once;
a spent one no longer does)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.herald import HeraldFeature
from bots.herald.invitations import parse_invite
from protocols.coalition.reveal import RevealError, invite_state, spent_invite_state
from storage.db import Database
from storage.feature_migrations import apply_feature_migrations, read_feature_migrations
from storage.herald_coalitions import Coalitions, token_hash
from storage.herald_control import HeraldControl

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ISSUER, ME = "@herald:a.example", "@herald:b.example"
TOKEN = "cj-" + "a" * 32
HASHED = token_hash(TOKEN)


def event(content: dict[str, object], key: str = HASHED, sender: str = ISSUER) -> dict[str, object]:
    return {"type": "org.affinity.herald.invite", "state_key": key, "sender": sender, "content": content}


def test_an_invitation_reads_back_and_reveals_only_a_hash_an_expiry_and_a_room() -> None:
    write = invite_state(HASHED, expires=NOW + timedelta(days=1), room_id="!new:c.example")
    assert TOKEN not in str(write.content) and write.state_key == HASHED
    found = parse_invite(event(write.content))
    assert found is not None and found.expires_at == NOW + timedelta(days=1)
    assert found.room_id == "!new:c.example" and found.issued_by == ISSUER
    spent = parse_invite(event(spent_invite_state(HASHED).content))
    assert spent is not None and spent.expires_at is None
    # Bad input changes nothing: a key that is no hash, a room that is no room id.
    assert parse_invite(event({"expires": 1}, key="not-a-hash")) is None
    assert parse_invite(event({"expires": 1, "room": "lobby"})) is None
    with pytest.raises(RevealError):
        invite_state("not-a-hash", expires=NOW)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "invites.db")
    assert HeraldFeature.migrations is not None
    await apply_feature_migrations(
        database, "herald", read_feature_migrations(HeraldFeature.migrations), NOW.timestamp()
    )
    try:
        yield database
    finally:
        await database.close()


async def test_another_heralds_invitation_joins_a_room_here_once(db: Database) -> None:
    coalitions, control = Coalitions(db, ME), HeraldControl(db, ME)
    await coalitions.create("spring", "!coord:a.example", "a.example", None, NOW)
    await control.mirror_invite("spring", HASHED, None, ISSUER, NOW, NOW + timedelta(days=1))
    await control.mirror_invite("spring", HASHED, None, ISSUER, NOW, NOW + timedelta(days=1))  # again
    used = await coalitions.use_invite(HASHED, "!new:b.example", "b.example", "@liaison:b.example", NOW, 50)
    assert used.outcome == "joined"
    again = await coalitions.use_invite(HASHED, "!other:b.example", "b.example", None, NOW, 50)
    assert again.outcome == "unknown"


async def test_a_spent_invitation_is_dropped(db: Database) -> None:
    coalitions, control = Coalitions(db, ME), HeraldControl(db, ME)
    await coalitions.create("spring", "!coord:a.example", "a.example", None, NOW)
    await control.mirror_invite("spring", HASHED, None, ISSUER, NOW, NOW + timedelta(days=1))
    assert await control.drop_invite(HASHED) == 1
    used = await coalitions.use_invite(HASHED, "!new:b.example", "b.example", None, NOW, 50)
    assert used.outcome == "unknown"
