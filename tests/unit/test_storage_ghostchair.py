"""Contract tests of the ghost-chair repositories against a temporary SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from protocols.gathering import (
    MAX_GATHERINGS_PER_ROOM,
    GatheringOptions,
    GatheringSpec,
    parse_gathering,
)
from protocols.ghostchair import DEFAULT_ABSENT_VOICES, GhostChairError
from protocols.schedule import Once, Weekly, catch_up
from storage.db import Database, Migration, shipped_migrations
from storage.ghostchair import AbsentVoices, Gatherings
from storage.room_settings import RoomSettings

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)  # a Friday
ROOM = "!room:a.org"
ME = "@bot:a.org"  # the bot whose rows these are
OTHER = "!other:a.org"


def _migrations() -> list[Migration]:
    return shipped_migrations()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "ghost.db", migrations=_migrations())
    try:
        yield database
    finally:
        await database.close()


# --- absent voices ------------------------------------------------------------------------


async def test_a_new_room_reads_the_defaults_without_writing(db: Database) -> None:
    voices = AbsentVoices(db, ME)
    assert await voices.voices(ROOM) == DEFAULT_ABSENT_VOICES
    assert await db.fetchall("SELECT * FROM ghost_room") == []
    custom = AbsentVoices(db, ME, defaults=("a", "b"))
    assert await custom.voices(ROOM) == ("a", "b")


async def test_add_and_remove_keep_order_and_persist(db: Database, tmp_path: Path) -> None:
    voices = AbsentVoices(db, ME, defaults=("a", "b"))
    assert await voices.add(ROOM, "  c  ", NOW) == ("a", "b", "c")
    assert await voices.remove(ROOM, "1", NOW) == "a"
    assert await voices.voices(ROOM) == ("b", "c")
    assert await voices.voices(OTHER) == ("a", "b")  # other rooms untouched
    # A second connection to the same file sees it: it is on disk, not in a cache.
    reopened = await Database.open(tmp_path / "ghost.db", migrations=_migrations())
    try:
        # The room's own list no longer follows the defaults, even if the config changes.
        assert await AbsentVoices(reopened, ME, defaults=("x",)).voices(ROOM) == ("b", "c")
    finally:
        await reopened.close()


async def test_removing_every_voice_leaves_an_empty_list(db: Database) -> None:
    voices = AbsentVoices(db, ME, defaults=("a",))
    await voices.remove(ROOM, 1, NOW)
    assert await voices.voices(ROOM) == ()


async def test_refused_changes_change_nothing(db: Database) -> None:
    voices = AbsentVoices(db, ME, defaults=("a", "b"))
    with pytest.raises(GhostChairError):
        await voices.add(ROOM, "", NOW)
    with pytest.raises(GhostChairError):
        await voices.add(ROOM, "A", NOW)
    with pytest.raises(GhostChairError, match="choose 1 to 2"):
        await voices.remove(ROOM, "3", NOW)
    assert await db.fetchall("SELECT * FROM ghost_room") == []
    assert await voices.voices(ROOM) == ("a", "b")


async def test_take_turn_counts_up_per_room(db: Database) -> None:
    voices = AbsentVoices(db, ME, defaults=("a", "b"))
    assert await voices.take_turn(ROOM, NOW) == (("a", "b"), 0)
    assert await voices.take_turn(ROOM, NOW) == (("a", "b"), 1)
    assert await voices.take_turn(OTHER, NOW) == (("a", "b"), 0)
    await voices.add(ROOM, "c", NOW)
    assert await voices.take_turn(ROOM, NOW) == (("a", "b", "c"), 2)  # editing keeps the count
    assert await voices.rotation(ROOM) == 3


async def test_forget_room_deletes_voices_and_counter(db: Database) -> None:
    voices = AbsentVoices(db, ME, defaults=("a",))
    await voices.add(ROOM, "b", NOW)
    await voices.take_turn(ROOM, NOW)
    assert await voices.forget_room(ROOM) == 3  # two voices and the room row
    assert await db.fetchall("SELECT * FROM ghost_voice") == []
    assert await voices.rotation(ROOM) == 0


# --- room zone ----------------------------------------------------------------------------


async def test_room_zone(db: Database) -> None:
    """The ghost chair's room zone is the shared room setting (never set: None, so the
    configured default applies; a zone the tz database dropped reads as never set)."""
    zones = RoomSettings(db)
    assert await zones.zone_set(ROOM) is None
    await zones.set_zone(ROOM, PARIS)
    await zones.set_zone(ROOM, ZoneInfo("America/New_York"))
    assert await zones.zone_set(ROOM) == ZoneInfo("America/New_York")
    await db.execute("UPDATE room_setting SET value = 'Gone/Away' WHERE room_id = ?", (ROOM,))
    assert await zones.zone_set(ROOM) is None


# --- gatherings ---------------------------------------------------------------------------

WEEKLY = GatheringSpec(
    Weekly(1, time(19, 0), PARIS, date(2026, 5, 12)),
    GatheringOptions(draw=True, remind_before=timedelta(hours=1), care_after=timedelta(hours=2)),
    zone_given=True,
)
ONCE = GatheringSpec(Once(datetime(2026, 5, 2, 16, tzinfo=UTC), PARIS), GatheringOptions(), False)


async def test_add_and_read_back(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    weekly = await gatherings.add(ROOM, WEEKLY, "@ana:a.org", NOW)
    once = await gatherings.add(ROOM, ONCE, "@bo:a.org", NOW)
    assert weekly.schedule == WEEKLY.schedule and weekly.options == WEEKLY.options
    assert once.schedule == ONCE.schedule and once.options == ONCE.options
    assert (weekly.created_by, weekly.created_at, weekly.last_fired) == ("@ana:a.org", NOW, None)
    assert weekly.last_handled == NOW
    assert await gatherings.get(weekly.id) == weekly
    assert [g.id for g in await gatherings.in_room(ROOM)] == [weekly.id, once.id]
    assert await gatherings.in_room(OTHER) == []
    assert [g.id for g in await gatherings.all()] == [weekly.id, once.id]


async def test_open_ended_weekly_round_trips(db: Database) -> None:
    spec = parse_gathering("every sun 02:30 America/New_York", PARIS, NOW)
    stored = await Gatherings(db, ME).add(ROOM, spec, "@ana:a.org", NOW)
    assert stored.schedule == Weekly(6, time(2, 30), ZoneInfo("America/New_York"))
    assert stored.options == GatheringOptions()


async def test_room_capacity_is_enforced_atomically(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    for _ in range(MAX_GATHERINGS_PER_ROOM):
        await gatherings.add(ROOM, ONCE, "@ana:a.org", NOW)
    with pytest.raises(GhostChairError, match="cancel one first"):
        await gatherings.add(ROOM, ONCE, "@ana:a.org", NOW)
    assert len(await gatherings.in_room(ROOM)) == MAX_GATHERINGS_PER_ROOM
    await gatherings.add(OTHER, ONCE, "@ana:a.org", NOW)  # other rooms have their own


async def test_cancel_only_in_its_own_room(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    g = await gatherings.add(ROOM, WEEKLY, "@ana:a.org", NOW)
    assert not await gatherings.cancel(OTHER, g.id)
    assert await gatherings.cancel(ROOM, g.id)
    assert not await gatherings.cancel(ROOM, g.id)
    assert await gatherings.get(g.id) is None


async def test_mark_never_twice_and_never_backwards(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    g = await gatherings.add(ROOM, WEEKLY, "@ana:a.org", NOW)
    first = datetime(2026, 5, 5, 17, tzinfo=UTC)
    assert await gatherings.mark(g.id, "start", first)
    assert not await gatherings.mark(g.id, "start", first)
    assert not await gatherings.mark(g.id, "start", first - timedelta(days=7))
    assert await gatherings.mark(g.id, "remind", first)
    assert await gatherings.mark(g.id, "care", first)
    stored = await gatherings.get(g.id)
    assert stored is not None
    assert (stored.last_fired, stored.last_reminded, stored.last_cared) == (first, first, first)
    assert stored.last_handled == first
    assert not await gatherings.mark(999, "start", first)


async def test_mark_rolls_back_with_its_transaction(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    g = await gatherings.add(ROOM, WEEKLY, "@ana:a.org", NOW)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            assert await gatherings.mark(g.id, "start", datetime(2026, 5, 5, 17, tzinfo=UTC))
            raise RuntimeError("sending failed")
    stored = await gatherings.get(g.id)
    assert stored is not None and stored.last_fired is None


async def test_delete_expired_waits_until_the_last_occurrence_is_handled(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    weekly = await gatherings.add(ROOM, WEEKLY, "@ana:a.org", NOW)  # last: Tue 2026-05-12 19:00
    once = await gatherings.add(ROOM, ONCE, "@ana:a.org", NOW)
    open_ended = await gatherings.add(
        ROOM, GatheringSpec(Weekly(1, time(19, 0), PARIS), GatheringOptions(), False), "@a:a", NOW
    )
    long_after = datetime(2026, 7, 1, tzinfo=UTC)
    # The bot slept through the end: nothing is deleted before it is posted or noted.
    assert await gatherings.delete_expired(long_after) == []
    # Catch up the weekly one (the note for its missed occurrences) and mark it.
    stored = await gatherings.get(weekly.id)
    assert stored is not None
    result = catch_up(stored.schedule, stored.last_handled, long_after, timedelta(hours=1))
    assert len(result.missed) == 2 and result.handled_through is not None
    assert await gatherings.mark(weekly.id, "start", result.handled_through)
    assert [g.id for g in await gatherings.expired(long_after)] == [weekly.id]
    assert await gatherings.delete_expired(long_after) == [weekly.id]
    # The one-off after it ran.
    assert await gatherings.mark(once.id, "start", datetime(2026, 5, 2, 16, tzinfo=UTC))
    assert await gatherings.delete_expired(long_after) == [once.id]
    assert [g.id for g in await gatherings.all()] == [open_ended.id]


async def test_delete_expired_waits_for_sunset_and_care(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    g = await gatherings.add(ROOM, WEEKLY, "@ana:a.org", NOW)
    last = datetime(2026, 5, 12, 17, tzinfo=UTC)
    assert await gatherings.mark(g.id, "start", last)
    # Handled, but the end date (local) is not over yet.
    assert await gatherings.delete_expired(datetime(2026, 5, 12, 18, tzinfo=UTC)) == []
    # The end date is over at local midnight (22:00 UTC); care came 2 h after 19:00 local.
    assert await gatherings.delete_expired(datetime(2026, 5, 12, 21, 59, tzinfo=UTC)) == []
    assert await gatherings.delete_expired(datetime(2026, 5, 12, 22, tzinfo=UTC)) == [g.id]


async def test_delete_expired_with_no_occurrence_after_creation(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    # Created after its final occurrence had passed (stored directly): nothing to handle.
    late = datetime(2026, 5, 13, tzinfo=UTC)
    g = await gatherings.add(ROOM, WEEKLY, "@ana:a.org", late)
    assert await gatherings.delete_expired(late + timedelta(days=1)) == [g.id]


async def test_forget_room_gatherings(db: Database) -> None:
    gatherings = Gatherings(db, ME)
    await gatherings.add(ROOM, WEEKLY, "@ana:a.org", NOW)
    await gatherings.add(ROOM, ONCE, "@ana:a.org", NOW)
    kept = await gatherings.add(OTHER, ONCE, "@ana:a.org", NOW)
    assert await gatherings.forget_room(ROOM) == 2
    assert [g.id for g in await gatherings.all()] == [kept.id]


async def test_schema_refuses_inconsistent_rows(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute(
            "INSERT INTO ghost_gathering (room_id, kind, zone, at_utc, created_by, created_at)"
            " VALUES (?, 'weekly', 'UTC', 1.0, '@a:a', 1.0)",
            (ROOM,),
        )
