"""Tier 2: intake surveys by DM, counts only from three answers in a room."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bots.dayofaction.herald_port import RunSpec
from bots.intake.feature import IntakeFeature
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, Sent, add_room, close, fake_bot

MOD = "@mod:test.example"
PEOPLE = [f"@p{i}:test.example" for i in range(4)]
COORD = "!coord:test.example"


async def intake_bot(tmp_path: Path) -> FakeBot:
    bot = await fake_bot(tmp_path, [StubHerald, IntakeFeature], members=PEOPLE)
    await add_room(bot, COORD, [MOD], moderators=[MOD])
    stub_of(bot.features).add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=2), [ROOM], [COORD]),
        RunSpec(survey=("why", "seats")),
    )
    return bot


async def take(
    bot: FakeBot, person: str, answers: list[str], *, by_reaction: str | None = None
) -> list[Sent]:
    """Opt in (by command, or by reacting to the invitation) and answer in the DM."""
    if by_reaction:
        out = await bot.react(ROOM, person, by_reaction, "✋")
    else:
        out = await bot.say(ROOM, person, "!intake me")
    [question] = [s for s in out if s.room_id not in (ROOM, COORD)]
    dm = question.room_id
    await add_room(bot, dm, [person], direct=True)
    got: list[Sent] = [question]
    for answer in answers:
        got += await bot.say(dm, person, answer)
    return got


async def test_an_intake_with_two_answers_shows_nothing_and_with_three_shows_counts(tmp_path: Path) -> None:
    bot = await intake_bot(tmp_path)
    try:
        out = await bot.say(COORD, MOD, "!intake start")
        [invitation] = [s for s in out if s.room_id == ROOM]
        assert "opt in" in invitation.body
        dms = await take(bot, PEOPLE[0], ["friends", "2"])
        assert (
            "Question 1 of 2" in dms[0].body
            and "Question 2 of 2" in dms[1].body
            and "Thank you" in dms[2].body
        )
        await take(bot, PEOPLE[1], ["1", "0"], by_reaction=invitation.event_id)
        [counts] = await bot.say(COORD, MOD, "!intake counts")
        assert "No room has 3 answers" in counts.body and "1 room has fewer" in counts.body
        assert "friends" not in counts.body
        await take(bot, PEOPLE[2], ["friends", "2"])
        [counts] = await bot.say(COORD, MOD, "!intake counts")
        assert "(3 answered)" in counts.body
        assert "why: solidarity 1, friends 2" in counts.body and "seats: 0 1, 2 2" in counts.body
        row = await bot.db.fetchone("SELECT COUNT(*) FROM intake_respondent WHERE answers != '{}'")
        assert row is not None and row[0] == 0  # finished answers are not kept with the person
    finally:
        await close(bot)


async def test_bad_survey_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    bot = await intake_bot(tmp_path)
    try:
        [early] = await bot.say(ROOM, PEOPLE[0], "!intake me")
        assert "has not started" in early.body
        [member] = await bot.say(ROOM, PEOPLE[0], "!intake start")
        assert "power level" in member.body or "coordination room" in member.body
        await bot.say(COORD, MOD, "!intake start")
        [again] = await bot.say(COORD, MOD, "!intake start")
        assert "started already" in again.body
        dms = await take(bot, PEOPLE[0], ["friends", "500"])
        assert "out of range" in dms[-1].body and "Seats" in dms[-1].body
        dms = await bot.say(dms[0].room_id, PEOPLE[0], "9")
        assert "out of range" in dms[-1].body
        row = await bot.db.fetchone("SELECT step FROM intake_respondent")
        assert row is not None and row[0] == 1  # still at the second question
        assert (await bot.db.fetchone("SELECT COUNT(*) FROM intake_answer"))[0] == 0  # type: ignore[index]
        [twice] = await bot.say(ROOM, PEOPLE[0], "!intake me")
        assert "already" in twice.body
    finally:
        await close(bot)


async def test_answers_are_forgotten_with_the_run(tmp_path: Path) -> None:
    bot = await intake_bot(tmp_path)
    try:
        await bot.say(COORD, MOD, "!intake start")
        for person in PEOPLE[:3]:
            await take(bot, person, ["friends", "1"])
        bot.now += timedelta(days=2)
        [feature] = [f for f in bot.features if f.name == "intake"]
        await feature.forget_expired(bot.now)
        await bot.flush()
        for table in ("intake_run", "intake_respondent", "intake_answer", "intake_message"):
            row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            assert row is not None and row[0] == 0, table
        assert len(bot.fake.redacted) == 1 + 3 * 3  # the invitation, and 3 DMs to each person
    finally:
        await close(bot)
