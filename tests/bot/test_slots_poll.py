"""Tier 2: a day of action's open slots as a Matrix poll (``!slot poll`` / ``!slot poll end``),
through the runtime with the stand-in herald; the fake homeserver answers the poll's relations
with the responses a test gives it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bots.dayofaction.herald_port import RunSpec
from bots.runtime.ids import RoomID
from bots.runtime.offline import forget_contract_features
from bots.slots.feature import SlotsFeature
from bots.slots.render import KEYCAPS
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import BOT, ROOM, FakeBot, Sent, add_room, close, fake_bot, running

A, B, C, D = (f"@{n}:test.example" for n in ("ana", "ben", "cai", "dee"))
COORD = "!coord:test.example"
ELSEWHERE = "!elsewhere:test.example"
CHECKLIST = ("Marshal: 2", "medic: 1", "cook: 1", "Safety briefing prepared")


async def poll_bot(
    tmp_path: Path, closes_in: timedelta | None = None, checklist: tuple[str, ...] = CHECKLIST
) -> tuple[FakeBot, list[dict[str, Any]]]:
    """A bot with slots in ROOM for run r1; the list it returns is the poll's responses, which
    the fake homeserver's relations call answers with."""
    bot = await fake_bot(tmp_path, [StubHerald, SlotsFeature], members=[A, B, C, D], moderators=[A])
    await add_room(bot, COORD, [A])
    await add_room(bot, ELSEWHERE, [A])
    stub_of(bot.features).add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=3), [ROOM], [COORD]),
        RunSpec(checklist, bot.now + closes_in if closes_in else None),
    )
    responses: list[dict[str, Any]] = []

    async def api(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        assert method == "GET" and "/relations/" in path, path
        return {"chunk": list(responses)}

    bot.fake.api = api  # type: ignore[method-assign]
    return bot, responses


def answer(poll: str, sender: str, slot: str, at_ms: int, n: int) -> dict[str, Any]:
    return {
        "type": "m.poll.response",
        "event_id": f"$answer{n}",
        "sender": sender,
        "origin_server_ts": at_ms,
        "content": {"m.relates_to": {"rel_type": "m.reference", "event_id": poll}, "m.selections": [slot]},
    }


def polls(sent: list[Sent], kind: str = "m.poll.start") -> list[Sent]:
    return [s for s in sent if s.event_type == kind]


async def rows(bot: FakeBot, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await bot.db.fetchall(sql)]


async def test_a_poll_offers_the_open_slots_and_its_answers_claim_them_when_it_ends(tmp_path: Path) -> None:
    bot, responses = await poll_bot(tmp_path)
    try:
        await bot.say(ROOM, D, "!slot claim cook")  # cook is full: not offered
        out = await bot.say(ROOM, A, "!slot poll")
        [start] = polls(out)
        content = start.content["m.poll"]
        assert content["kind"] == "m.disclosed" and content["max_selections"] == 1
        assert [a["m.id"] for a in content["answers"]] == ["marshal", "medic"]
        assert [a["m.text"][0]["body"] for a in content["answers"]] == [
            "marshal (2 places free)",
            "medic (1 place free)",
        ]
        assert content["question"]["m.text"][0]["body"] == (
            "Which slot do you take in run r1? (Your answer is visible to the room.)"
        )
        [told] = [s for s in out if s.event_type == "m.room.message"]
        assert "claims that slot when the poll ends with !slot poll end" in told.body

        t = int(bot.now.timestamp() * 1000)
        poll = start.event_id
        responses += [
            answer(poll, A, "medic", t + 1, 1),
            answer(poll, B, "medic", t + 2, 2),
            answer(poll, A, "marshal", t + 3, 3),  # ana changed her mind: her latest counts
            answer(poll, C, "medic", t + 4, 4),  # medic is full by now: refused, not waitlisted
            answer(poll, str(BOT), "marshal", t + 5, 5),  # the bot's own answer never counts
        ]
        assert await bot.react(ROOM, C, poll, KEYCAPS[0]) == []  # a poll is not a slot list
        bot.now += timedelta(minutes=5)
        out = await bot.say(ROOM, B, "!slot poll end")
        [ended] = polls(out, "m.poll.end")
        assert ended.content["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll}
        assert ended.content["m.poll.results"] == {"marshal": 1, "medic": 2}
        assert ended.content["m.text"][0]["body"] == "Poll closed: 2 slots claimed, 1 refused."
        [said] = [s for s in out if s.event_type == "m.room.message"]
        assert said.body.startswith("The slot poll of run r1 is closed:")
        assert f"{B}: holds a place as medic" in said.body and f"{A}: holds a place as marshal" in said.body
        assert f"{C}: All places as 'medic' were taken before the poll ended" in said.body
        claims = await rows(bot, "SELECT name, user_id, event_id FROM slots_claim ORDER BY name, pos")
        assert claims == [("cook", D, claims[0][2]), ("marshal", A, "$answer3"), ("medic", B, "$answer2")]
        [listed] = await bot.say(ROOM, C, "!slot")
        assert f"marshal: 1 of 2 ({A})" in listed.body and f"medic: 1 of 1 ({B})" in listed.body
        [again] = await bot.say(ROOM, B, "!slot poll end")
        assert "has no slot poll open here" in again.body
        [only] = await bot.say(ROOM, B, "!slot poll")  # a new one may start, if there is a choice
        assert "Only 'marshal' has a free place" in only.body
    finally:
        await close(bot)


async def test_bad_input_is_refused_and_posts_no_poll(tmp_path: Path) -> None:
    bot, _ = await poll_bot(tmp_path)
    try:
        [no_run] = await bot.say(ELSEWHERE, A, "!slot poll")
        assert "No day of action is running for this room" in no_run.body
        [named] = await bot.say(ROOM, A, "!slot poll run nope")
        assert "no run 'nope'" in named.body
        [coord] = await bot.say(COORD, A, "!slot poll")
        assert "not one" in coord.body
        [none_open] = await bot.say(ROOM, A, "!slot poll end")
        assert "has no slot poll open here; start one with !slot poll" in none_open.body

        assert polls(await bot.say(ROOM, A, "!slot poll"))
        [second] = await bot.say(ROOM, B, "!slot poll")
        assert "already has a slot poll open here; end it with !slot poll end" in second.body
        await bot.say(ROOM, B, "!slot poll end")

        for who, slot in ((A, "marshal"), (B, "marshal"), (C, "medic")):
            await bot.say(ROOM, who, f"!slot claim {slot}")
        [one] = await bot.say(ROOM, D, "!slot poll")
        assert "Only 'cook' has a free place: claim it with !slot claim cook" in one.body
        await bot.say(ROOM, D, "!slot claim cook")
        [full] = await bot.say(ROOM, D, "!slot poll")
        assert "No slot has a free place left" in full.body
        assert len(polls(bot.fake.sent)) == 1
    finally:
        await close(bot)


async def test_beyond_twenty_open_slots_the_poll_names_the_rest(tmp_path: Path) -> None:
    checklist = tuple(f"role {n:02}: 1" for n in range(23))
    bot, _ = await poll_bot(tmp_path, checklist=checklist)
    try:
        out = await bot.say(ROOM, A, "!slot poll")
        [start] = polls(out)
        assert len(start.content["m.poll"]["answers"]) == 20
        [told] = [s for s in out if s.event_type == "m.room.message"]
        assert "A poll holds 20 answers" in told.body and "role 20, role 21, role 22" in told.body
    finally:
        await close(bot)


async def test_at_the_deadline_the_poll_ends_by_itself_before_the_draw(tmp_path: Path) -> None:
    bot, responses = await poll_bot(tmp_path, closes_in=timedelta(hours=1))
    try:
        out = await bot.say(ROOM, A, "!slot poll")
        [start] = polls(out)
        [told] = [s for s in out if s.event_type == "m.room.message"]
        assert "by itself at" in told.body
        t = int(bot.now.timestamp() * 1000)
        responses += [
            answer(start.event_id, who, "marshal", t + n, n) for n, who in enumerate((A, B, C), start=1)
        ]
        responses.append(answer(start.event_id, D, "medic", t + 4, 4))
        bot.now += timedelta(hours=1)
        [job] = [j for j in bot.scheduler.job_ids() if j.startswith("slots:close:")]
        out = await bot.fire(job)
        [ended] = polls(out, "m.poll.end")
        assert ended.content["m.poll.results"] == {"cook": 0, "marshal": 3, "medic": 1}
        [result] = [s for s in out if s.body.startswith("The slot poll of run r1 is closed")]
        assert f"{C}: signed up for marshal; the holders are drawn by lottery" in result.body
        assert f"{D}: holds a place as medic" in result.body
        assert any("SHA-256" in s.body for s in out)  # the draw's seed was committed ...
        [drawn] = [s for s in out if "Drawn by lottery for marshal" in s.body]  # ... and drawn
        assert out.index(result) < out.index(drawn)
        contributions = await rows(bot, "SELECT event_id FROM slots_claim WHERE name = 'marshal'")
        assert sorted(c for (c,) in contributions) == ["$answer1", "$answer2", "$answer3"]
        [no_poll] = await bot.say(ROOM, A, "!slot poll end")
        assert "has no slot poll open" in no_poll.body
    finally:
        await close(bot)


async def test_a_poll_is_forgotten_with_the_run_with_the_room_and_by_affinity_forget(tmp_path: Path) -> None:
    polled = "SELECT COUNT(*) FROM slots_message WHERE poll > 0"
    bot, _ = await poll_bot(tmp_path)
    try:
        [start] = polls(await bot.say(ROOM, A, "!slot poll"))
        assert await rows(bot, polled) == [(1,)]
        feature = running(bot, SlotsFeature)
        bot.now += timedelta(days=2)
        await feature.forget_expired(bot.now)
        assert await rows(bot, polled) == [(1,)]  # the run's retention is not over yet
        bot.now += timedelta(days=1)
        await feature.forget_expired(bot.now)
        await bot.flush()
        assert await rows(bot, polled) == [(0,)]
        assert start.event_id in {e for _, e in bot.fake.redacted}  # the poll goes with the run

        bot.now -= timedelta(days=3)
        await feature.forget_room(RoomID(ROOM))  # the slots' rows of the room went too
        [start] = polls(await bot.say(ROOM, A, "!slot poll"))
        await feature.forget_room(RoomID(ROOM))
        assert await rows(bot, polled) == [(0,)]

        [start] = polls(await bot.say(ROOM, A, "!slot poll"))
        await bot.outbox.stop()  # `affinity forget` runs while the bot does not
        names = bot.app.bots[0].model_copy(update={"features": ["slots"]})
        config = bot.app.model_copy(update={"bots": [names]})
        await forget_contract_features(config, bot.db, bot.now + timedelta(days=1))
        assert await rows(bot, polled) == [(1,)]
        await forget_contract_features(config, bot.db, bot.now + timedelta(days=4))
        assert await rows(bot, polled) == [(0,)]
    finally:
        await close(bot)


async def test_a_poll_is_asked_and_closed_in_the_rooms_language(tmp_path: Path) -> None:
    bot, responses = await poll_bot(tmp_path)
    try:
        await bot.say(ROOM, A, "!language pl")
        [start] = polls(await bot.say(ROOM, A, "!slot poll"))
        content = start.content["m.poll"]
        assert content["question"]["m.text"][0]["body"].startswith("Które miejsce bierzesz w akcji r1?")
        assert [a["m.text"][0]["body"] for a in content["answers"]] == [
            "cook (1 wolne miejsce)",
            "marshal (2 wolne miejsca)",
            "medic (1 wolne miejsce)",
        ]
        responses.append(answer(start.event_id, B, "cook", int(bot.now.timestamp() * 1000), 1))
        out = await bot.say(ROOM, A, "!slot poll end")
        [ended] = polls(out, "m.poll.end")
        assert ended.content["m.text"][0]["body"] == "Ankieta zamknięta: 1 miejsce zajęte, odmowy: 0."
        [said] = [s for s in out if s.event_type == "m.room.message"]
        assert f"{B}: ma miejsce jako cook" in said.body
    finally:
        await close(bot)
