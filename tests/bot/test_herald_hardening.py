"""Tier 2: the herald against a member who was kicked, a room that showed the bot out, runs and
events set far ahead, floods of amendments and events, a homeserver that fails redactions,
and two bots sharing one database."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bots import core
from bots.config import parse_config
from bots.runtime.delivery import KindedSender
from bots.runtime.errors import Forbidden, TransportError
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.outbox import Outbox
from bots.runtime.scheduler import Scheduler
from protocols.herald.consent import MAX_AMENDMENTS_PER_HOUR, MAX_LIVE_RUNS
from storage.db import Database
from tests.bot.fakes import BOT, ROOM, FakeBot, FakeMatrix, add_room, close
from tests.bot.test_herald import (
    ALICE,
    BOB,
    CAROL,
    DAN,
    NOW,
    ROOM_B,
    ROOM_C,
    coalition,
    herald,
    herald_factory,
    in_room,
    invite,
    settle,
    start_run,
)


def kicked(event_id: str = "$kick1") -> Any:
    member = {
        "type": "m.room.member",
        "state_key": str(BOT),
        "sender": BOB,
        "event_id": event_id,
        "content": {"membership": "leave"},
    }
    return SimpleNamespace(timeline=SimpleNamespace(events=[SimpleNamespace(source=member)]))


async def count(bot: FakeBot, sql: str, *params: Any) -> int:
    row = await bot.db.fetchone(sql, params)
    assert row is not None
    return int(row[0])


async def escalated_dm(bot: FakeBot, run: str) -> str:
    """Fire the run's escalation until the liaison of ROOM_B (Bob) is reminded by DM."""
    bot.now = NOW + timedelta(minutes=16)
    await bot.fire(f"herald:escalate-{run}")
    [dm] = [c for c in bot.fake.created if c["invite"] == [BOB]]
    bot.direct_rooms[dm["room_id"]] = True
    bot.fake.members[dm["room_id"]] = [str(BOT), BOB]
    await bot._set_joined_ts(dm["room_id"], 0, overwrite=True)
    return str(dm["room_id"])


async def test_a_kicked_liaison_cannot_acknowledge_from_a_dm_and_is_cleared(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        # Everyone but Lyon acknowledges; Bob, Lyon's liaison, is reminded by DM.
        await bot.say(ROOM, ALICE, f"!ack {run}")
        await bot.say(ROOM_C, CAROL, f"!ack {run}")
        dm = await escalated_dm(bot, run)
        # Then Lyon kicks Bob. From the DM he can no longer silence the escalation.
        bot.fake.members[ROOM_B] = [str(BOT), DAN]
        [refused] = await bot.say(dm, BOB, f"!ack {run}")
        assert "only for rooms they are still in" in refused.body
        lyon = [
            d for d in await herald(bot).runs.deliveries(run) if d.room_id == ROOM_B and d.phase_key == "call"
        ]
        assert lyon[0].acked_at is None
        [member] = [m for m in await herald(bot).coalitions.members("spring") if m.room_id == ROOM_B]
        assert member.liaison is None
        # The coordinators hear of Lyon's silence, naming no liaison.
        bot.now = NOW + timedelta(minutes=24)
        sent = await bot.fire(f"herald:escalate-{run}")
        [note] = in_room(sent, ROOM)
        assert "No acknowledgement from Lyon group" in note.body and "Liaison: none set" in note.body
    finally:
        await close(bot)


async def test_a_kicked_liaisons_reaction_does_not_count(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        [call] = [
            d for d in await herald(bot).runs.deliveries(run) if d.room_id == ROOM_B and d.phase_key == "call"
        ]
        bot.fake.members[ROOM_B] = [str(BOT), DAN]  # Bob was kicked; his reaction arrives late
        assert await bot.react(ROOM_B, BOB, str(call.event_id), "✅") == []
        assert (await herald(bot).runs.delivery(call.txn_id)).acked_at is None  # type: ignore[union-attr]
    finally:
        await close(bot)


async def test_a_member_room_that_removed_the_bot_is_forgotten(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        h = herald(bot)
        await bot.say(ROOM_B, BOB, "!event add Picnic at 2026-11-30 12:00")
        await bot.say(ROOM_C, CAROL, "!event add Teach-in at 2026-11-30 18:00")
        await invite(bot, "!x:test.example")  # an invitation naming a room: forgotten with it
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        await h.dm_room(BOB)
        assert await count(bot, "SELECT COUNT(*) FROM herald_local WHERE room_id = ?", ROOM_B) == 1
        # Its zone is a room setting, shared by every feature (one answer to "what zone").
        assert (await h.host.settings.zone(RoomID(ROOM_B))).key == "Europe/Paris"
        before = len(bot.fake.sent)

        await bot._on_removed(RoomID(ROOM_B), kicked())
        await bot._on_removed(RoomID(ROOM_C), kicked("$kick2"))
        await bot._on_removed(RoomID("!x:test.example"), kicked("$kick3"))
        await bot.flush()
        for room in (ROOM_B, ROOM_C, "!x:test.example"):
            for table in (
                "herald_member",
                "herald_local",
                "herald_event",
                "herald_delivery",
                "herald_invite",
            ):
                assert await count(bot, f"SELECT COUNT(*) FROM {table} WHERE room_id = ?", room) == 0, table
        assert await count(bot, "SELECT COUNT(*) FROM room_setting WHERE key LIKE 'herald.%'") == 1
        notes = [s.body for s in bot.fake.sent[before:] if s.room_id == ROOM]
        assert len(notes) == 2 and all("removed this bot" in n for n in notes)
        # The coordination room's own run goes on; nothing more goes to the rooms that left.
        assert {m.room_id for m in await h.coalitions.members("spring")} == {ROOM}
        bot.now = NOW + timedelta(hours=2)
        before = len(bot.fake.sent)
        for job in [j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")]:
            await bot.fire(job)
        await settle(bot)
        assert {s.room_id for s in bot.fake.sent[before:]} == {ROOM}
    finally:
        await close(bot)


async def test_a_coordination_room_that_removed_the_bot_stands_its_runs_down(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        h = herald(bot)
        run = await start_run(bot, "rapid-response", "2026-11-22 13:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await bot.say(ROOM_B, BOB, "!event add Picnic at 2026-11-30 12:00")
        await invite(bot)
        before = len(bot.fake.sent)
        await bot._on_removed(RoomID(ROOM), kicked())
        await bot.flush()
        told = {s.room_id for s in bot.fake.sent[before:] if "lost its coordination room" in s.body}
        assert told == {ROOM_B, ROOM_C}
        assert (await h.runs.get(run)).state == "cancelled"  # type: ignore[union-attr]
        assert {d.state for d in await h.runs.deliveries(run)} == {"cancelled"}
        assert not [j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")]
        assert await h.coalitions.members("spring") == []
        for table in ("herald_event", "herald_invite"):
            assert await count(bot, f"SELECT COUNT(*) FROM {table}") == 0, table
        # The rooms are free to join another coalition; "spring" goes once its run expires.
        [free] = await bot.say(ROOM_B, BOB, "!coalition create summer")
        assert "Coalition summer created" in free.body
        await h.forget_expired(NOW + timedelta(days=60))
        assert await h.coalitions.get("spring") is None
    finally:
        await close(bot)


async def test_runs_a_year_ahead_are_refused_and_floods_are_bounded(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        h = herald(bot)
        [far] = await bot.say(ROOM, ALICE, "!protocol start rapid-response at 2028-01-01 12:00")
        assert "more than a year ahead" in far.body
        [far_event] = await bot.say(ROOM_B, BOB, "!event add Rally at 2029-01-01 12:00")
        assert "Sorry" not in far_event.body and "Listed" not in far_event.body
        assert await h.runs.list_for("spring") == [] and await h.events.list_for("spring") == []

        run = await start_run(bot, "rapid-response", "2026-11-22 13:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        for i in range(MAX_AMENDMENTS_PER_HOUR):
            [_ok] = [
                s
                for s in await bot.say(ROOM, ALICE, f"!protocol amend {run} change {i}")
                if s.room_id == ROOM and "Amendment #" in s.body
            ]
        before = len(bot.fake.sent)
        [flood] = await bot.say(ROOM, ALICE, f"!protocol amend {run} one more")
        assert f"had {MAX_AMENDMENTS_PER_HOUR} amendments in the last hour" in flood.body
        assert (
            len(bot.fake.sent) == before + 1 and len(await h.runs.amendments(run)) == MAX_AMENDMENTS_PER_HOUR
        )
        bot.now += timedelta(minutes=61)
        [later] = [
            s
            for s in await bot.say(ROOM, ALICE, f"!protocol amend {run} an hour on")
            if "Amendment #" in s.body
        ]
        assert f"#{MAX_AMENDMENTS_PER_HOUR + 1}" in later.body

        for _ in range(MAX_LIVE_RUNS - 1):
            await start_run(bot, "rapid-response", "2026-11-23 12:00")
        [too_many] = await bot.say(ROOM, ALICE, "!protocol start rapid-response at 2026-11-24 12:00")
        assert f"already has {MAX_LIVE_RUNS} runs planned or under way" in too_many.body
        assert len(await h.runs.list_for("spring")) == MAX_LIVE_RUNS

        # The calendar's own bound on events per room: tests/bot/test_calendar.py.
    finally:
        await close(bot)


async def outbox_states(bot: FakeBot, kind: str) -> dict[str, str]:
    rows = await bot.db.fetchall("SELECT room_id, state FROM outbox WHERE kind = ?", (kind,))
    return {str(r[0]): str(r[1]) for r in rows}


async def until(check: Any, what: str) -> None:
    """Poll ``check()`` (sync or async) until true, with a deadline (the outbox backs off for real)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_failed_redaction_is_retried_until_it_lands(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        h = herald(bot)
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        sent = {(d.room_id, d.event_id) for d in await h.runs.deliveries(run) if d.event_id}
        assert len(sent) == 3
        redacted: list[tuple[str, str]] = []
        failures: dict[str, Exception] = {
            ROOM_B: TransportError("away"),
            ROOM_C: Forbidden("kicked", "M_FORBIDDEN", 403),
        }

        async def redact(room_id: RoomID, event_id: EventID, txn_id: str, reason: str | None = None) -> None:
            if room_id in failures:
                raise failures[room_id]
            redacted.append((room_id, event_id))

        bot.fake.redact = redact  # type: ignore[method-assign]
        await h.forget_expired(NOW + timedelta(days=31))
        # Room C refused for good (the bot was kicked): given up. Room B was unreachable: the
        # outbox keeps its redaction (the durable promise), so the run itself is gone at once.
        await until(lambda: outbox_states(bot, "redaction"), "the redactions are queued")
        await until(
            lambda: _settled(bot, {ROOM: "sent", ROOM_C: "failed"}), "room A redacted, room C given up"
        )
        assert [r for r, _ in redacted] == [ROOM]
        assert (await outbox_states(bot, "redaction"))[ROOM_B] == "pending"
        assert await h.runs.get(run) is None
        await h.forget_expired(NOW + timedelta(days=32))  # a second sweep queues nothing twice
        assert [r for r, _ in redacted] == [ROOM]
        assert await count(bot, "SELECT COUNT(*) FROM outbox WHERE kind = 'redaction'") == 3
        del failures[ROOM_B]
        await until(lambda: len(redacted) == 2, "room B's redaction is retried until it lands")
        assert sorted(r for r, _ in redacted) == sorted([ROOM, ROOM_B])
        assert sorted(redacted) == sorted(e for e in sent if e[0] != ROOM_C)
    finally:
        await close(bot)


async def _settled(bot: FakeBot, want: dict[str, str]) -> bool:
    states = await outbox_states(bot, "redaction")
    return all(states.get(room) == state for room, state in want.items())


async def test_a_redaction_that_never_succeeds_does_not_keep_a_run_for_ever(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        h = herald(bot)
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)

        async def away(room_id: RoomID, event_id: EventID, txn_id: str, reason: str | None = None) -> None:
            raise TransportError("away")

        bot.fake.redact = away  # type: ignore[method-assign]
        await h.forget_expired(NOW + timedelta(days=31))
        # The run (and the message texts in it) goes now; the outbox keeps trying the redactions.
        assert await h.runs.get(run) is None
        assert set((await outbox_states(bot, "redaction")).values()) == {"pending"}
    finally:
        await close(bot)


# --- two bots, one database ----------------------------------------------------------------

BOT2 = UserID("@bot2:test.example")


async def two_bots(tmp_path: Path) -> tuple[FakeBot, FakeBot]:
    config = parse_config(
        f'homeserver: http://localhost:1\ndata_dir: "{tmp_path}"\n'
        f'bots:\n  - user_id: "{BOT}"\n    password: x\n    features: []\n'
        f'  - user_id: "{BOT2}"\n    password: x\n    features: []\n'
        "access:\n  allowed_servers: [test.example]\n"
    )
    db = await Database.open(tmp_path / "affinity.db")
    bots = []
    for bot_config, user in zip(config.bots, (BOT, BOT2), strict=True):
        bot = FakeBot(config, bot_config, db, [herald_factory()], core=[core.router])
        bot.now = NOW
        bot.clock = lambda b=bot: b.now  # type: ignore[misc]
        bot._ids = itertools.count(1)
        bot.fake = FakeMatrix(user_id=user)
        bot.matrix = bot.fake  # type: ignore[assignment]
        bot.outbox = Outbox(db, bot.name, KindedSender(bot.fake).send, clock=lambda b=bot: b.now.timestamp())  # type: ignore[misc]
        bot.outbox.start()
        for feature in bot.features:  # as the sync loop starts them: its migrations first
            await feature.ready()
            await feature.start()
        bots.append(bot)
    return bots[0], bots[1]


async def setup_coalition(bot: FakeBot, rooms: list[str], user: str) -> None:
    for room in rooms:
        await add_room(bot, room, [user], moderators=[user])
    await bot.say(rooms[0], user, "!coalition create spring")
    for room in rooms[1:]:
        await bot.say(room, user, f"!coalition join {await invite(bot, sender=user, where=rooms[0])}")


async def test_two_bots_on_one_database_each_send_only_their_own_after_a_restart(tmp_path: Path) -> None:
    one, two = await two_bots(tmp_path)
    try:
        await setup_coalition(one, ["!a1:test.example", "!a2:test.example"], ALICE)
        # The same name on the other bot is another coalition, with its own rooms.
        await setup_coalition(two, ["!b1:test.example", "!b2:test.example"], BOB)
        assert {m.room_id for m in await herald(two).coalitions.members("spring")} == {
            "!b1:test.example",
            "!b2:test.example",
        }
        [plan] = await one.say(
            "!a1:test.example", ALICE, "!protocol start rapid-response at 2026-11-22 13:00"
        )
        run = plan.body.split("Plan ", 1)[1].split(":", 1)[0]
        await one.say("!a1:test.example", ALICE, f"!protocol confirm {run}")
        [refused] = await two.say("!b1:test.example", BOB, f"!protocol status {run}")
        assert f"no run {run}" in refused.body
        # Restart both: each rebuilds only its own jobs.
        for bot in (one, two):
            await herald(bot).stop()
            bot.scheduler.shutdown()
            bot.scheduler = Scheduler(bot.name)
            bot.features = [herald_factory()(bot)]
            await bot.features[0].ready()
            await bot.features[0].start()
        assert not [j for j in two.scheduler.job_ids() if j.startswith("herald:due-")]
        jobs = [j for j in one.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")]
        assert len(jobs) == 3
        for bot in (one, two):
            bot.now = NOW + timedelta(hours=8)
        for job in jobs:
            await one.fire(job)
        await settle(one)
        await settle(two)
        per_room = Counter(
            (s.room_id, s.txn_id) for s in one.fake.sent + two.fake.sent if s.txn_id.startswith("aff-")
        )
        assert two.fake.sent == [] or not [s for s in two.fake.sent if s.txn_id.startswith("aff-")]
        assert per_room and set(per_room.values()) == {1}
        assert {r for r, _ in per_room} == {"!a1:test.example", "!a2:test.example"}
        # Sweeping one bot leaves the other's rows alone.
        await herald(two).forget_expired(NOW + timedelta(days=60))
        assert await herald(one).runs.get(run) is not None
    finally:
        for bot in (one, two):
            bot.scheduler.shutdown()
            await bot.outbox.stop()
        await one.db.close()


async def test_a_homeserver_away_refuses_the_ack_for_now_but_keeps_the_liaison(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        await bot.say(ROOM, ALICE, f"!ack {run}")
        await bot.say(ROOM_C, CAROL, f"!ack {run}")
        dm = await escalated_dm(bot, run)
        real = bot.fake.joined_members

        async def away(room_id: RoomID) -> list[UserID]:
            if room_id == ROOM_B:
                raise TransportError("away")
            return await real(room_id)

        bot.fake.joined_members = away  # type: ignore[method-assign]
        [refused] = await bot.say(dm, BOB, f"!ack {run}")
        assert "still in" in refused.body
        [member] = [m for m in await herald(bot).coalitions.members("spring") if m.room_id == ROOM_B]
        assert member.liaison == BOB
        bot.fake.joined_members = real  # type: ignore[method-assign]
        [acked] = await bot.say(dm, BOB, f"!ack {run}")
        assert "Acknowledged run" in acked.body
    finally:
        await close(bot)
