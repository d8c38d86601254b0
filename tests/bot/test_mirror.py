"""Tier 2: blind mirrors through the runtime, with a fake homeserver.

Rounds are asked for in ROOM (the reflecting group) about OTHER (the room reflected upon), by
MOD, a moderator of ROOM who is also in OTHER, and open once KEEPER, a moderator of OTHER,
accepts there; each person writes in their own DM with the bot. Messages in an encrypted DM reach the runtime as nio
hands them over once decrypted (an object with ``.source`` and ``.decrypted``).
"""

from __future__ import annotations

import itertools
import logging
import random
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bots.mirror import MirrorFeature
from bots.mirror.conversation import UNENCRYPTED
from bots.runtime.contract import ContractBridge, factory
from bots.runtime.ids import RoomID, UserID
from bots.runtime.runtime_host import RuntimeHost
from protocols.mirror_draft import MAX_ANSWER
from storage.room_settings import RoomSettings
from tests.bot.fakes import BOT, ROOM, FakeBot, Sent, add_room, close, fake_bot

MOD = "@mod:test.example"
KEEPER = "@keeper.kitchen:test.example"
ALICE = "@alice.author:test.example"
BOB = "@bob.author:test.example"
CAROL = "@carol.author:test.example"
DAVE = "@dave:test.example"
EVE = "@eve.outsider:test.example"
OTHER = "!kitchen:test.example"
DMS = {user: f"!dm-{user[1:].split(':')[0]}:test.example" for user in (ALICE, BOB, CAROL, DAVE, EVE)}
ANSWERS = {
    ALICE: ("Alice saw calm marshals SECRET-ALPHA", "grateful for the water", "try earlier starts"),
    BOB: ("Bob saw the songs SECRET-BRAVO", "grateful for the care", "try more breaks"),
    CAROL: ("Carol saw the banner SECRET-CHARLIE", "grateful for the map", "try a second route"),
}
_ids = itertools.count(1)


class Decrypted:
    """What nio hands the runtime for an event it decrypted."""

    def __init__(self, source: dict[str, Any]) -> None:
        self.source = source
        self.decrypted = True


async def dm(bot: FakeBot, user: str, body: str, *, encrypted: bool = True, room: str | None = None) -> list[Sent]:
    """``user`` writes ``body`` in their DM with the bot; returns what the bot sent."""
    before = len(bot.fake.sent)
    source = {
        "type": "m.room.message", "event_id": f"$dm{next(_ids)}", "sender": user,
        "origin_server_ts": int(bot.now.timestamp() * 1000),
        "content": {"msgtype": "m.text", "body": body},
    }
    await bot.handle(RoomID(room or DMS[user]), Decrypted(source) if encrypted else source)  # type: ignore[arg-type]
    await bot.flush()
    return bot.fake.sent[before:]


async def reflect(bot: FakeBot, user: str, code: str, answers: tuple[str, ...] | None = None) -> list[Sent]:
    """A whole reflection: reflect, three answers, submit. Returns the replies, in order."""
    replies = []
    for body in (f"reflect {code}", *(answers or ANSWERS[user]), "submit"):
        replies += await dm(bot, user, body)
    return replies


async def mirror_bot(tmp_path: Path, members: tuple[str, ...] = (ALICE, BOB, CAROL), extra: str = "") -> FakeBot:
    section = ((yaml.safe_load(extra) or {}).get("features") or {}).get("mirror") or {}
    bot = await fake_bot(
        tmp_path, [factory(MirrorFeature, section)], members=[MOD, *members], moderators=[MOD], config_extra=extra
    )
    bot.pickle_key = "test-operator-secret"  # type: ignore[attr-defined]
    feature(bot)._rounds = None  # built at start, before the key was set
    await add_room(bot, OTHER, [DAVE, MOD, KEEPER], moderators=[KEEPER])
    bot.fake.names.update({ROOM: "Marshals", OTHER: "Kitchen crew"})
    for user, room in DMS.items():
        await add_room(bot, room, [user], direct=True)
    return bot


def feature(bot: FakeBot) -> MirrorFeature:
    return next(
        f.feature for f in bot.features if isinstance(f, ContractBridge) and isinstance(f.feature, MirrorFeature)
    )


async def ask(bot: FakeBot, options: str = "closes 2d", room: str = ROOM, target: str = OTHER,
              opener: str = MOD) -> str:
    """``!mirror open`` in ``room``: the code of the request posted in ``target``."""
    sent = await bot.say(room, opener, f"!mirror open {target} {options}")
    request = next(s for s in sent if s.room_id == target)
    match = re.search(r"!mirror accept ([a-z0-9]{6})", request.body)
    assert match, request.body
    return match.group(1)


async def open_round(bot: FakeBot, options: str = "closes 2d") -> str:
    """Ask, have KEEPER accept in OTHER, and return the round's code from ROOM's announcement."""
    request = await ask(bot, options)
    sent = await bot.say(OTHER, KEEPER, f"!mirror accept {request}")
    announcement = next(s for s in sent if s.room_id == ROOM)
    match = re.search(r"reflect ([a-z0-9]{6})", announcement.body)
    assert match, announcement.body
    return match.group(1)


def round_id(bot: FakeBot, code: str) -> int:
    return int(next(j for j in bot.scheduler.job_ids() if j.startswith("mirror:close-")).rsplit("-", 1)[1])


def on_disk(folder: Path) -> bytes:
    """Every byte of every file under ``folder`` (the database, its WAL, the stores)."""
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


async def count_rows(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row else 0


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
        assert f"each answer can have at most {MAX_ANSWER}" in huge.body
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
        assert refused.body == UNENCRYPTED and "Security & Privacy" in refused.body
        assert feature(bot).conversations.drafts.get(ALICE) is None
        # A draft begun encrypted does not continue in a plain room either.
        await dm(bot, ALICE, f"reflect {code}")
        [moved] = await dm(bot, ALICE, "secret answer", encrypted=False)
        assert moved.body == UNENCRYPTED
    finally:
        await close(bot)
    relaxed = await mirror_bot(tmp_path / "relaxed", extra="features:\n  mirror:\n    require_encrypted_dm: false\n")
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


# -- closing and releasing -------------------------------------------------------------------


async def test_threshold_met_releases_one_anonymous_batch_then_redacts(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        await dm(bot, DAVE, f"reflect {code}")  # Dave is not in the group: refused anyway
        [closed] = await bot.fire("mirror:close-1")
        assert closed.room_id == ROOM and "closed with enough reflections" in closed.body
        assert bot.scheduler.job_ids() == ["mirror:release-1"]
        [late] = await dm(bot, ALICE, f"reflect {code}")
        assert "has closed" in late.body
        released = await bot.fire("mirror:release-1")
        batch = [s for s in released if s.room_id == OTHER]
        assert len(batch) == 1, "the batch goes out in one message"
        body = batch[0].body
        assert "3 anonymous reflections from Marshals" in body
        for user, answers in ANSWERS.items():
            assert answers[0] in body and user not in body and user not in batch[0].html
            assert DMS[user] not in body
        assert [s.room_id for s in released if s.room_id != OTHER] == [ROOM]
        assert await count_rows(bot, "mirror_submission") == 0
        assert await count_rows(bot, "mirror_round_key") == 0
        assert bot.scheduler.job_ids() == ["mirror:expire-1"]
        # A second firing (a restart) posts nothing again.
        await feature(bot)._release(1)
        assert [s for s in bot.fake.sent if "anonymous reflections from" in s.body] == batch
        # After the retention period the batch is redacted and the round forgotten.
        bot.now += timedelta(days=7, seconds=1)
        await bot.fire("mirror:expire-1")
        assert (OTHER, batch[0].event_id) in bot.fake.redacted
        assert await count_rows(bot, "mirror_round") == 0 and await count_rows(bot, "mirror_message") == 0
    finally:
        await close(bot)


async def test_threshold_not_met_releases_nothing(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await reflect(bot, ALICE, code)
        await reflect(bot, BOB, code)
        await dm(bot, CAROL, f"reflect {code}")
        await dm(bot, CAROL, "half written")
        sent = await bot.fire("mirror:close-1")
        assert not [s for s in sent if s.room_id == OTHER]
        [withheld] = [s for s in sent if s.room_id == ROOM]
        assert "fewer than 3 reflections, so none is shown" in withheld.body
        [cut] = [s for s in sent if s.room_id == DMS[CAROL]]  # her unfinished draft
        assert "closed before you submitted" in cut.body
        assert feature(bot).conversations.drafts.get(CAROL) is None
        assert await count_rows(bot, "mirror_submission") == 0
        assert await count_rows(bot, "mirror_round_key") == 0
        [status] = await bot.say(ROOM, ALICE, "!mirror status")
        assert "withheld" in status.body
        bot.now += timedelta(days=8)
        await bot.fire("mirror:expire-1")
        assert await count_rows(bot, "mirror_round") == 0
    finally:
        await close(bot)


async def test_a_refused_release_is_reported_and_destroyed(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        await bot.fire("mirror:close-1")
        bot.fake.refuse.add(OTHER)  # the bot was removed from the room reflected upon
        released = await bot.fire("mirror:release-1")
        assert [s.room_id for s in released] == [ROOM]
        assert "could not post all the reflections to Kitchen crew" in released[0].body
        assert await count_rows(bot, "mirror_submission") == 0
        assert await count_rows(bot, "mirror_round_key") == 0
    finally:
        await close(bot)


async def test_release_order_does_not_follow_submission_order(tmp_path: Path) -> None:
    bodies = []
    for n, order in enumerate([(ALICE, BOB, CAROL), (CAROL, BOB, ALICE)]):
        bot = await mirror_bot(tmp_path / str(n))
        try:
            feature(bot)._rng = random.Random(42)  # type: ignore[assignment]
            code = await open_round(bot)
            for user in order:
                await reflect(bot, user, code)
            await bot.fire("mirror:close-1")
            released = await bot.fire("mirror:release-1")
            text = next(s.body for s in released if s.room_id == OTHER)
            bodies.append(text.replace(code, "CODE"))
        finally:
            await close(bot)
    assert bodies[0] == bodies[1]


async def test_start_catches_up_and_rebuilds_jobs(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        mirror = feature(bot)
        first = await open_round(bot, "closes 1d")
        second = await open_round(bot, "closes 3d")
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, second)
        for job in bot.scheduler.job_ids():
            bot.scheduler.cancel(job)
        bot.now += timedelta(days=3, hours=1)  # the bot was down past both closes
        before = len(bot.fake.sent)
        await mirror.start()
        await bot.flush()
        notes = [s.body for s in bot.fake.sent[before:]]
        assert any(first in n and "fewer than 3" in n for n in notes)
        assert any(second in n and "closed with enough" in n for n in notes)
        assert sorted(bot.scheduler.job_ids()) == ["mirror:expire-1", "mirror:release-2"]
        # Down for longer than the retention past the close: destroyed unread, and said so.
        for job in bot.scheduler.job_ids():
            bot.scheduler.cancel(job)
        bot.now += timedelta(days=8)
        before = len(bot.fake.sent)
        await mirror.start()
        await bot.flush()
        assert any(second in s.body and "destroyed unread" in s.body for s in bot.fake.sent[before:])
        assert await count_rows(bot, "mirror_round") == 0
        assert bot.scheduler.job_ids() == []
    finally:
        await close(bot)


async def test_idle_drafts_are_forgotten_by_the_sweep(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await dm(bot, ALICE, f"reflect {code}")
        await dm(bot, ALICE, "an answer")
        bot.now += timedelta(hours=3)
        await feature(bot).forget_expired(bot.now)
        assert feature(bot).conversations.drafts.get(ALICE) is None
        assert await dm(bot, ALICE, "another answer") == []  # no draft: not ours any more
    finally:
        await close(bot)


async def test_round_keys_are_wrapped_under_the_pickle_key(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        bot.pickle_key = "operator-secret"  # type: ignore[attr-defined]
        feature(bot)._rounds = None
        code = await open_round(bot)
        row = await bot.db.fetchone("SELECT wrapped FROM mirror_round_key")
        assert row is not None and row["wrapped"] == 1
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        await bot.fire("mirror:close-1")
        released = await bot.fire("mirror:release-1")
        assert any(ANSWERS[ALICE][0] in s.body for s in released if s.room_id == OTHER)
    finally:
        await close(bot)


async def test_nothing_links_an_author_to_a_text_on_disk_or_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything the suite logs, at every level; third-party libraries at the default INFO
    # (aiosqlite's DEBUG lines quote SQL parameters: see bots.logs).
    caplog.set_level(logging.INFO)
    for ours in ("bots", "storage", "protocols"):
        caplog.set_level(logging.DEBUG, logger=ours)
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for body in (f"reflect {code}", *ANSWERS[ALICE]):
            await dm(bot, ALICE, body)
        # The draft is shown to its author, and is on no disk: not in the outbox, nor the WAL.
        data = on_disk(tmp_path)
        assert ANSWERS[ALICE][0].encode() not in data
        await dm(bot, ALICE, "submit")
        for user in (BOB, CAROL):
            await reflect(bot, user, code)
        await bot.fire("mirror:close-1")
        await bot.fire("mirror:release-1")
        bot.now += timedelta(days=7, seconds=1)
        await bot.fire("mirror:expire-1")
        data = on_disk(tmp_path)
        for user, answers in ANSWERS.items():
            for text in answers:
                assert text.encode() not in data, "a reflection outlived its retention on disk"
                assert text not in caplog.text
            assert user not in caplog.text and DMS[user] not in caplog.text
        assert "blind-mirror round 1 released" in caplog.text  # the logs were captured
    finally:
        await close(bot)


# -- hardening (issue 10) --------------------------------------------------------------------


async def outbox_rows(bot: FakeBot, room: str) -> int:
    row = await bot.db.fetchone("SELECT COUNT(*) FROM outbox WHERE room_id = ?", (room,))
    return int(row[0]) if row else 0


async def test_the_conversation_leaves_no_outbox_row_in_the_dm(tmp_path: Path) -> None:
    # An outbox row per reply, with its time, next to a copy of the database would say when
    # each person submitted: the order of the authors.
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        replies = await reflect(bot, ALICE, code)
        assert "Thank you" in replies[-1].body and replies[-1].reply_to
        refusals = [*await dm(bot, BOB, "reflect zzzzzz"), *await dm(bot, BOB, "submit"),
                    *await dm(bot, BOB, f"reflect {code}", encrypted=False)]
        assert len(refusals) == 3 and "No round has the code" in refusals[0].body
        for user in (ALICE, BOB):
            assert await outbox_rows(bot, DMS[user]) == 0
    finally:
        await close(bot)


async def test_no_round_opens_without_a_real_pickle_key(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        for secret in ("affinity-default-pickle-key", None, ""):
            bot.pickle_key = secret  # type: ignore[attr-defined,assignment]
            feature(bot)._rounds = None
            sent = await bot.say(ROOM, MOD, f"!mirror open {OTHER}")
            assert [s.room_id for s in sent] == [ROOM]
            assert "Blind mirrors are off: the operator has not configured a pickle key" in sent[0].body
        assert await count_rows(bot, "mirror_request") == 0 and await count_rows(bot, "mirror_round") == 0
    finally:
        await close(bot)


async def test_only_members_from_the_open_who_stay_count(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        bot.fake.members[ROOM].append(DAVE)  # a (sock) account that joins once the round is open
        [late] = await dm(bot, DAVE, f"reflect {code}")
        assert f"Only members who were in the room when round {code} opened" in late.body
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        bot.fake.members[ROOM].remove(CAROL)  # leaves before the close: her reflection is dropped
        sent = await bot.fire("mirror:close-1")
        [withheld] = [s for s in sent if s.room_id == ROOM]
        assert "fewer than 3 reflections" in withheld.body
        assert "3 members could take part" in withheld.body  # MOD, Alice, Bob: not Dave, not Carol
        assert not [s for s in sent if s.room_id == OTHER]
    finally:
        await close(bot)


async def test_the_release_says_how_many_could_take_part(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        [closed] = await bot.fire("mirror:close-1")
        assert "4 members could take part" in closed.body
        released = await bot.fire("mirror:release-1")
        [batch] = [s for s in released if s.room_id == OTHER]
        assert "3 anonymous reflections from Marshals" in batch.body
        assert "4 members could take part" in batch.body
    finally:
        await close(bot)


async def test_a_room_that_removed_the_bot_loses_its_rounds_and_requests(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await reflect(bot, ALICE, code)
        await dm(bot, BOB, f"reflect {code}")  # an unfinished draft
        await ask(bot)
        assert await count_rows(bot, "mirror_request") == 1
        before = len(bot.fake.sent)
        bot.fake.members.pop(OTHER)
        await bot._on_removed(RoomID(OTHER), None)
        await bot.flush()
        told = [s for s in bot.fake.sent[before:] if s.room_id == ROOM]
        assert any(f"Blind mirror {code} was cancelled" in s.body for s in told)
        assert not any("Kitchen crew" in s.body for s in told)
        assert any("closed before you submitted" in s.body for s in bot.fake.sent[before:] if s.room_id == DMS[BOB])
        for table in ("mirror_round", "mirror_round_key", "mirror_box", "mirror_request"):
            assert await count_rows(bot, table) == 0, table
        assert bot.scheduler.job_ids() == []
        assert feature(bot).conversations.drafts.get(BOB) is None
        [gone] = await dm(bot, CAROL, f"reflect {code}")
        assert "No round has the code" in gone.body
    finally:
        await close(bot)


async def test_two_bots_on_one_database_never_act_on_each_others_rounds(tmp_path: Path) -> None:
    ours = await mirror_bot(tmp_path)
    theirs = await mirror_bot(tmp_path / "other")
    try:
        # The second bot's feature and outbox share the first one's database, under its own name.
        theirs.outbox.db = ours.db
        theirs.name = "@second-bot:test.example"
        theirs.outbox.bot = theirs.name
        host = feature(theirs).host
        assert isinstance(host, RuntimeHost)
        host.user_id, host.db, host.settings = UserID(theirs.name), ours.db, RoomSettings(ours.db)
        for room in (ROOM, OTHER, *DMS.values()):
            await theirs._set_joined_ts(room, 0, overwrite=True)
        feature(theirs)._rounds = None
        code = await open_round(ours)
        for user in (ALICE, BOB, CAROL):
            await reflect(ours, user, code)
        await feature(theirs).start()
        assert theirs.scheduler.job_ids() == []  # not its round: no close job to rebuild
        [unknown] = await dm(theirs, ALICE, f"reflect {code}")
        assert "No round has the code" in unknown.body
        await feature(theirs)._close(1)
        await feature(theirs)._release(1)
        theirs.now += timedelta(days=60)
        await feature(theirs).forget_expired(theirs.now)
        assert not [s for s in theirs.fake.sent if "anonymous reflections from" in s.body]
        assert await feature(ours).rounds.count(1) == 3
        [status] = await theirs.say(ROOM, MOD, "!mirror status")
        assert status.body.startswith("No blind-mirror rounds")
    finally:
        theirs.scheduler.shutdown()
        await theirs.outbox.stop()
        await theirs.db.close()
        await close(ours)


async def test_the_announcement_points_out_members_who_joined_just_before(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        now_ms = int(bot.now.timestamp() * 1000)
        hour, day = 3_600_000, 86_400_000

        async def members_api(method: str, path: str, body: Any = None, query: Any = None) -> dict[str, Any]:
            assert method == "GET" and path.endswith("/members") and query == {"membership": "join"}
            member = {"type": "m.room.member", "content": {"membership": "join"}}
            return {"chunk": [
                {**member, "state_key": MOD, "origin_server_ts": now_ms - 30 * day},
                {**member, "state_key": ALICE, "origin_server_ts": now_ms - 2 * day},
                {**member, "state_key": BOB, "origin_server_ts": now_ms - hour},  # fresh
                {**member, "state_key": CAROL, "origin_server_ts": now_ms - 2 * hour},  # fresh
                # A renamed member is not a new one.
                {**member, "state_key": DAVE, "origin_server_ts": now_ms - hour,
                 "unsigned": {"prev_content": {"membership": "join"}}},
                {**member, "state_key": "@not-a-member-now:test.example", "origin_server_ts": now_ms},
                "not an event",
            ]}

        bot.fake.api = members_api  # type: ignore[attr-defined]
        bot.fake.members[ROOM].append(DAVE)
        request = await ask(bot)
        sent = await bot.say(OTHER, KEEPER, f"!mirror accept {request}")
        [announced] = [s for s in sent if s.room_id == ROOM]
        assert "Note: 2 of them joined in the last 1d" in announced.body
    finally:
        await close(bot)


async def test_a_failure_in_the_conversation_is_answered_without_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)

        async def broken(*args: Any) -> bool:
            raise RuntimeError("SECRET-ANSWER in an exception message")

        monkeypatch.setattr(feature(bot).rounds, "is_eligible", broken)
        [sorry] = await dm(bot, ALICE, f"reflect {code}")
        assert sorry.body.startswith("Sorry, something went wrong")
        assert await outbox_rows(bot, DMS[ALICE]) == 0
    finally:
        await close(bot)
