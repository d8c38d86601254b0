"""Tier 2: care rotas through the runtime, with a fake homeserver.

The clock is the test's (``bot.now``); the scheduler is not running, so a rota's job runs when
the test fires it, as the timer would at its time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bots.care import CareFeature
from bots.ghostchair import GhostChairFeature
from bots.lottery.feature import LotteryFeature
from bots.runtime.ids import RoomID
from bots.runtime.offline import forget_contract_features
from protocols.mandates import Mandate
from tests.bot.fakes import ROOM, FakeBot, Sent, add_room, close, fake_bot

MOD = "@mod:test.example"
ANA = "@ana:test.example"
BEN = "@ben:test.example"
CAL = "@cal:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
# Tuesday 2026-11-24 18:00 UTC (the room's zone is UTC).
TUESDAY = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
CONFIG = "features:\n  care:\n    remind_before: 1d\n    flag_before: 2d\n    turns_ahead: 3\n"


async def care_bot(tmp_path: Path, *, lottery: bool = True) -> FakeBot:
    features = [CareFeature, *([LotteryFeature] if lottery else [])]
    return await fake_bot(
        tmp_path,
        features,  # type: ignore[arg-type]
        members=[MOD, ANA, BEN, CAL],
        moderators=[MOD],
        now=NOW,
        config_extra=CONFIG,
    )


def care(bot: FakeBot) -> CareFeature:
    for f in bot.features:
        if isinstance(f, CareFeature):
            return f
    raise AssertionError("no care feature")


def bodies(sent: list[Sent]) -> list[str]:
    return [s.body for s in sent]


async def tick(bot: FakeBot) -> list[Sent]:
    """Fire the rota's job as its timer would, and wait for the step it starts."""
    before = len(bot.fake.sent)
    await bot.fire("care:rota-1")
    await asyncio.gather(*care(bot).tasks)
    await bot.flush()
    return bot.fake.sent[before:]


async def count(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row else 0


async def state(bot: FakeBot) -> list[tuple[str, str, float]]:
    rows = await bot.db.fetchall("SELECT name, state, handled_through FROM care_rota ORDER BY id")
    return [(r[0], r[1], r[2]) for r in rows]


async def meals(bot: FakeBot, members: tuple[str, ...] = (ANA, BEN, CAL), size: int = 1) -> None:
    [reply] = await bot.say(ROOM, ANA, f"!rota add meals every tuesday at 18:00 size {size}")
    assert reply.body.startswith(
        "Rota meals: every tuesday at 18:00, 1 person a turn." if size == 1 else "Rota meals"
    )
    for member in members:
        [joined] = [s for s in await bot.say(ROOM, member, "!rota join meals") if s.room_id == ROOM]
        assert "You are in the meals rota" in joined.body


async def test_a_rota_turns_fairly_reminds_by_dm_and_announces_once(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        await meals(bot)
        [board] = await bot.say(ROOM, MOD, "!rota show meals")
        assert "3 volunteers" in board.body and "Turns ahead:" in board.body
        lines = [line for line in board.body.splitlines() if line.startswith("• ")]
        assert len(lines) == 3
        # Three turns, three people: each holds one (nobody a second while someone has none).
        holders = {line.rsplit(": ", 1)[1] for line in lines}
        assert holders == {ANA, BEN, CAL}
        first_holder = lines[0].rsplit(": ", 1)[1]

        # A day before the first turn: a reminder by DM, to the holder only, once.
        bot.now = TUESDAY - timedelta(hours=23)
        sent = await tick(bot)
        dms = [s for s in sent if s.room_id != ROOM]
        assert len(dms) == 1 and "your meals turn in" in dms[0].body
        [created] = [c for c in bot.fake.created if c["is_direct"]]
        assert created["invite"] == [first_holder] and dms[0].room_id == created["room_id"]
        assert [s for s in await tick(bot) if s.room_id != ROOM] == []

        # The turn begins: one announcement in the room, mentioning the holder.
        bot.now = TUESDAY + timedelta(seconds=5)
        sent = await tick(bot)
        starts = [s for s in sent if s.room_id == ROOM and "it is the turn of" in s.body]
        assert len(starts) == 1 and first_holder in starts[0].body
        assert starts[0].content["m.mentions"]["user_ids"] == [first_holder]
        assert "late" not in starts[0].body
        # Fired again (a second timer, a race): nothing twice.
        assert [s for s in await tick(bot) if "turn of" in s.body] == []
    finally:
        await close(bot)


async def test_a_restart_across_a_turn_posts_once_late_or_notes_it(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        await meals(bot)
        for job in bot.scheduler.job_ids():
            bot.scheduler.cancel(job)
        # Down across the first turn, back 30 minutes later (within the grace of an hour).
        bot.now = TUESDAY + timedelta(minutes=30)
        before = len(bot.fake.sent)
        for feature in bot.features:
            await feature.start()
        await bot.flush()
        room = [s.body for s in bot.fake.sent[before:] if s.room_id == ROOM]
        assert len([b for b in room if "it is the turn of" in b]) == 1
        assert any("Posted late" in b for b in room)
        # Started again: nothing is posted twice.
        before = len(bot.fake.sent)
        for feature in bot.features:
            await feature.start()
        await bot.flush()
        assert not [s for s in bot.fake.sent[before:] if s.room_id == ROOM]
        # Down across two turns, back past the grace: one note, no late announcement.
        bot.now = TUESDAY + 2 * WEEK + timedelta(hours=3)
        before = len(bot.fake.sent)
        for feature in bot.features:
            await feature.start()
        await bot.flush()
        room = [s.body for s in bot.fake.sent[before:] if s.room_id == ROOM]
        assert room == [b for b in room if "passed while the bot was away" in b] and len(room) == 1
        assert "2 turns passed" in room[0]
    finally:
        await close(bot)


async def test_swap_taken_by_command_or_reaction_and_flagged_when_nobody_does(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        await meals(bot)
        feature = care(bot)
        rota = (await feature.rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        first = min(rota.turns, key=lambda t: t.at)
        holder = first.holders[0]
        other = next(m for m in (ANA, BEN, CAL) if m != holder)
        day = first.at.date().isoformat()
        [request] = await bot.say(ROOM, holder, f"!rota swap meals {day}")
        assert request.body.startswith(f"Swap request #1: {holder} asks someone to take their meals turn")
        # Two days ahead and not taken: flagged to the room, once.
        bot.now = first.at - timedelta(days=1, hours=12)
        flagged = [s for s in await tick(bot) if s.body.startswith("⚠️")]
        assert len(flagged) == 1 and "!rota take 1" in flagged[0].body
        assert not [s for s in await tick(bot) if s.body.startswith("⚠️")]
        # A reaction takes it; the board follows, and the taker is reminded by DM.
        bot.now = first.at - timedelta(hours=20)
        sent = await bot.react(ROOM, other, request.event_id, "👍")
        assert any(f"{other} takes {holder}'s meals turn" in b or "in exchange" in b for b in bodies(sent))
        rota = (await feature.rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        assert other in next(t for t in rota.turns if t.number == first.number).holders
        assert any("your meals turn" in s.body and s.room_id != ROOM for s in sent)
        assert await count(bot, "care_swap") == 0
        [taken_again] = await bot.say(ROOM, CAL, "!rota take 1")
        assert "no open swap request #1" in taken_again.body
    finally:
        await close(bot)


async def test_away_and_stepback_members_are_skipped(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        await meals(bot)
        [reply] = await bot.say(ROOM, ANA, "!rota away 4w")
        assert reply.body.startswith("You are away from meals until")
        rota = (await care(bot).rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        assert all(ANA not in t.holders for t in rota.turns if t.at < NOW + 4 * WEEK)
        # !stepback (the lottery's) is honoured too: BEN's turns go to CAL.
        await bot.say(ROOM, BEN, "!stepback 4w")
        await tick(bot)
        rota = (await care(bot).rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        assert all(t.holders == (CAL,) for t in rota.turns if t.at < NOW + 4 * WEEK)
    finally:
        await close(bot)


async def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        await meals(bot, members=(ANA, BEN))
        before = await state(bot)
        jobs = bot.scheduler.job_ids()
        rota = (await care(bot).rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        first = min(rota.turns, key=lambda t: t.at)
        not_holder = next(m for m in (ANA, BEN) if m not in first.holders)
        cases = {
            "!rota add chores whenever it suits": "not a recurrence I understand",
            "!rota add chores every 10 seconds": "not a recurrence I understand",
            "!rota add chores every tuesday size 9": "more than the pool can give",
            "!rota add chores every month on the 5th tuesday": "Most months have no 5th tuesday",
            "!rota add chores every tuesday until 2020-01-01": "is in the past",
            "!rota add Bad!Name every tuesday": "not a rota name",
            "!rota add meals every friday": "already has a meals rota",
            f"!rota swap meals {first.at.date().isoformat()}": "is not yours",
            "!rota swap meals 2020-01-01": "is in the past",
            "!rota swap meals 2026-11-25": "no meals turn ahead on 2026-11-25",
            "!rota swap meals someday": "not a date",
            "!rota take 7": "no open swap request #7",
            "!rota take seven": "not a request",
            "!rota join meals": "already in the meals rota",
            "!rota show chores": "no chores rota here",
            "!rota away soon": "not a duration",
        }
        for text, expected in cases.items():
            sender = not_holder if "swap" in text else ANA
            replies = await bot.say(ROOM, sender, text)
            assert replies and expected in replies[-1].body, (text, bodies(replies))
        [refused] = await bot.say(ROOM, ANA, "!rota remove meals")
        assert "power level" in refused.body
        [refused] = await bot.say(ROOM, CAL, "!rota leave meals")
        assert "not in the meals rota" in refused.body
        [refused] = await bot.say(ROOM, CAL, "!rota away 1w")
        assert "in no rota here" in refused.body
        assert await state(bot) == before and bot.scheduler.job_ids() == jobs
        assert await count(bot, "care_swap") == 0
    finally:
        await close(bot)


async def test_forgetting_keeps_counts_and_drops_requests_reminders_and_rooms(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        await meals(bot)
        feature = care(bot)
        rota = (await feature.rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        first = min(rota.turns, key=lambda t: t.at)
        await bot.say(ROOM, first.holders[0], f"!rota swap meals {first.at.date().isoformat()}")
        bot.now = TUESDAY - timedelta(hours=20)
        await tick(bot)
        assert await count(bot, "care_reminder") >= 1 and await count(bot, "care_swap") == 1
        # Long after: who did which turn is folded into counts; requests and reminders go.
        bot.now = TUESDAY + 70 * timedelta(days=1)
        await tick(bot)
        redacted_before = len(bot.fake.redacted)
        await feature.forget_expired(bot.now)
        await bot.flush()
        rota = (await feature.rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        assert all(t.at >= bot.now - timedelta(days=60) for t in rota.turns)
        assert sum(rota.done.values()) >= 1
        assert await count(bot, "care_swap") == 0 and await count(bot, "care_reminder") == 0
        assert len(bot.fake.redacted) > redacted_before
        # affinity forget's offline path runs the same hook; removed from the room, all goes.
        runs = bot.app.bots[0].model_copy(update={"features": ["care"]})
        config = bot.app.model_copy(update={"bots": [runs]})
        assert (await forget_contract_features(config, bot.db, bot.now)).get("care") == 0
        await feature.forget_room(ROOM)  # type: ignore[arg-type]
        assert await count(bot, "care_rota") == 0 and "care:rota-1" not in bot.scheduler.job_ids()
    finally:
        await close(bot)


# -- handovers -------------------------------------------------------------------------------


async def test_a_handover_note_reaches_only_the_next_holder_once(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        feature = care(bot)
        lottery = next(f for f in bot.features if isinstance(f, LotteryFeature))
        term = timedelta(hours=12)
        await lottery.mandates.put(Mandate(ROOM, "facilitator", ANA, NOW, NOW + term))
        # In a room, the note is refused: nothing about it goes there.
        [refused] = await bot.say(ROOM, ANA, "!handover facilitator keys are under the mat")
        assert "direct message" in refused.body
        # Less than a day before the end: Ana is asked by DM, once.
        before = len(bot.fake.sent)
        await feature.scan_handovers()
        await feature.scan_handovers()
        await bot.flush()
        asks = bot.fake.sent[before:]
        assert len(asks) == 1 and "What does the next person need" in asks[0].body
        dm = asks[0].room_id
        assert bot.fake.created[-1]["invite"] == [ANA] and bot.fake.created[-1]["is_direct"]
        await add_room(bot, dm, [ANA], direct=True)  # Ana accepted the invite
        # She answers in that room; someone else writing there is not her note.
        [kept] = await bot.say(dm, ANA, "The keys are under the mat; call the landlord on Fridays.")
        assert kept.body.startswith("Kept your facilitator handover note")
        [changed] = await bot.say(dm, ANA, "!handover facilitator Keys under the mat.")
        assert changed.body.startswith("Kept your facilitator handover note")
        await add_room(bot, "!bendm:test.example", [BEN], direct=True)
        [none] = await bot.say("!bendm:test.example", BEN, "!handover facilitator I hold nothing")
        assert "You hold no facilitator mandate" in none.body
        # Still Ana's mandate: nothing is delivered.
        before = len(bot.fake.sent)
        await feature.scan_handovers()
        await bot.flush()
        assert bot.fake.sent[before:] == []
        # Ben holds the role next: the note goes to him only, once, and is deleted.
        bot.now = NOW + term + timedelta(minutes=5)
        await lottery.mandates.put(Mandate(ROOM, "facilitator", BEN, bot.now, bot.now + term))
        before = len(bot.fake.sent)
        await feature.scan_handovers()
        await feature.scan_handovers()
        await bot.flush()
        sent = bot.fake.sent[before:]
        notes = [s for s in sent if "Keys under the mat." in s.body]
        assert len(notes) == 1 and bot.fake.created[-1]["invite"] == [BEN]
        assert notes[0].room_id == bot.fake.created[-1]["room_id"]
        assert not [s for s in bot.fake.sent if s.room_id == ROOM and "mat" in s.body]
        assert await count(bot, "care_handover") <= 1  # Ben may have been asked; Ana's note is gone
        assert not [r for r in await bot.db.fetchall("SELECT note FROM care_handover") if r[0]]
        assert "React to this message once you have read it" in notes[0].body
        # Read: Ben reacts to it, and the message is deleted at once (not only after retention).
        # A reaction by someone else, or to another message, deletes nothing.
        ben_dm = notes[0].room_id
        await add_room(bot, ben_dm, [BEN], direct=True)
        redacted = len(bot.fake.redacted)
        await bot.react(ben_dm, BEN, "$not-a-note", "👍")
        await bot.react(dm, ANA, notes[0].event_id, "👍")
        assert len(bot.fake.redacted) == redacted
        await bot.react(ben_dm, BEN, notes[0].event_id, "👍")
        await bot.flush()
        assert bot.fake.redacted[redacted:] == [(ben_dm, notes[0].event_id)]
        rows = await bot.db.fetchall("SELECT event_id FROM care_reminder")
        assert notes[0].event_id not in [r[0] for r in rows]
    finally:
        await close(bot)


# -- scheduled reshuffles ----------------------------------------------------------------------

CELLS_CONFIG = "features:\n  care:\n    short_units: true\n"
SIX = [f"@p{i}:test.example" for i in range(6)]


async def test_a_reshuffle_closes_the_old_cell_rooms_and_opens_new_ones(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path,
        [CareFeature, LotteryFeature, GhostChairFeature],  # type: ignore[list-item]
        members=[MOD, *SIX],
        moderators=[MOD],
        now=NOW,
        config_extra=CELLS_CONFIG,
    )
    try:
        cases = {
            "!cells every whenever 3-3": "not a recurrence",
            "!cells every 10 seconds 9-9": "fewer than one cell of 9",
            "!cells every 10 seconds 3-3 loudly": "not an option",
        }
        for text, expected in cases.items():
            [reply] = await bot.say(ROOM, MOD, text)
            assert expected in reply.body, (text, reply.body)
        assert await count(bot, "care_cells") == 0
        [refused] = await bot.say(ROOM, SIX[0], "!cells every 10 seconds 3-3 rooms")
        assert "power level" in refused.body
        [reply] = await bot.say(ROOM, MOD, "!cells every 10 seconds 3-4 rooms pause 1h")
        assert reply.body.startswith("Cells reshuffle every 10 seconds, cells of 3-4, each with its own room")
        # The first boundary: cells form (seven people: a cell of three and one of four), each
        # with its own room.
        bot.now = NOW + timedelta(seconds=10)
        await bot.fire("care:cells-1")
        await bot.flush()
        first = [c for c in bot.fake.created if not c["is_direct"]]
        assert len(first) == 2 and sorted(len(c["invite"]) for c in first) == [3, 4]
        # During the pause, a rota in a cell room does not turn.
        cell_room = first[0]["room_id"]
        await add_room(bot, cell_room, list(first[0]["invite"]))
        [added] = await bot.say(cell_room, first[0]["invite"][0], "!rota add rest every 10 seconds")
        assert added.body.startswith("Rota rest")
        # Nor does a gathering: at its time, no ghost chair is posted.
        mates = list(first[0]["invite"])
        await add_room(bot, cell_room, mates, moderators=[mates[0]])
        at = (bot.now + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M")
        [scheduled] = await bot.say(cell_room, mates[0], f"!gathering at {at} UTC")
        assert scheduled.body.startswith("Gathering #1"), scheduled.body
        saved = bot.now
        bot.now = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=UTC) + timedelta(seconds=2)
        sent = await bot.fire("ghostchair:gathering-1")
        assert not [s for s in sent if s.body.startswith("🪑")]
        bot.now = saved
        [shown] = await bot.say(ROOM, MOD, "!cells schedule")
        assert "Generation 1: 2 cells" in shown.body and "resting now" in shown.body
        # The next boundary: the old rooms get a closing note and are left; new ones open.
        bot.now = NOW + timedelta(seconds=20)
        before = len(bot.fake.sent)
        await bot.fire("care:cells-1")
        await bot.flush()
        closing = [s for s in bot.fake.sent[before:] if "closes: a new generation" in s.body]
        assert sorted(s.room_id for s in closing) == sorted(c["room_id"] for c in first)
        assert sorted(bot.fake.left) == sorted(c["room_id"] for c in first)
        second = [c for c in bot.fake.created if not c["is_direct"]][2:]
        assert len(second) == 2
        # Leaving is the runtime's removal: every feature forgets the room (here, its rota).
        for room in bot.fake.left:
            for feature in bot.features:
                await feature.forget_room(RoomID(room))
        assert await count(bot, "care_rota") == 0
        [stopped] = await bot.say(ROOM, MOD, "!cells stop")
        assert stopped.body.startswith("Stopped reshuffling")
        assert "care:cells-1" not in bot.scheduler.job_ids()
    finally:
        await close(bot)


async def test_a_rota_after_each_gathering_turns_with_the_ghost_chairs_gatherings(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path,
        [CareFeature, GhostChairFeature],  # type: ignore[list-item]
        members=[MOD, ANA, BEN],
        moderators=[MOD],
        now=NOW,
        config_extra=CONFIG,
    )
    try:
        [added] = await bot.say(ROOM, ANA, "!rota add decompression after each gathering")
        assert added.body.startswith("Rota decompression: after each gathering")
        [board] = await bot.say(ROOM, ANA, "!rota show decompression")
        assert "No turns ahead" in board.body  # no gathering yet: nothing to turn with
        await bot.say(ROOM, MOD, "!gathering every tue 18:00")
        for member in (ANA, BEN):
            await bot.say(ROOM, member, "!rota join decompression")
        [board] = await bot.say(ROOM, ANA, "!rota show decompression")
        lines = [line for line in board.body.splitlines() if line.startswith("• ")]
        assert lines[0].startswith("• 2026-11-24 18:00") and lines[1].startswith("• 2026-12-01 18:00"), (
            board.body
        )
        [refused] = await bot.say(ROOM, ANA, "!rota add talk after each gathering at 10:00")
        assert "leave out 'at HH:MM'" in refused.body
    finally:
        await close(bot)


async def test_list_leave_and_remove_change_the_board(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        await meals(bot)
        [listed] = await bot.say(ROOM, CAL, "!rota list")
        assert listed.body.startswith("Rotas in this room:"), listed.body
        assert "meals: every tuesday at 18:00, 1 person a turn, 3 volunteers; next 2026-11-24 18:00" in (
            listed.body
        )
        # Leaving: the pool shrinks and the turns ahead that were hers go to the others.
        [left] = await bot.say(ROOM, ANA, "!rota leave meals")
        assert left.body.startswith("You left the meals rota (2 volunteers).")
        assert "Your 1 turn ahead went to others." in left.body
        rota = (await care(bot).rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        assert ANA not in rota.pool and all(ANA not in t.holders for t in rota.turns)
        assert all(t.holders for t in rota.turns)
        [refused] = await bot.say(ROOM, ANA, "!rota swap meals 2026-11-24")
        assert "is not yours" in refused.body or "no meals turn" in refused.body
        # Removing (moderators): the rota, its requests and its job are gone.
        holder = min(rota.turns, key=lambda t: t.at).holders[0]
        await bot.say(ROOM, holder, "!rota swap meals 2026-11-24")
        assert await count(bot, "care_swap") == 1
        [removed] = await bot.say(ROOM, MOD, "!rota remove meals")
        assert removed.body.startswith("Removed the meals rota")
        assert await count(bot, "care_rota") == 0 and await count(bot, "care_swap") == 0
        assert "care:rota-1" not in bot.scheduler.job_ids()
        [listed] = await bot.say(ROOM, CAL, "!rota list")
        assert listed.body.startswith("No rotas here")
    finally:
        await close(bot)


async def test_cells_without_rooms_are_listed_and_a_missed_boundary_is_one_note(tmp_path: Path) -> None:
    from bots.care.cells import cells_job

    bot = await fake_bot(
        tmp_path,
        [CareFeature, LotteryFeature],  # type: ignore[list-item]
        members=[MOD, *SIX],
        moderators=[MOD],
        now=NOW,  # Sunday 12:00 UTC
        config_extra=CONFIG,
    )
    try:
        feature = care(bot)
        [reply] = await bot.say(ROOM, MOD, "!cells every monday at 09:00 3-4")
        assert reply.body.startswith("Cells reshuffle every monday at 09:00, cells of 3-4"), reply.body
        [shown] = await bot.say(ROOM, MOD, "!cells schedule")
        assert "Generation 0: 0 cells" in shown.body and "Next reshuffle: 2026-11-23 09:00" in shown.body
        # Down across Monday's boundary, back two hours later (past the grace of an hour): one
        # note, no cells formed, nothing opened.
        for job in bot.scheduler.job_ids():
            bot.scheduler.cancel(job)
        bot.now = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
        before = len(bot.fake.sent)
        await feature.start()
        await feature.start()  # started twice: nothing twice
        await bot.flush()
        sent = bot.fake.sent[before:]
        assert bodies(sent) == [
            "A reshuffle passed while the bot was away; the cells change at the next one."
        ]
        assert (await feature.cell_schedules.in_room(ROOM)).generation == 0  # type: ignore[union-attr]
        # The next Monday's boundary, 30 minutes late (within the grace): the cells are listed
        # in the room.
        bot.now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
        before = len(bot.fake.sent)
        await bot.fire("care:" + cells_job(1))
        await bot.flush()
        [listed] = bot.fake.sent[before:]
        assert listed.room_id == ROOM
        assert listed.body.startswith("Affinity cells, generation 1, away from those who already met:")
        assert listed.body.count("Cell ") == 2
        assert not [c for c in bot.fake.created if not c["is_direct"]]  # no rooms asked for
        assert (await feature.cell_schedules.in_room(ROOM)).generation == 1  # type: ignore[union-attr]
    finally:
        await close(bot)


async def test_a_rota_keeps_its_wall_time_in_the_rooms_zone_across_dst(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    bot = await care_bot(tmp_path)
    try:
        bot.now = datetime(2026, 10, 13, 12, 0, tzinfo=UTC)  # a Tuesday; clocks go back Oct 25
        await care(bot).host.settings.set_zone(ROOM, ZoneInfo("Europe/Berlin"))
        [added] = await bot.say(ROOM, ANA, "!rota add meals every sunday at 18:00")
        assert added.body.startswith("Rota meals: every sunday at 18:00"), added.body
        for member in (ANA, BEN, CAL):
            await bot.say(ROOM, member, "!rota join meals")
        rota = (await care(bot).rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        # 18:00 in Berlin: 16:00 UTC in summer time, 17:00 UTC from the night the clocks go back.
        assert [t.at for t in sorted(rota.turns, key=lambda t: t.at)] == [
            datetime(2026, 10, 18, 16, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 17, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 17, 0, tzinfo=UTC),
        ]
        [board] = await bot.say(ROOM, ANA, "!rota show meals")
        days = [line.split(": ")[0] for line in board.body.splitlines() if line.startswith("• ")]
        assert days == ["• 2026-10-18 18:00 CEST", "• 2026-10-25 18:00 CET", "• 2026-11-01 18:00 CET"], (
            board.body
        )
    finally:
        await close(bot)


async def test_a_handover_note_nobody_received_is_deleted_after_its_retention(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        feature = care(bot)
        lottery = next(f for f in bot.features if isinstance(f, LotteryFeature))
        await lottery.mandates.put(Mandate(ROOM, "treasurer", ANA, NOW, NOW + timedelta(days=3)))
        await add_room(bot, "!anadm:test.example", [ANA], direct=True)
        [kept] = await bot.say("!anadm:test.example", ANA, "!handover treasurer The float is in the tin.")
        assert kept.body.startswith("Kept your treasurer handover note")
        assert await count(bot, "care_handover") == 1
        # Within the retention (14 days by default) it waits for a next holder.
        await feature.forget_expired(NOW + timedelta(days=10))
        assert await count(bot, "care_handover") == 1
        # Nobody took the role: after the retention the note is gone, never delivered.
        await feature.forget_expired(NOW + timedelta(days=18))
        assert await count(bot, "care_handover") == 0
        assert not [s for s in bot.fake.sent if "float is in the tin" in s.body]
    finally:
        await close(bot)


async def test_a_rota_past_its_end_is_deleted_once_its_last_turn_was_handled(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)
    try:
        feature = care(bot)
        [added] = await bot.say(ROOM, ANA, "!rota add meals every tuesday at 18:00 until 2026-12-01")
        assert "until 2026-12-01" in added.body, added.body
        await bot.say(ROOM, ANA, "!rota join meals")
        rota = (await feature.rotas.named(ROOM, "meals")).rota  # type: ignore[union-attr]
        assert [t.at.date().isoformat() for t in rota.turns] == ["2026-11-24", "2026-12-01"]
        # Its end is the end of its last day (until is inclusive), then the grace of an hour:
        # within it the rota stays (a late turn may still be announced), after it it goes.
        end = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
        await feature.forget_expired(end + timedelta(minutes=30))
        assert await count(bot, "care_rota") == 1
        await feature.forget_expired(end + timedelta(minutes=90))
        assert await count(bot, "care_rota") == 0 and "care:rota-1" not in bot.scheduler.job_ids()
    finally:
        await close(bot)


async def test_a_rota_in_a_resting_cell_starts_turning_when_the_pause_ends(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path,
        [CareFeature, LotteryFeature],  # type: ignore[list-item]
        members=[MOD, *SIX],
        moderators=[MOD],
        now=NOW,  # Sunday 12:00 UTC
        config_extra=CONFIG,
    )
    try:
        await bot.say(ROOM, MOD, "!cells every monday at 09:00 3-4 rooms pause 2d")
        bot.now = datetime(2026, 11, 23, 9, 0, 5, tzinfo=UTC)
        await bot.fire("care:cells-1")
        await bot.flush()
        [cell] = [c for c in bot.fake.created if not c["is_direct"]][:1]
        room, mates = cell["room_id"], list(cell["invite"])
        await add_room(bot, room, mates)
        bot.now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        await bot.say(room, mates[0], "!rota add tea every day at 12:00")
        for mate in mates:
            await bot.say(room, mate, "!rota join tea")
        # During the pause (until Wednesday 09:00) nothing of the rota fires.
        before = len(bot.fake.sent)
        for day in (23, 24):
            bot.now = datetime(2026, 11, day, 12, 0, 5, tzinfo=UTC)
            await tick(bot)
        assert not [s for s in bot.fake.sent[before:] if s.room_id == room]
        # The pause ends: no note that turns were missed (none was given while resting), and
        # the next turn is given and announced at its time.
        bot.now = datetime(2026, 11, 25, 9, 0, 1, tzinfo=UTC)
        await tick(bot)
        assert not [s for s in bot.fake.sent[before:] if s.room_id == room]
        assert "care:rota-1" in bot.scheduler.job_ids()  # its job is set again
        bot.now = datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC)
        sent = [s for s in await tick(bot) if s.room_id == room]
        assert len(sent) == 1 and "it is the turn of" in sent[0].body, bodies(sent)
    finally:
        await close(bot)


async def test_a_rota_reminds_with_its_own_lead(tmp_path: Path) -> None:
    bot = await care_bot(tmp_path)  # the bot's default lead: a day
    try:
        [added] = await bot.say(ROOM, ANA, "!rota add meals every tuesday at 18:00 remind 2h")
        assert added.body.startswith("Rota meals: every tuesday at 18:00, 1 person a turn."), added.body
        await bot.say(ROOM, ANA, "!rota join meals")
        [board] = await bot.say(ROOM, ANA, "!rota show meals")
        assert "Each holder is reminded by direct message 2h before their turn." in board.body
        # A day before: not yet (the rota's lead is two hours); two hours before: reminded, once.
        bot.now = TUESDAY - timedelta(hours=23)
        assert [s for s in await tick(bot) if s.room_id != ROOM] == []
        assert "care:rota-1" in bot.scheduler.job_ids()
        bot.now = TUESDAY - timedelta(hours=2)
        dms = [s for s in await tick(bot) if s.room_id != ROOM]
        assert len(dms) == 1 and "your meals turn in" in dms[0].body
        assert [s for s in await tick(bot) if s.room_id != ROOM] == []
        # The default is shown where no lead was given; bad leads change nothing.
        await bot.say(ROOM, ANA, "!rota add dishes every friday")
        [board] = await bot.say(ROOM, ANA, "!rota show dishes")
        assert "reminded by direct message 1d before their turn" in board.body
        before = await state(bot)
        [refused] = await bot.say(ROOM, ANA, "!rota add chores every friday remind 3w")
        assert "A reminder comes at most 2w before a turn." in refused.body
        assert await state(bot) == before
    finally:
        await close(bot)
