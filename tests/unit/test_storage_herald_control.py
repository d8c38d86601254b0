"""The herald's cache of its control rooms: kept per bot, and forgotten with its runs, with age,
and with a room that removed the bot (the contract's forget hooks call these)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.herald import HeraldFeature
from storage.db import Database
from storage.feature_migrations import apply_feature_migrations, read_feature_migrations
from storage.herald_control import HeraldControl, StoredCopy

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ME, OTHER = "@herald:a.example", "@herald:b.example"
CONTROL, ROOM = "!control", "!group:b.example"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "control.db")
    assert HeraldFeature.migrations is not None
    steps = [s for s in read_feature_migrations(HeraldFeature.migrations) if s.name.startswith("002")]
    await apply_feature_migrations(database, "herald", steps, NOW.timestamp())
    try:
        yield database
    finally:
        await database.close()


def private(event_id: str, run: str | None) -> dict[str, object]:
    content = {"run": run} if run else {"name": "spring"}
    return {"type": "org.affinity.herald.plan_part", "event_id": event_id, "content": content}


async def test_the_cache_is_per_bot_and_forgotten_with_runs_age_and_rooms(db: Database) -> None:
    mine, theirs = HeraldControl(db, ME), HeraldControl(db, OTHER)
    await mine.link("spring", CONTROL, NOW)
    assert await mine.control_of("spring") == CONTROL and await theirs.control_of("spring") is None
    assert await mine.add_event(CONTROL, private("$p1", "r1"), NOW)
    assert not await mine.add_event(CONTROL, private("$p1", "r1"), NOW)  # once per event
    await mine.add_event(CONTROL, private("$c1", None), NOW - timedelta(days=30))
    await mine.add_copy(StoredCopy("r1", "call", ROOM, OTHER, "$copy", 1, "ab" * 32))
    await mine.set_shared_rev("r1", 2, "cd" * 32)
    assert await mine.sent_by_another("$copy", ME) and not await mine.sent_by_another("$copy", OTHER)
    assert [c.event_id for c in await mine.copies("r1")] == ["$copy"] and await theirs.copies("r1") == []

    assert await mine.forget_older_than(NOW - timedelta(days=7)) == 1  # the old charter
    assert await mine.forget_runs(["r1"]) == 3  # its part, its copy, its revision
    assert await mine.events(CONTROL) == [] and await mine.shared_rev("r1") is None

    await mine.add_copy(StoredCopy("r2", "call", ROOM, ME, "$mine", 2, None))
    await mine.forget_room(ROOM)
    assert await mine.copies("r2") == []
    await mine.forget_room(CONTROL)
    assert await mine.links() == []
