"""Tier 2: slots through the runtime, with a stand-in herald (tests/bot/dayofaction_stub.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bots.dayofaction.herald_port import RunSpec
from bots.slots.feature import SlotsFeature
from bots.slots.render import KEYCAPS
from protocols.lottery import DrawInputs, recompute
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot

A, B, C, D = (f"@{n}:test.example" for n in ("ana", "ben", "cai", "dee"))
COORD = "!coord:test.example"
CHECKLIST = ("Marshal: 2", "medic: 1", "Safety briefing prepared")


async def slots_bot(tmp_path: Path, closes_in: timedelta | None = None) -> tuple[FakeBot, StubHerald]:
    bot = await fake_bot(tmp_path, [StubHerald, SlotsFeature], members=[A, B, C, D], moderators=[A])
    await add_room(bot, COORD, [A])
    stub = stub_of(bot.features)
    stub.add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=3), [ROOM], [COORD]),
        RunSpec(CHECKLIST, bot.now + closes_in if closes_in else None),
    )
    return bot, stub


async def count(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_slots_are_listed_claimed_waitlisted_and_a_release_promotes_the_first_waiting(
    tmp_path: Path,
) -> None:
    bot, _ = await slots_bot(tmp_path)
    try:
        [listed] = await bot.say(ROOM, A, "!slot")
        assert "marshal: 0 of 2" in listed.body and "medic: 0 of 1" in listed.body
        [got] = await bot.say(ROOM, A, "!slot claim medic")
        assert "You hold a place as medic" in got.body
        [waiting] = await bot.say(ROOM, B, "!slot claim Medic")
        assert "number 1 on the waitlist" in waiting.body
        out = await bot.say(ROOM, A, "!slot release medic")
        assert "gave up" in out[0].body and B in out[1].body and "moved up" in out[1].body
        [listed] = await bot.say(ROOM, C, "!slot")
        assert f"medic: 1 of 1 ({B})" in listed.body
    finally:
        await close(bot)


async def test_bad_slot_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    bot, _ = await slots_bot(tmp_path)
    try:
        await bot.say(ROOM, A, "!slot claim marshal")
        before = await bot.db.fetchall("SELECT * FROM slots_claim ORDER BY pos")
        [nope] = await bot.say(ROOM, A, "!slot claim cook")
        assert "no slot 'cook'" in nope.body and "marshal" in nope.body
        [twice] = await bot.say(ROOM, A, "!slot claim marshal")
        assert "already hold" in twice.body
        [other] = await bot.say(ROOM, B, "!slot release marshal")
        assert "not claimed" in other.body
        [coord] = await bot.say(COORD, A, "!slot claim marshal")
        assert "not one" in coord.body
        [wrong] = await bot.say(ROOM, A, "!slot claim marshal run nope")
        assert "no run 'nope'" in wrong.body
        assert await bot.db.fetchall("SELECT * FROM slots_claim ORDER BY pos") == before
    finally:
        await close(bot)


async def test_a_reaction_on_the_slot_list_or_on_the_checklist_claims_that_slot(tmp_path: Path) -> None:
    bot, stub = await slots_bot(tmp_path)
    try:
        await stub.send_phase("r1", "checklist", "Checklist for tomorrow", CHECKLIST)
        await bot.flush()
        [listing] = [s for s in bot.fake.sent if "Slots for run" in s.body]
        assert listing.reply_to is not None
        sent = await bot.react(ROOM, B, listing.event_id, KEYCAPS[1])  # sorted: marshal, medic
        assert "You hold a place as medic" in sent[0].body
        assert await bot.react(ROOM, C, listing.event_id, "👍") == []
        # The checklist message itself takes the same numbers; it is the herald's, never redacted here.
        [checklist] = [s for s in bot.fake.sent if "Checklist for tomorrow" in s.body]
        sent = await bot.react(ROOM, C, checklist.event_id, KEYCAPS[0])
        assert "You hold a place as marshal" in sent[0].body
        [feature] = [f for f in bot.features if f.name == "slots"]
        await feature.run_ended("r1")
        await bot.flush()
        assert checklist.event_id not in {e for _, e in bot.fake.redacted}
        assert listing.event_id in {e for _, e in bot.fake.redacted}
        assert await count(bot, "slots_message") == 0
    finally:
        await close(bot)


async def test_an_oversubscribed_slot_is_drawn_at_the_deadline_and_the_draw_checks_out(
    tmp_path: Path,
) -> None:
    bot, _ = await slots_bot(tmp_path, closes_in=timedelta(hours=1))
    try:
        await bot.say(ROOM, A, "!slot claim marshal")
        await bot.say(ROOM, B, "!slot claim marshal")
        out = await bot.say(ROOM, C, "!slot claim marshal")
        assert any("drawn by lottery" in s.body for s in out)
        committed = [s for s in out if "SHA-256" in s.body]
        assert len(committed) == 1  # the seed's hash, published once
        await bot.say(ROOM, D, "!slot claim marshal")  # a fourth: no second commitment
        assert sum("SHA-256" in s.body for s in bot.fake.sent) == 1
        bot.now += timedelta(hours=1)
        [job] = [j for j in bot.scheduler.job_ids() if j.startswith("slots:close:")]
        [result] = await bot.fire(job)
        assert "Drawn by lottery for marshal" in result.body
        rows = await bot.db.fetchall("SELECT user_id FROM slots_claim WHERE name = 'marshal' ORDER BY pos")
        holders = [str(r[0]) for r in rows][:2]
        seed = bytes.fromhex(result.body.split("seed ")[1].split(",")[0])
        contributions = [str(r[0]) for r in await bot.db.fetchall("SELECT event_id FROM slots_claim")]
        inputs = DrawInputs(
            ROOM,
            "r1:marshal",
            tuple(sorted([A, B, C, D])),
            ("marshal#1", "marshal#2"),
            {},
            {"marshal#1": dict.fromkeys([A, B, C, D], 2520), "marshal#2": dict.fromkeys([A, B, C, D], 2520)},
        )
        assert [h for _, h in recompute(inputs, seed, contributions).picks] == holders
        [late] = await bot.say(ROOM, "@eve:test.example", "!slot claim marshal")
        assert "waitlist" in late.body  # after the draw: first come
    finally:
        await close(bot)


async def test_the_board_shows_counts_per_room_and_no_names(tmp_path: Path) -> None:
    bot, _ = await slots_bot(tmp_path)
    try:
        await bot.say(ROOM, A, "!slot claim marshal")
        [board] = await bot.say(COORD, A, "!slot board")
        assert "marshal 1/1" in board.body and "medic 0/1" in board.body and A not in board.body
    finally:
        await close(bot)


async def test_slots_are_forgotten_with_the_run_and_their_lists_redacted(tmp_path: Path) -> None:
    bot, _ = await slots_bot(tmp_path)
    try:
        await bot.say(ROOM, A, "!slot claim marshal")
        await bot.say(ROOM, A, "!slot")
        bot.now += timedelta(days=3)
        [feature] = [f for f in bot.features if f.name == "slots"]
        await feature.forget_expired(bot.now)
        await bot.flush()
        assert await count(bot, "slots_slot") == 0 and await count(bot, "slots_claim") == 0
        assert await count(bot, "slots_message") == 0
        said = [s.event_id for s in bot.fake.sent if "Slots for run" in s.body or "You hold" in s.body]
        assert sorted(e for _, e in bot.fake.redacted) == sorted(said)  # the claim's answer and the list
    finally:
        await close(bot)
