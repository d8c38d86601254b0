"""Contract tests of the herald's consent and scoping (migration 008): invitations, per-bot rows,
the upgrade of existing rows, and retention that lets every row expire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from protocols.herald.plan import MAX_RUN_AHEAD
from storage.db import Database, Migration
from storage.herald import Coalitions, HeraldEvents, HeraldRuns, LocalDetails, token_hash

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
A, B = "@a:x.org", "@b:x.org"


def _migrations(upto: int = 8) -> list[Migration]:
    folder = resources.files("storage.migrations")
    chosen = [(1, "001_runtime.sql"), (5, "005_herald.sql"), (8, "008_herald_consent.sql")]
    return [Migration(n, name, (folder / name).read_text("utf-8")) for n, name in chosen if n <= upto]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "herald.db", migrations=_migrations())
    try:
        yield database
    finally:
        await database.close()


async def test_an_invitation_works_once_before_its_expiry_for_its_room(db: Database) -> None:
    c = Coalitions(db, A)
    assert await c.create("nk", "!coord:x.org", "x.org", A, NOW) is not None
    assert await c.create("nk", "!other:x.org", "x.org", A, NOW) is None
    hashed = token_hash("cj-secret")
    assert await c.add_invite("nk", hashed, None, A, NOW, NOW + timedelta(hours=48), max_open=2)
    assert (await c.use_invite(token_hash("cj-wrong"), "!r:x.org", "x.org", B, NOW, 10)).outcome == "unknown"
    assert (await c.use_invite(hashed, "!r:x.org", "x.org", B, NOW, max_members=1)).outcome == "full"
    used = await c.use_invite(hashed, "!r:x.org", "x.org", B, NOW, 10)
    assert used.outcome == "joined" and used.coalition is not None and used.coalition.name == "nk"
    assert (await c.use_invite(hashed, "!s:x.org", "x.org", B, NOW, 10)).outcome == "unknown"
    assert {m.room_id for m in await c.members("nk")} == {"!coord:x.org", "!r:x.org"}
    # Named for one room: elsewhere it is refused and stays valid; it expires; the sweep drops it.
    named = token_hash("cj-named")
    await c.add_invite("nk", named, "!t:x.org", A, NOW, NOW + timedelta(hours=1), max_open=2)
    assert (await c.use_invite(named, "!s:x.org", "x.org", B, NOW, 10)).outcome == "other_room"
    late = NOW + timedelta(hours=2)
    assert (await c.use_invite(named, "!t:x.org", "x.org", B, late, 10)).outcome == "unknown"
    await c.add_invite("nk", token_hash("cj-3"), None, A, NOW, NOW + timedelta(hours=1), max_open=2)
    await c.add_invite("nk", token_hash("cj-4"), None, A, NOW, NOW + timedelta(hours=1), max_open=2)
    assert not await c.add_invite(
        "nk", token_hash("cj-5"), None, A, NOW, NOW + timedelta(hours=1), max_open=2
    )
    assert await c.forget_expired_invites(late) == 2
    assert await db.fetchall("SELECT 1 FROM herald_invite") == []


async def test_each_bot_sees_only_its_own_rows(db: Database) -> None:
    a, b = Coalitions(db, A), Coalitions(db, B)
    await a.create("nk", "!a:x.org", "x.org", None, NOW)
    await b.create("nk", "!b:x.org", "x.org", None, NOW)
    await a.add_invite("nk", token_hash("cj-a"), None, A, NOW, NOW + timedelta(hours=1), 5)
    assert (await b.use_invite(token_hash("cj-a"), "!r:x.org", "x.org", None, NOW, 10)).outcome == "unknown"
    assert (await a.get("nk")).coordination_room == "!a:x.org"  # type: ignore[union-attr]
    assert (await b.get("nk")).coordination_room == "!b:x.org"  # type: ignore[union-attr]
    await LocalDetails(db, A).set("!shared:x.org", "timezone", "Europe/Paris", NOW)
    assert await LocalDetails(db, B).get_all("!shared:x.org") == {}
    ra, rb = HeraldRuns(db, A), HeraldRuns(db, B)
    await ra.create("runa", "nk", "t", NOW + timedelta(days=1), NOW)
    assert await rb.get("runa") is None and await rb.list_for("nk") == []
    assert not await rb.confirm("runa", [], NOW)
    await HeraldEvents(db, A).add("nk", "!a:x.org", "Rally", NOW + timedelta(days=1), None, NOW)
    assert await HeraldEvents(db, B).list_for("nk") == []


async def test_every_run_and_event_expires_even_one_set_far_ahead(db: Database) -> None:
    await Coalitions(db, A).create("nk", "!a:x.org", "x.org", None, NOW)
    runs, events = HeraldRuns(db, A), HeraldEvents(db, A)
    # Stored before action times were bounded: in the year 9000.
    far = datetime(9000, 1, 1, tzinfo=UTC)
    await runs.create("legacy", "nk", "t", far, NOW)
    await runs.confirm("legacy", [], NOW)
    await events.add("nk", "!a:x.org", "Someday", far, None, NOW)
    # A run whose action came before its creation ages from its creation.
    await runs.create("late", "nk", "t", NOW - timedelta(days=3), NOW)
    await runs.confirm("late", [], NOW)
    retention = timedelta(days=30)
    assert await runs.forget_older_than(NOW + retention - timedelta(days=1) - retention) == 0
    assert await runs.forget_older_than(NOW + timedelta(seconds=1)) == 1  # "late" only
    assert await runs.get("legacy") is not None
    assert await runs.forget_older_than(NOW + MAX_RUN_AHEAD + timedelta(seconds=1)) == 1
    assert await runs.get("legacy") is None
    assert await events.forget_older_than(NOW + timedelta(days=365)) == 0
    assert await events.forget_older_than(NOW + timedelta(days=3 * 366)) == 1
    # ``affinity forget`` reads every bot's rows (bot=None).
    await runs.create("again", "nk", "t", NOW, NOW)
    assert await HeraldRuns(db).forget_older_than(NOW + timedelta(days=1)) == 1


async def test_the_upgrade_gives_existing_rows_to_their_bot(tmp_path: Path) -> None:
    old = await Database.open(tmp_path / "old.db", migrations=_migrations(upto=5))
    s = NOW.timestamp()
    for sql, params in [
        ("INSERT INTO room_joined (bot, room_id, joined_ts) VALUES (?, ?, 0)", (A, "!coord:x.org")),
        ("INSERT INTO room_joined (bot, room_id, joined_ts) VALUES (?, ?, 0)", (B, "!elsewhere:x.org")),
        ("INSERT INTO herald_coalition VALUES ('nk', '!coord:x.org', ?)", (s,)),
        ("INSERT INTO herald_coalition VALUES ('lost', '!gone:x.org', ?)", (s,)),
        ("INSERT INTO herald_member VALUES ('nk', '!coord:x.org', 'x.org', ?, ?)", (A, s)),
        ("INSERT INTO herald_member VALUES ('nk', '!m:x.org', 'x.org', NULL, ?)", (s,)),
        ("INSERT INTO herald_local VALUES ('!m:x.org', 'timezone', 'UTC', ?)", (s,)),
        ("INSERT INTO herald_run VALUES ('r1', 'nk', 't', ?, 'confirmed', ?, ?)", (s, s, s)),
        (
            "INSERT INTO herald_delivery (run_id, phase, room_id, txn_id, due_at, body, html)"
            " VALUES ('r1', 'call', '!m:x.org', 'aff-r1', ?, 'b', 'h')",
            (s,),
        ),
        ("INSERT INTO herald_amendment VALUES ('r1', 1, 'x', ?)", (s,)),
        (
            "INSERT INTO herald_event (coalition, room_id, title, starts_at, place, created_at)"
            " VALUES ('nk', '!m:x.org', 'Rally', ?, NULL, ?)",
            (s, s),
        ),
    ]:
        await old.execute(sql, params)
    await old.close()
    db = await Database.open(tmp_path / "old.db", migrations=_migrations())
    try:
        assert await db.schema_version() == 8
        rows = await db.fetchall("SELECT bot, name FROM herald_coalition ORDER BY name")
        assert [tuple(r) for r in rows] == [("", "lost"), (A, "nk")]
        for table in ("herald_member", "herald_local", "herald_run", "herald_delivery", "herald_event"):
            assert {r[0] for r in await db.fetchall(f"SELECT bot FROM {table}")} == {A}, table
        runs = HeraldRuns(db, A)
        assert [d.txn_id for d in await runs.pending()] == ["aff-r1"]
        assert await HeraldRuns(db, B).pending() == []
        assert [a.text for a in await runs.amendments("r1")] == ["x"]
        assert {m.room_id for m in await Coalitions(db, A).members("nk")} == {"!coord:x.org", "!m:x.org"}
        # The foreign keys still hold after the rebuild.
        assert await Coalitions(db, A).delete("nk")
        assert await db.fetchall("SELECT 1 FROM herald_delivery") == []
        assert await db.fetchall("PRAGMA foreign_key_check") == []
    finally:
        await db.close()


async def test_affinity_forget_drops_expired_invitations_of_every_bot(tmp_path: Path) -> None:
    from bots.config import parse_config
    from bots.sweeper import forget_everything

    config = parse_config(  # affinity forget forgets for every bot the config names
        "homeserver: http://127.0.0.1:1\ndata_dir: ./data\nbots:\n"
        + "".join(f"  - user_id: '{bot}'\n    password: x\n    features: [herald]\n" for bot in (A, B))
    )

    db = await Database.open(tmp_path / "a.db")
    try:
        for bot in (A, B):
            c = Coalitions(db, bot)
            await c.create("nk", "!a:x.org", "x.org", None, NOW)
            await c.add_invite("nk", token_hash(f"cj-{bot}"), None, bot, NOW, NOW + timedelta(hours=1), 5)
            await c.add_invite("nk", token_hash(f"cj-late-{bot}"), None, bot, NOW, NOW + timedelta(days=9), 5)
        counts = await forget_everything(config, db, NOW + timedelta(hours=2))
        assert counts["herald"] == 2
        assert len(await db.fetchall("SELECT 1 FROM herald_invite")) == 2
    finally:
        await db.close()
