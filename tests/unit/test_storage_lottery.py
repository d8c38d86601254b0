"""Contract tests of the lottery repositories against a temporary SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from protocols.lottery import (
    DrawInputs,
    LotteryError,
    PublishedDraw,
    canonical_json,
    commitment,
    prepare,
    recompute,
    verify,
    weight,
)
from protocols.lottery_room import DEFAULT_ROLES, pool
from protocols.mandates import MAX_RENEWALS, MandateError, grant
from storage.db import Database, Migration, shipped_migrations
from storage.lottery import forget_lottery, forget_room
from storage.lottery_draws import DrawHistory, Draws
from storage.lottery_groupings import Groupings
from storage.lottery_mandates import MandateStore
from storage.lottery_roles import RoomRoles
from storage.lottery_seeds import SeedUnavailable, seed_key_from_secret
from storage.lottery_stepbacks import Stepbacks

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
ROOM = "!room:a.org"
OTHER = "!other:a.org"
ANA, BEN, CHI, BOT = "@ana:a.org", "@ben:a.org", "@chi:a.org", "@bot:a.org"
SEED = bytes(range(32))
KEY = seed_key_from_secret("operator pickle key")


def _migrations() -> list[Migration]:
    return shipped_migrations()


def _key() -> bytes:
    return KEY


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "lottery.db", migrations=_migrations())
    try:
        yield database
    finally:
        await database.close()


async def _count(db: Database, table: str) -> int:
    row = await db.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


def test_the_migration_is_shipped_in_sequence() -> None:
    names = [m.name for m in shipped_migrations()]
    assert names[1] == "002_lottery.sql"


# --- room setup ----------------------------------------------------------------------------


async def test_room_setup_defaults_then_changes(db: Database) -> None:
    rooms = RoomRoles(db, BOT)
    setup = await rooms.setup(ROOM)
    assert (setup.roles, setup.term) == (DEFAULT_ROLES, WEEK)
    assert await RoomRoles(db, BOT, ["a"], timedelta(days=3)).setup(ROOM) == type(setup)(
        ("a",), timedelta(days=3)
    )
    await rooms.set_term(ROOM, timedelta(days=14), NOW)
    assert (await rooms.setup(ROOM)).roles == DEFAULT_ROLES  # the term alone changed
    await rooms.set_roles(ROOM, ["care", "liaison"], NOW)
    assert await rooms.setup(ROOM) == type(setup)(("care", "liaison"), timedelta(days=14))
    assert (await rooms.setup(OTHER)).roles == DEFAULT_ROLES


async def test_removing_a_role_ends_its_mandate(db: Database) -> None:
    store = MandateStore(db, BOT)
    await store.put(grant(ROOM, "care", ANA, NOW, WEEK))
    await store.put(grant(ROOM, "liaison", BEN, NOW, WEEK))
    ended = await RoomRoles(db, BOT).set_roles(ROOM, ["liaison"], NOW)
    assert [m.role for m in ended] == ["care"]
    assert list(await store.current(ROOM)) == ["liaison"]


# --- mandates ------------------------------------------------------------------------------


async def test_mandates_round_trip_and_expire(db: Database) -> None:
    store = MandateStore(db, BOT)
    care = grant(ROOM, "care", ANA, NOW, timedelta(days=1))
    liaison = grant(ROOM, "liaison", ANA, NOW, WEEK)
    await store.put(care)
    await store.put(liaison, draw_id="d1")
    await store.put(grant(OTHER, "care", BEN, NOW, WEEK))
    assert await store.current(ROOM) == {"care": care, "liaison": liaison}
    assert await store.get(ROOM, "care") == care
    assert await store.held_counts(ROOM, NOW) == {ANA: 2}
    assert len(await store.all()) == 3
    assert await store.expire(NOW + timedelta(hours=23)) == []
    assert await store.expire(NOW + timedelta(days=1)) == [care]
    assert list(await store.current(ROOM)) == ["liaison"]


async def test_reminders_are_due_once(db: Database) -> None:
    store = MandateStore(db, BOT)
    care = grant(ROOM, "care", ANA, NOW, WEEK)
    await store.put(care)
    assert await store.due_reminders(NOW + timedelta(days=5)) == []
    due = await store.due_reminders(NOW + timedelta(days=6))
    assert due == [care]
    assert await store.mark_reminded(due[0])
    assert not await store.mark_reminded(due[0])
    assert await store.due_reminders(NOW + timedelta(days=6, hours=1)) == []
    assert (await store.get(ROOM, "care")).reminded  # type: ignore[union-attr]


async def test_release_only_by_the_holder_and_atomically(db: Database) -> None:
    store = MandateStore(db, BOT)
    await store.put(grant(ROOM, "care", ANA, NOW, WEEK))
    with pytest.raises(MandateError, match="Only"):
        await store.release(ROOM, "care", BEN, NOW)
    assert await store.get(ROOM, "care") is not None
    released = await store.release(ROOM, "care", ANA, NOW)
    assert released.holder == ANA
    assert await store.get(ROOM, "care") is None
    with pytest.raises(MandateError, match="Nobody holds"):
        await store.release(ROOM, "care", ANA, NOW)


async def test_renewal_proposal_and_confirmation(db: Database) -> None:
    store = MandateStore(db, BOT)
    care = grant(ROOM, "care", ANA, NOW, WEEK)
    await store.put(care)
    later = NOW + timedelta(days=6)
    await store.mark_reminded(care)
    proposed = await store.propose_renewal(ROOM, "care", BEN, later)
    assert (await store.get(ROOM, "care")) == proposed
    with pytest.raises(MandateError, match="different member"):
        await store.confirm_renewal(ROOM, "care", BEN, later, WEEK)
    with pytest.raises(MandateError, match="You hold"):
        await store.confirm_renewal(ROOM, "care", ANA, later, WEEK)
    renewed = await store.confirm_renewal(ROOM, "care", CHI, later, WEEK)
    stored = await store.get(ROOM, "care")
    assert stored == renewed
    assert stored is not None and stored.expires == NOW + 2 * WEEK and not stored.reminded
    assert stored.renewal is None and stored.renewals == 1
    # The proposal goes with its mandate.
    await store.propose_renewal(ROOM, "care", BEN, later)
    await store.release(ROOM, "care", ANA, later)
    assert await _count(db, "lottery_renewal") == 0


async def test_renewals_are_capped_in_storage_too(db: Database) -> None:
    store = MandateStore(db, BOT)
    await store.put(grant(ROOM, "care", ANA, NOW, WEEK))
    for _ in range(MAX_RENEWALS):
        await store.propose_renewal(ROOM, "care", BEN, NOW)
        await store.confirm_renewal(ROOM, "care", CHI, NOW, WEEK)
    with pytest.raises(MandateError, match="back to the lottery"):
        await store.propose_renewal(ROOM, "care", BEN, NOW)
    assert await _count(db, "lottery_renewal") == 0


# --- draws ---------------------------------------------------------------------------------


def _inputs(draw_id: str = "d1", roles: tuple[str, ...] = ("care", "liaison")) -> DrawInputs:
    return prepare(ROOM, draw_id, [ANA, BEN, CHI], roles, {}, {})


async def test_a_draw_survives_a_restart_between_commit_and_reveal(tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    first = await Database.open(path, migrations=_migrations())
    digest = await Draws(first, BOT, _key).create(_inputs(), SEED, NOW + timedelta(seconds=30), NOW)
    await Draws(first, BOT, _key).set_commit_event("d1", "$commit")
    assert await Draws(first, BOT, _key).add_contribution("d1", "$r1", NOW)
    await first.close()

    second = await Database.open(path, migrations=_migrations())
    try:
        draws = Draws(second, BOT, _key)
        stored = await draws.by_commit_event("$commit")
        assert stored is not None and stored.commitment == digest and draws.seed(stored) == SEED
        assert stored.state == "committed" and stored.published is None
        assert await draws.due(NOW) == []
        assert [d.draw_id for d in await draws.due(NOW + timedelta(seconds=30))] == ["d1"]
        assert await draws.add_contribution("d1", "$r2", NOW)
        done = await draws.complete("d1", NOW + timedelta(seconds=30), WEEK)
        assert done is not None
        assert done.published.contributions == ("$r1", "$r2")
        assert done.published.assignment == recompute(_inputs(), SEED, ["$r2", "$r1"])
        assert verify(done.published)
    finally:
        await second.close()


def _database_bytes(folder: Path) -> bytes:
    """Everything a copy of the database holds: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("*.db*")) if p.is_file())


async def test_the_seed_is_never_in_the_database_in_the_clear(tmp_path: Path) -> None:
    # Whoever reads the database during the window must not learn the seed: with it, they
    # could compute what each extra reaction does and add the one that gives their result.
    seed = bytes.fromhex("5eed" * 16)
    db = await Database.open(tmp_path / "copy.db", migrations=_migrations())
    try:
        draws = Draws(db, BOT, _key)
        digest = await draws.create(_inputs(), seed, NOW + timedelta(seconds=30), NOW)
        await draws.add_contribution("d1", "$r1", NOW)
        copy = _database_bytes(tmp_path)
        assert seed not in copy and seed.hex().encode() not in copy
        row = await db.fetchone("SELECT * FROM lottery_draw WHERE draw_id = 'd1'")
        assert row is not None and seed not in bytes(row["seed"]) and row["seed_sealed"] == 1
        # Without the pickle key, a reader cannot open it; with another key it does not open.
        stored = await draws.get("d1")
        assert stored is not None and draws.seed(stored) == seed
        with pytest.raises(SeedUnavailable):
            Draws(db, BOT, lambda: seed_key_from_secret("another key")).seed(stored)
        # The sealed seed is bound to its draw: copied into another row it does not open.
        await Draws(db, BOT, _key).create(_inputs("d2"), SEED, NOW, NOW)
        await db.execute(
            "UPDATE lottery_draw SET seed = (SELECT seed FROM lottery_draw WHERE draw_id = 'd1') "
            "WHERE draw_id = 'd2'"
        )
        moved = await draws.get("d2")
        assert moved is not None
        with pytest.raises(SeedUnavailable):
            draws.seed(moved)
        # At the reveal the seed is published, and the draw checks out.
        done = await draws.complete("d1", NOW + timedelta(seconds=30), WEEK)
        assert done is not None and done.published.seed == seed
        assert done.published.commitment == digest and verify(done.published)
    finally:
        await db.close()


async def test_a_clear_seed_of_an_older_version_is_sealed_and_still_reveals(db: Database) -> None:
    # A draw committed by the previous version: its seed in the clear, not sealed.
    inputs = _inputs()
    await db.execute(
        "INSERT INTO lottery_draw (bot, draw_id, room_id, commitment, inputs, seed, reveal_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            BOT,
            "d1",
            ROOM,
            commitment(inputs, SEED),
            canonical_json(inputs.to_json()).decode(),
            SEED,
            NOW.timestamp(),
            NOW.timestamp(),
        ),
    )
    draws = Draws(db, BOT, _key)
    assert await draws.seal_clear_seeds() == 1
    assert await draws.seal_clear_seeds() == 0
    row = await db.fetchone("SELECT seed, seed_sealed FROM lottery_draw")
    assert row is not None and bytes(row["seed"]) != SEED and row["seed_sealed"] == 1
    done = await draws.complete("d1", NOW, WEEK)
    assert done is not None and done.published.seed == SEED and verify(done.published)


async def test_contributions_are_deduplicated_and_closed_at_reveal(db: Database) -> None:
    draws = Draws(db, BOT, _key)
    await draws.create(_inputs(), SEED, NOW, NOW)
    assert await draws.add_contribution("d1", "$a", NOW)
    assert not await draws.add_contribution("d1", "$a", NOW)
    assert not await draws.add_contribution("nope", "$a", NOW)
    with pytest.raises(LotteryError):
        await draws.add_contribution("d1", "", NOW)
    await draws.complete("d1", NOW, WEEK)
    assert not await draws.add_contribution("d1", "$late", NOW)
    published = await draws.published("d1")
    assert published is not None and published.contributions == ("$a",)


async def test_complete_grants_mandates_and_history_once(db: Database) -> None:
    draws, store, history = Draws(db, BOT, _key), MandateStore(db, BOT), DrawHistory(db, BOT)
    await draws.create(_inputs(), SEED, NOW, NOW)
    done = await draws.complete("d1", NOW, WEEK)
    assert done is not None and done.skipped == ()
    current = await store.current(ROOM)
    assert {r: m.holder for r, m in current.items()} == dict(done.published.assignment.picks)
    assert all(m.expires == NOW + WEEK for m in current.values())
    assert await draws.complete("d1", NOW, WEEK) is None  # a second reveal job does nothing
    assert len(await history.wins(ROOM)) == 2
    assert len(await draws.pending()) == 0
    # What !verify reads back is what was published, and it checks out.
    published = await draws.published("d1")
    assert published == done.published
    assert verify(PublishedDraw.from_json(published.to_json()))


async def test_a_role_filled_meanwhile_is_skipped(db: Database) -> None:
    draws, store = Draws(db, BOT, _key), MandateStore(db, BOT)
    await draws.create(_inputs(), SEED, NOW, NOW)
    await store.put(grant(ROOM, "care", BEN, NOW, WEEK))
    done = await draws.complete("d1", NOW, WEEK)
    assert done is not None and done.skipped == ("care",)
    assert (await store.get(ROOM, "care")).holder == BEN  # type: ignore[union-attr]
    assert [m.role for m in done.granted] == ["liaison"]


async def test_history_feeds_the_weights(db: Database) -> None:
    draws, history = Draws(db, BOT, _key), DrawHistory(db, BOT)
    await draws.create(_inputs("d1", ("care",)), SEED, NOW, NOW)
    done = await draws.complete("d1", NOW, WEEK)
    assert done is not None
    winner = done.published.assignment.picks[0][1]
    recent = await history.recent(ROOM)
    assert recent == {"care": {winner: 1}}
    nxt = prepare(ROOM, "d2", [ANA, BEN, CHI], ["care"], {}, recent)
    assert nxt.weights["care"][winner] == weight(1)


async def test_forgetting_old_draws_history_and_groupings(db: Database) -> None:
    draws = Draws(db, BOT, _key)
    await draws.create(_inputs("old"), SEED, NOW, NOW)
    await draws.add_contribution("old", "$x", NOW)
    await draws.complete("old", NOW, timedelta(hours=1))
    later = NOW + timedelta(days=100)
    await draws.create(_inputs("new"), SEED, later, later)
    groupings = Groupings(db, BOT)
    await groupings.record(ROOM, "triads", [[ANA, BEN, CHI]], NOW)
    await groupings.record(ROOM, "triads", [[CHI, BEN, ANA]], later)
    steps = Stepbacks(db, BOT)
    await steps.step_back(ROOM, ANA, NOW, NOW + timedelta(days=1))
    await steps.step_back(ROOM, BEN, NOW)

    deleted = await forget_lottery(db, later - timedelta(days=90), later)
    # one draw (+ its contribution by cascade), two history rows, one grouping, one step-back
    assert deleted == 1 + 2 + 1 + 1
    assert await draws.get("old") is None
    assert await draws.get("new") is not None
    assert await _count(db, "lottery_contribution") == 0
    assert await _count(db, "lottery_history") == 0
    assert await groupings.recent(ROOM, "triads", 5) == [[(ANA, BEN, CHI)]]
    assert await steps.active(ROOM, later) == {BEN: None}


# --- step-backs and the pool ---------------------------------------------------------------


async def test_stepbacks_shape_the_pool(db: Database) -> None:
    steps = Stepbacks(db, BOT)
    await steps.step_back(ROOM, ANA, NOW, NOW + timedelta(days=2))
    await steps.step_back(ROOM, BEN, NOW)
    await steps.step_back(OTHER, CHI, NOW)
    active = await steps.active(ROOM, NOW)
    assert active == {ANA: NOW + timedelta(days=2), BEN: None}
    assert pool([ANA, BEN, CHI, BOT], active, [BOT], NOW) == (CHI,)
    later = NOW + timedelta(days=2)
    assert pool([ANA, BEN, CHI], await steps.active(ROOM, later), [], later) == (ANA, CHI)
    assert await steps.step_in(ROOM, BEN)
    assert not await steps.step_in(ROOM, BEN)
    # Stepping back again replaces the old end.
    await steps.step_back(ROOM, ANA, NOW, None)
    assert (await steps.active(ROOM, later))[ANA] is None
    with pytest.raises(ValueError):
        await steps.step_back(ROOM, ANA, NOW, NOW)


# --- groupings and rooms -------------------------------------------------------------------


async def test_groupings_newest_first_by_kind(db: Database) -> None:
    groupings = Groupings(db, BOT)
    await groupings.record(ROOM, "triads", [[BEN, ANA, CHI]], NOW)
    await groupings.record(ROOM, "cells", [[ANA, BEN], [CHI, BOT]], NOW)
    await groupings.record(ROOM, "triads", [[CHI, ANA, BEN]], NOW + timedelta(hours=1))
    assert await groupings.recent(ROOM, "cells") == [[(ANA, BEN), (BOT, CHI)]]
    assert len(await groupings.recent(ROOM, "triads", 5)) == 2
    with pytest.raises(sqlite3.IntegrityError):
        await groupings.record(ROOM, "pairs", [[ANA]], NOW)  # type: ignore[arg-type]


async def test_forget_room_leaves_other_rooms(db: Database) -> None:
    await RoomRoles(db, BOT).set_roles(ROOM, ["care"], NOW)
    store = MandateStore(db, BOT)
    await store.put(grant(ROOM, "care", ANA, NOW, WEEK))
    await store.propose_renewal(ROOM, "care", BEN, NOW)
    await store.put(grant(OTHER, "care", ANA, NOW, WEEK))
    await Draws(db, BOT, _key).create(_inputs(), SEED, NOW, NOW)
    await Draws(db, BOT, _key).add_contribution("d1", "$x", NOW)
    await Stepbacks(db, BOT).step_back(ROOM, BEN, NOW)
    await Groupings(db, BOT).record(ROOM, "cells", [[ANA, BEN]], NOW)
    # room, mandate, draw, step-back, grouping (renewal and contribution go by cascade)
    assert await forget_room(db, BOT, ROOM) == 5
    for table in (
        "lottery_room",
        "lottery_draw",
        "lottery_contribution",
        "lottery_renewal",
        "lottery_stepback",
        "lottery_grouping",
    ):
        assert await _count(db, table) == 0, table
    assert list(await store.current(OTHER)) == ["care"]


async def test_migration_011_gives_every_existing_row_its_bot(tmp_path: Path) -> None:
    # A database as schema 10 left it, two bots: alpha in ROOM, beta in OTHER (and in ROOM too,
    # where beta sent the commitment of draw d2, so that draw is beta's).
    alpha, beta = "@alpha:a.org", "@beta:a.org"
    path = tmp_path / "old.db"
    old = await Database.open(path, migrations=shipped_migrations()[:10])
    rows = [
        ("INSERT INTO room_joined VALUES (?, ?, 0)", (alpha, ROOM)),
        ("INSERT INTO room_joined VALUES (?, ?, 0)", (beta, OTHER)),
        ("INSERT INTO lottery_room (room_id, roles, updated_at) VALUES (?, '[\"care\"]', 0)", (ROOM,)),
        ("INSERT INTO lottery_room (room_id, roles, updated_at) VALUES (?, '[\"care\"]', 0)", (OTHER,)),
        ("INSERT INTO lottery_room (room_id, updated_at) VALUES ('!nobody:a.org', 0)", ()),
        (
            "INSERT INTO lottery_mandate (room_id, role, holder, started, expires) VALUES (?, 'care', ?, 0, 9)",
            (ROOM, ANA),
        ),
        ("INSERT INTO lottery_renewal VALUES (?, 'care', ?, 1)", (ROOM, BEN)),
        (
            "INSERT INTO lottery_mandate (room_id, role, holder, started, expires) VALUES (?, 'care', ?, 0, 9)",
            (OTHER, CHI),
        ),
        ("INSERT INTO lottery_stepback VALUES (?, ?, 0, NULL)", (OTHER, ANA)),
        ("INSERT INTO lottery_room_option (room_id, redraw, updated_at) VALUES (?, 1, 0)", (ROOM,)),
        ("INSERT INTO lottery_grouping (room_id, kind, groups, at) VALUES (?, 'triads', '[]', 0)", (OTHER,)),
        (
            "INSERT INTO lottery_cell_room (parent_room_id, source, cell_index, members, sunset_at, created_at) "
            "VALUES (?, 's', 0, '[]', 9, 0)",
            (OTHER,),
        ),
        (
            "INSERT INTO lottery_draw (draw_id, room_id, commitment, inputs, seed, reveal_at, created_at) "
            "VALUES ('d1', ?, 'c', '{}', x'00', 0, 0)",
            (ROOM,),
        ),
        (
            "INSERT INTO lottery_draw (draw_id, room_id, commitment, inputs, seed, reveal_at, created_at) "
            "VALUES ('d2', ?, 'c', '{}', x'00', 0, 0)",
            (ROOM,),
        ),
        (
            "INSERT INTO outbox (bot, txn_id, room_id, event_type, content, created_at) "
            "VALUES (?, 'lottery-commit-d2', ?, 'm.room.message', '{}', 0)",
            (beta, ROOM),
        ),
        ("INSERT INTO lottery_history VALUES (?, 'd2', 'care', ?, 0)", (ROOM, ANA)),
        ("INSERT INTO ghost_room (room_id, rotation, updated_at) VALUES (?, 3, 0)", (OTHER,)),
        ("INSERT INTO ghost_voice VALUES (?, 0, 'the river')", (OTHER,)),
        (
            "INSERT INTO ghost_gathering (room_id, kind, zone, at_utc, created_by, created_at) "
            "VALUES (?, 'once', 'UTC', 9, ?, 0)",
            (ROOM, ANA),
        ),
    ]
    for sql, params in rows:
        await old.execute(sql, params)
    await old.close()

    db = await Database.open(path)
    try:

        async def owners(table: str, key: str = "room_id") -> dict[str, str]:
            found = await db.fetchall(f"SELECT {key}, bot FROM {table}")
            return {r[0]: r[1] for r in found}

        assert await owners("lottery_room") == {ROOM: alpha, OTHER: beta, "!nobody:a.org": ""}
        assert await owners("lottery_mandate") == {ROOM: alpha, OTHER: beta}
        assert await owners("lottery_renewal") == {ROOM: alpha}
        assert await owners("lottery_stepback") == {OTHER: beta}
        assert await owners("lottery_room_option") == {ROOM: alpha}
        assert await owners("lottery_grouping") == {OTHER: beta}
        assert await owners("lottery_cell_room", "parent_room_id") == {OTHER: beta}
        assert await owners("lottery_draw", "draw_id") == {"d1": alpha, "d2": beta}
        assert await owners("lottery_history", "draw_id") == {"d2": beta}
        assert await owners("ghost_room") == {OTHER: beta}
        assert await owners("ghost_voice") == {OTHER: beta}
        assert await owners("ghost_gathering") == {ROOM: alpha}
        # The repositories see each bot's own, and the renewal still goes with its mandate.
        assert set(await MandateStore(db, alpha).current(ROOM)) == {"care"}
        assert await MandateStore(db, beta).current(ROOM) == {}
        assert (await MandateStore(db, alpha).get(ROOM, "care")).renewal is not None  # type: ignore[union-attr]
        assert await MandateStore(db, alpha).remove(ROOM, "care")
        assert await _count(db, "lottery_renewal") == 0
        assert await forget_room(db, beta, OTHER) > 0
        assert await owners("lottery_mandate") == {}
    finally:
        await db.close()
