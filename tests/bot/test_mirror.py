"""Tier 2: blind mirrors through the runtime, with a fake homeserver: opening a round (consent,
refusals, quotas) and reflecting by DM. The scene is in tests/bot/mirror_helpers.py.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from bots.mirror.conversation import UNENCRYPTED
from protocols.mirror_draft import MAX_ANSWER
from tests.bot.fakes import BOT, ROOM, add_room, close
from tests.bot.mirror_helpers import (
    ALICE,
    ANSWERS,
    BOB,
    DAVE,
    DMS,
    EVE,
    KEEPER,
    MOD,
    OTHER,
    ask,
    count_rows,
    dm,
    feature,
    mirror_bot,
    open_round,
    reflect,
)

# -- opening ---------------------------------------------------------------------------------


async def test_a_round_opens_only_when_a_moderator_of_the_reflected_room_accepts(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        sent = await bot.say(ROOM, MOD, f"!mirror open {OTHER} closes 2d min 3")
        [reply] = [s for s in sent if s.room_id == ROOM]
        [request] = [s for s in sent if s.room_id == OTHER]
        # The opener's room hears that consent was asked, not of which room.
        assert "asked the moderators of the room you named" in reply.body and reply.reply_to
        assert "Kitchen crew" not in reply.body and OTHER not in reply.body
        assert "A moderator of Marshals asks to hold a blind mirror about this room" in request.body
        code = re.search(r"!mirror accept ([a-z0-9]{6})", request.body).group(1)  # type: ignore[union-attr]
        assert f"!mirror decline {code}" in request.body
        assert await count_rows(bot, "mirror_round") == 0 and bot.scheduler.job_ids() == []
        [status] = await bot.say(ROOM, ALICE, "!mirror status")
        assert "waiting for consent" in status.body and "Kitchen crew" not in status.body
        # Only a moderator of the room reflected upon, in that room, can accept.
        [not_mod] = await bot.say(OTHER, DAVE, f"!mirror accept {code}")
        assert "power level 50" in not_mod.body
        [wrong_room] = await bot.say(ROOM, MOD, f"!mirror accept {code}")
        assert f"No blind-mirror request with the code {code} is waiting in this room" in wrong_room.body
        assert await count_rows(bot, "mirror_round") == 0
        sent = await bot.say(OTHER, KEEPER, f"!mirror accept {code}")
        [there] = [s for s in sent if s.room_id == OTHER]
        [announced] = [s for s in sent if s.room_id == ROOM]
        assert "about this room is open, as accepted here: members of Marshals" in there.body
        round_code = re.search(r"reflect ([a-z0-9]{6})", announced.body).group(1)  # type: ignore[union-attr]
        assert "Kitchen crew" in announced.body and f"<code>reflect {round_code}</code>" in announced.html
        assert "4 members of this room can take part" in announced.body  # MOD, Alice, Bob, Carol
        assert bot.scheduler.job_ids() == ["mirror:close-1"]
        [again] = await bot.say(OTHER, KEEPER, f"!mirror accept {code}")
        assert "No blind-mirror request" in again.body  # a request opens one round, once
        [status] = await bot.say(ROOM, ALICE, "!mirror status")
        assert f"{round_code} (about Kitchen crew): open until 2026-11-24 12:00" in status.body
        await reflect(bot, ALICE, round_code)
        [after] = await bot.say(ROOM, ALICE, "!mirror status")
        assert after.body == status.body  # never a live count: it would point at who just wrote
        [help_] = await bot.say(ROOM, ALICE, "!help mirror")
        assert "!mirror open <room> [closes <duration>] [min <k>]" in help_.body
        assert "!mirror accept <code>" in help_.body and "!mirror decline <code>" in help_.body
    finally:
        await close(bot)


async def test_a_declined_or_lapsed_request_opens_nothing(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await ask(bot)
        sent = await bot.say(OTHER, KEEPER, f"!mirror decline {code}")
        assert "Declined" in next(s for s in sent if s.room_id == OTHER).body
        told = next(s for s in sent if s.room_id == ROOM)
        assert f"request {code} was declined" in told.body and "Kitchen crew" not in told.body
        [late] = await bot.say(OTHER, KEEPER, f"!mirror accept {code}")
        assert "No blind-mirror request" in late.body
        lapsing = await ask(bot)
        bot.now += timedelta(hours=24, seconds=1)
        [expired] = await bot.say(OTHER, KEEPER, f"!mirror accept {lapsing}")
        assert "No blind-mirror request" in expired.body  # expired, even before the sweep
        before = len(bot.fake.sent)
        await feature(bot).forget_expired(bot.now)
        await bot.flush()
        [note] = bot.fake.sent[before:]
        assert note.room_id == ROOM and f"request {lapsing} lapsed" in note.body
        assert await count_rows(bot, "mirror_request") == 0 and await count_rows(bot, "mirror_round") == 0
    finally:
        await close(bot)


async def test_a_room_the_opener_is_not_in_is_refused_without_naming_it(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        cell = "!cell:test.example"
        await add_room(bot, cell, [DAVE], moderators=[DAVE])  # the bot is there; MOD is not
        bot.fake.names[cell] = "Secret cell"
        bot.fake.aliases["#cell:test.example"] = cell
        replies = {}
        for ref in (cell, "#cell:test.example", "!nosuchroom:test.example", "#nowhere:test.example"):
            sent = await bot.say(ROOM, MOD, f"!mirror open {ref}")
            assert [s.room_id for s in sent] == [ROOM], "nothing is posted anywhere else"
            replies[ref] = sent[0].body.replace(ref, "REF")
            assert "Secret cell" not in sent[0].body
        # The same words whether the room exists (and the bot is in it) or not.
        assert len(set(replies.values())) == 1, replies
        assert "must be a room that both you and I have joined" in replies[cell]
        assert await count_rows(bot, "mirror_request") == 0
    finally:
        await close(bot)


async def test_open_refuses_bad_input_and_changes_nothing(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        cases = {
            f"!mirror open {OTHER}": "power level 50",  # sent by Alice, below
            f"!mirror open {ROOM}": "name a room other than this one",
            f"!mirror open {OTHER} min 2": "min must be at least 3",
            f"!mirror open {OTHER} min lots": "'lots' is not a valid <k>",
            f"!mirror open {OTHER} closes 5m": "at least 10m",
            f"!mirror open {OTHER} closes 60d": "at most 30d",
            f"!mirror open {OTHER} closes soon": "Usage: !mirror open <room> [closes <duration>] [min <k>]",
            "!mirror open #nowhere:test.example": "cannot hold a blind mirror about #nowhere:test.example",
            "!mirror open !notjoined:test.example": "both you and I have joined",
            "!mirror open": "missing <room>",
            "!mirror accept": "missing <code>",
            "!mirror accept hello!": "is not a round code",
            "!mirror decline zzzzzz": "No blind-mirror request with the code zzzzzz",
        }
        for command, expected in cases.items():
            sender = ALICE if expected.startswith("power") else MOD
            [reply] = await bot.say(ROOM, sender, command)
            assert expected in reply.body, (command, reply.body)
        [status] = await bot.say(ROOM, MOD, "!mirror status")
        assert status.body.startswith("No blind-mirror rounds")
        assert bot.scheduler.job_ids() == [] and await count_rows(bot, "mirror_round") == 0
        assert await count_rows(bot, "mirror_request") == 0
        [in_dm] = await dm(bot, ALICE, "!mirror status")
        assert "works in a group room" in in_dm.body
    finally:
        await close(bot)


async def test_rounds_and_requests_are_limited_per_room_and_opener(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        await open_round(bot)
        await ask(bot)
        [refused] = await bot.say(ROOM, MOD, f"!mirror open {OTHER}")
        assert "This room already has 2 blind-mirror rounds or requests going on (at most 2)" in refused.body
        # Another room about the same one: that room is full too.
        third = "!third:test.example"
        await add_room(bot, third, [MOD, ALICE], moderators=[MOD])
        [about] = await bot.say(third, MOD, f"!mirror open {OTHER}")
        assert "That room already has 2 blind-mirror rounds or requests about it" in about.body
        # An opener with two going on elsewhere is refused in a fresh pair of rooms.
        fourth, fifth = "!fourth:test.example", "!fifth:test.example"
        await add_room(bot, fourth, [MOD], moderators=[MOD])
        await add_room(bot, fifth, [MOD, KEEPER], moderators=[KEEPER])
        [mine] = await bot.say(fourth, MOD, f"!mirror open {fifth}")
        assert "You already have 2 blind-mirror rounds or requests going on" in mine.body
        assert await count_rows(bot, "mirror_request") == 1 and await count_rows(bot, "mirror_round") == 1
    finally:
        await close(bot)


async def test_open_warns_when_the_room_is_smaller_than_k(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path, members=(ALICE, BOB))
    try:
        request = await ask(bot, "min 4")
        sent = await bot.say(OTHER, KEEPER, f"!mirror accept {request}")
        [announced] = [s for s in sent if s.room_id == ROOM]
        assert "this room has 3 members besides me, fewer than 4" in announced.body
        assert "a reflection is easy to trace" in announced.body
        assert "one person's second account would count" in announced.body
    finally:
        await close(bot)


# -- reflecting ------------------------------------------------------------------------------


async def test_reflect_walks_through_prompts_and_shows_the_draft(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        opened = len(bot.fake.sent)
        [intro] = await dm(bot, ALICE, f"reflect {code.upper()}")
        assert "(1/3) What did you observe?" in intro.body and intro.room_id == DMS[ALICE]
        [second] = await dm(bot, ALICE, ANSWERS[ALICE][0])
        assert second.body.startswith("(2/3)")
        [third] = await dm(bot, ALICE, ANSWERS[ALICE][1])
        assert third.body.startswith("(3/3)")
        [review] = await dm(bot, ALICE, ANSWERS[ALICE][2])
        assert "Observed:\n" + ANSWERS[ALICE][0] in review.body and "Reply submit" in review.body
        assert ALICE not in review.body
        [thanks] = await dm(bot, ALICE, "submit")
        assert "Thank you" in thanks.body and "replaces" not in thanks.body
        assert await feature(bot).rounds.count(1) == 1
        # Nothing is said in any room about a submission (a moving count would point at people).
        assert all(s.room_id == DMS[ALICE] for s in bot.fake.sent[opened:])
    finally:
        await close(bot)


async def test_a_later_reflection_replaces_the_earlier(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await reflect(bot, ALICE, code)
        replies = await reflect(bot, ALICE, code, ("changed my mind REPLACED", "b", "c"))
        assert "It replaces the reflection you sent before." in replies[-1].body
        assert await feature(bot).rounds.count(1) == 1
    finally:
        await close(bot)


async def test_cancel_restart_and_a_new_code_discard_the_draft(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        second = await open_round(bot, "closes 3d")
        await dm(bot, BOB, f"reflect {code}")
        await dm(bot, BOB, "first answer")
        [restart] = await dm(bot, BOB, "restart")
        assert restart.body.startswith("Starting again") and "(1/3)" in restart.body
        [switched] = await dm(bot, BOB, f"reflect {second}")
        assert f"Your unfinished draft for round {code} was discarded" in switched.body
        [cancelled] = await dm(bot, BOB, "Cancel")
        assert "Discarded" in cancelled.body
        [none] = await dm(bot, BOB, "submit")
        assert "no reflection in progress" in none.body
        # An answer may begin with "reflect": with a draft open it is an answer, not a command.
        await dm(bot, BOB, f"reflect {code}")
        [answer] = await dm(bot, BOB, "reflect on how the day went")
        assert answer.body.startswith("(2/3)")
        assert await count_rows(bot, "mirror_submission") == 0
    finally:
        await close(bot)


async def test_bad_input_in_a_dm(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        [unknown] = await dm(bot, ALICE, "reflect zzzzzz")
        assert "No round has the code zzzzzz" in unknown.body
        [malformed] = await dm(bot, ALICE, "reflect hello!")
        assert "is not a round code" in malformed.body
        [bare] = await dm(bot, ALICE, "reflect")
        assert "Send reflect and the round code" in bare.body
        [outsider] = await dm(bot, EVE, f"reflect {code}")
        assert "Only members of the room" in outsider.body
        await dm(bot, ALICE, f"reflect {code}")
        [empty] = await dm(bot, ALICE, "   \x00  ")
        assert "That answer is empty" in empty.body
        [huge] = await dm(bot, ALICE, "x" * 100_000)
        assert f"each answer can have at most {MAX_ANSWER:,}" in huge.body
        [early] = await dm(bot, ALICE, "submit")
        assert "Answer this prompt first (1 of 3)" in early.body
        [still] = await dm(bot, ALICE, "a real answer")
        assert still.body.startswith("(2/3)")  # the bad answers left the draft as it was
        assert await dm(bot, DAVE, "hello bot") == []  # not about a reflection: not ours
        assert await count_rows(bot, "mirror_submission") == 0
    finally:
        await close(bot)


async def test_unencrypted_dm_is_refused_unless_relaxed(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        [refused] = await dm(bot, ALICE, f"reflect {code}", encrypted=False)
        assert refused.body == str(UNENCRYPTED) and "Security & Privacy" in refused.body
        assert feature(bot).conversations.drafts.get(ALICE) is None
        # A draft begun encrypted does not continue in a plain room either.
        await dm(bot, ALICE, f"reflect {code}")
        [moved] = await dm(bot, ALICE, "secret answer", encrypted=False)
        assert moved.body == str(UNENCRYPTED)
    finally:
        await close(bot)
    relaxed = await mirror_bot(
        tmp_path / "relaxed", extra="features:\n  mirror:\n    require_encrypted_dm: false\n"
    )
    try:
        code = await open_round(relaxed)
        replies = []
        for body in (f"reflect {code}", "a", "b", "c", "submit"):
            replies += await dm(relaxed, ALICE, body, encrypted=False)
        assert "Thank you" in replies[-1].body
    finally:
        await close(relaxed)


async def test_membership_is_checked_again_at_submit(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for body in (f"reflect {code}", "a", "b", "c"):
            await dm(bot, ALICE, body)
        bot.fake.members[ROOM].remove(ALICE)
        [refused] = await dm(bot, ALICE, "submit")
        assert "Only members of the room" in refused.body
        assert await count_rows(bot, "mirror_submission") == 0
        assert feature(bot).conversations.drafts.get(ALICE) is None
    finally:
        await close(bot)


async def test_dm_messages_are_redacted_where_the_bot_has_power(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        bot.fake.powers[DMS[ALICE]] = {str(BOT): 100}  # a DM the bot created: it may redact
        code = await open_round(bot)
        before = len(bot.fake.sent)
        await reflect(bot, ALICE, code)
        review = next(s for s in bot.fake.sent[before:] if "Reply submit" in s.body)
        redacted = {event for room, event in bot.fake.redacted if room == DMS[ALICE]}
        assert review.event_id in redacted
        assert len([e for e in redacted if e.startswith("$dm")]) == 5  # reflect, 3 answers, submit
        # In Bob's DM (created by Bob, the bot has no power) only the bot's own echo goes.
        bot.fake.redacted.clear()
        await reflect(bot, BOB, code)
        assert [room for room, _ in bot.fake.redacted] == [DMS[BOB]]
        assert not any(e.startswith("$dm") for _, e in bot.fake.redacted)
    finally:
        await close(bot)
