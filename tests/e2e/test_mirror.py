"""Blind mirrors against a real Synapse, with encrypted DMs, as members meet them.

A round opens when a moderator of the room reflected upon accepts the request the bot posts
there (the opener, a moderator of the group, is a member of that room too). A round cannot
close sooner than 10 minutes after it opens (a rule of the ritual, so people have
time to write); the tests open it with ``closes 1h`` and then fire the close job on the bot's
scheduler, as the timer would. The release delay is configured down to 1-2 s so the release
runs on its own timer. The retention period is passed by moving the bot's clock forward.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nio.crypto.sessions import InboundGroupSession

from bots.devclient import UserClient
from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import body, set_power, texts_of

pytestmark = pytest.mark.e2e

FAST_RELEASE = {"features": {"mirror": {"release_delay_min": "1s", "release_delay_max": "2s"}}}


def bot_notices(user: UserClient, room: str, bot: BotHarness) -> list[dict[str, Any]]:
    return user.notices(room, bot.user_id)


async def converse(user: UserClient, room: str, lines: list[str]) -> list[dict[str, Any]]:
    """Send each line and wait for the bot's reply to it; the replies."""
    replies = []
    for line in lines:
        event_id = await user.send_text(room, line)
        replies.append(await user.wait_reply(room, event_id, timeout=30))
    return replies


def data_bytes(bot: BotHarness) -> bytes:
    """Every file the bot keeps: database and WAL, nio's encryption store, cross-signing keys."""
    files = [p for p in sorted((bot.directory / "data").rglob("*")) if p.is_file()]
    names = {p.name for p in files}
    assert "affinity.db" in names and any(p.parent.name == "nio" and p.suffix == ".db" for p in files)
    return b"".join(p.read_bytes() for p in files)


class Scene:
    """A group (the reflecting room) with members who each have an encrypted DM with the bot,
    and another group's room (the one reflected upon) with a watcher in it."""

    def __init__(
        self,
        bot: BotHarness,
        moderator: UserClient,
        members: list[UserClient],
        watcher: UserClient,
        group: str,
        kitchen: str,
        dms: dict[str, str],
    ) -> None:
        self.bot, self.moderator, self.members, self.watcher = bot, moderator, members, watcher
        self.group, self.kitchen, self.dms = group, kitchen, dms

    async def ask(self) -> tuple[str, dict[str, Any]]:
        """``!mirror open`` in the group: the request's code (read in the kitchen, where it is
        posted) and the opener's reply."""
        opener = self.members[0]  # a moderator by power level (see scene()), in the kitchen too
        event_id = await opener.send_text(self.group, f"!mirror open {self.kitchen} closes 1h")
        reply = await opener.wait_reply(self.group, event_id)
        request = await self.watcher.wait_for(
            lambda room, e: (
                room == self.kitchen and e.get("sender") == self.bot.user_id and "!mirror accept" in body(e)
            ),
            timeout=30,
        )
        match = re.search(r"!mirror accept ([a-z0-9]{6})", body(request))
        assert match, body(request)
        return match.group(1), reply

    async def open_round(self) -> str:
        """Ask, and have the kitchen's moderator (its creator) accept: the round's code."""
        request, _ = await self.ask()
        event_id = await self.watcher.send_text(self.kitchen, f"!mirror accept {request}")
        accepted = await self.watcher.wait_reply(self.kitchen, event_id)
        assert "about this room is open, as accepted here" in body(accepted), body(accepted)
        announced = await self.members[0].wait_for(
            lambda room, e: (
                room == self.group
                and e.get("sender") == self.bot.user_id
                and "is open: an anonymous reflection" in body(e)
            ),
            timeout=30,
        )
        match = re.search(r"reflect ([a-z0-9]{6})", body(announced))
        assert match, body(announced)
        assert "Kitchen crew" in body(announced)
        return match.group(1)

    async def reflect(self, user: UserClient, code: str) -> list[dict[str, Any]]:
        return await converse(user, self.dms[user.user_id], [f"reflect {code}", *texts_of(user), "submit"])

    def close_job(self) -> str:
        jobs = [j for j in self.bot.runtime.scheduler.job_ids() if j.startswith("mirror:close-")]
        assert len(jobs) == 1, jobs
        return jobs[0]

    async def close(self) -> None:
        await self.bot.runtime.scheduler.fire(self.close_job())

    async def close_everything(self) -> None:
        for user in [self.moderator, *self.members, self.watcher]:
            await user.close()
        await self.bot.stop()


async def scene(synapse: Homeserver, tmp_path: Path, members: int) -> Scene:
    bot = BotHarness(synapse, tmp_path / "bot", features=["mirror"], extra=FAST_RELEASE)
    await bot.start()
    moderator, watcher, *people = await asyncio.gather(
        *(person(synapse, tmp_path) for _ in range(members + 2))
    )
    group = await moderator.create_room(
        "Marshals", [bot.user_id, *(p.user_id for p in people)], encrypted=True
    )
    kitchen = await watcher.create_room("Kitchen crew", [bot.user_id, people[0].user_id], encrypted=True)
    await asyncio.gather(*(p.join(group) for p in people), people[0].join(kitchen))
    # The first member is made a moderator (50). Not the creator: in room version 12 a creator's
    # power is implicit, not listed in m.room.power_levels.
    await set_power(moderator, group, people[0].user_id, 50)

    async def direct(user: UserClient) -> tuple[str, str]:
        room = await user.create_room("", [bot.user_id], encrypted=True, is_direct=True)
        await user.wait_joined(room, bot.user_id)
        return user.user_id, room

    dms = dict(await asyncio.gather(*(direct(p) for p in people)))
    await moderator.wait_joined(group, bot.user_id)
    await watcher.wait_joined(kitchen, bot.user_id)
    return Scene(bot, moderator, people, watcher, group, kitchen, dms)


def _quiet_like_production(caplog: pytest.LogCaptureFixture) -> None:
    # Everything the suite logs, at every level; libraries as bots.logs.setup_logging sets them.
    caplog.set_level(logging.INFO)
    for ours in ("bots", "storage", "protocols"):
        caplog.set_level(logging.DEBUG, logger=ours)
    for noisy in ("nio", "peewee", "apscheduler", "aiohttp.access"):
        caplog.set_level(logging.ERROR, logger=noisy)


async def test_three_reflections_released_in_one_anonymous_batch_then_redacted(
    synapse: Homeserver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _quiet_like_production(caplog)
    s = await scene(synapse, tmp_path, members=3)
    try:
        code = await s.open_round()
        replies = await asyncio.gather(*(s.reflect(user, code) for user in s.members))
        for user, events in zip(s.members, replies, strict=True):
            assert body(events[0]).startswith(f"Blind mirror {code}: three short prompts")
            assert texts_of(user)[0] in body(events[3])  # the draft, shown before submit
            assert body(events[4]).startswith("Thank you")

            # Once submitted, the bot's message that quoted the draft is redacted in the DM.
            def draft_redacted(
                room: str, e: dict[str, Any], u: UserClient = user, d: dict[str, Any] = events[3]
            ) -> bool:
                return (
                    room == s.dms[u.user_id]
                    and e.get("type") == "m.room.redaction"
                    and (e.get("redacts") or e.get("content", {}).get("redacts")) == d["event_id"]
                )

            await user.wait_for(
                draft_redacted,
                timeout=30,
            )
        # While the round is open the texts exist only sealed.
        stored = data_bytes(s.bot)
        for user in s.members:
            for text in texts_of(user):
                assert text.encode() not in stored

        await s.close()
        released = await s.watcher.wait_for(
            lambda room, e: (
                room == s.kitchen
                and e.get("sender") == s.bot.user_id
                and "anonymous reflections from" in e.get("content", {}).get("body", "")
            ),
            timeout=30,
        )
        await s.moderator.wait_for(
            lambda room, e: (
                room == s.group and "were posted to Kitchen crew" in e.get("content", {}).get("body", "")
            ),
            timeout=30,
        )
        # One message: the whole batch (besides the request and the acceptance before it).
        [batch] = [
            e for e in bot_notices(s.watcher, s.kitchen, s.bot) if "anonymous reflections from" in body(e)
        ]
        text_of_batch = body(batch)
        assert batch["event_id"] == released["event_id"]
        assert f"Blind mirror {code}: 3 anonymous reflections from Marshals" in text_of_batch
        for user in s.members:
            for text in texts_of(user):
                assert text_of_batch.count(text) == 1
            assert user.user_id not in text_of_batch
            assert user.user_id not in batch["content"]["formatted_body"]
        # Released: the bot's copies are destroyed, and nothing links an author to a text.
        stored = data_bytes(s.bot)
        for user in s.members:
            for text in texts_of(user):
                assert text.encode() not in stored
                assert text not in caplog.text
            assert user.user_id not in caplog.text and s.dms[user.user_id] not in caplog.text

        # The retention period passes: the batch is redacted and the round's rows are gone.
        runtime = s.bot.runtime
        later = runtime.clock() + timedelta(days=7, minutes=1)
        runtime.clock = lambda: later
        [expire] = [j for j in runtime.scheduler.job_ids() if j.startswith("mirror:expire-")]
        await runtime.scheduler.fire(expire)
        await s.watcher.wait_for(
            lambda room, e: (
                room == s.kitchen
                and e.get("type") == "m.room.redaction"
                and (e.get("redacts") or e.get("content", {}).get("redacts")) == batch["event_id"]
            ),
            timeout=30,
        )
        for table in (
            "mirror_round",
            "mirror_round_key",
            "mirror_box",
            "mirror_submission",
            "mirror_message",
        ):
            row = await runtime.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            assert row[0] == 0, table
        stored = data_bytes(s.bot)
        for user in s.members:
            for text in texts_of(user):
                assert text.encode() not in stored
    finally:
        await s.close_everything()


async def test_two_reflections_release_nothing(synapse: Homeserver, tmp_path: Path) -> None:
    s = await scene(synapse, tmp_path, members=2)
    try:
        code = await s.open_round()
        await asyncio.gather(*(s.reflect(user, code) for user in s.members))
        await s.close()
        withheld = await s.moderator.wait_for(
            lambda room, e: (
                room == s.group and "closed with fewer than 3" in e.get("content", {}).get("body", "")
            ),
            timeout=30,
        )
        assert "none is shown" in withheld["content"]["body"]
        # A reflection after the close is refused, and the room reflected upon heard nothing.
        [late] = await converse(s.members[0], s.dms[s.members[0].user_id], [f"reflect {code}"])
        assert "has closed" in body(late)
        assert not [
            e for e in bot_notices(s.watcher, s.kitchen, s.bot) if "anonymous reflections from" in body(e)
        ]
        row = await s.bot.runtime.db.fetchone("SELECT COUNT(*) FROM mirror_box")
        assert row[0] == 0
    finally:
        await s.close_everything()


async def test_a_round_needs_consent_and_names_no_room_to_those_outside_it(
    synapse: Homeserver, tmp_path: Path
) -> None:
    s = await scene(synapse, tmp_path, members=3)
    try:
        opener = s.members[0]
        # A room the bot is in and the opener is not: refused in the same words as a room
        # that does not exist, and nothing is posted there.
        cell = await s.watcher.create_room("Secret cell", [s.bot.user_id], encrypted=True)
        await s.watcher.wait_joined(cell, s.bot.user_id)
        replies = []
        for ref in (cell, f"!doesnotexist:{opener.user_id.split(':', 1)[1]}"):
            event_id = await opener.send_text(s.group, f"!mirror open {ref} closes 1h")
            reply = body(await opener.wait_reply(s.group, event_id))
            assert "Secret cell" not in reply
            replies.append(reply.replace(ref, "REF"))
        assert replies[0] == replies[1] and "both you and I have joined" in replies[0]
        assert bot_notices(s.watcher, cell, s.bot) == []
        # Asked about the kitchen: the group hears no name, and nothing opens before consent.
        request, asked_reply = await s.ask()
        assert "asked the moderators of the room you named" in body(asked_reply)
        assert "Kitchen crew" not in body(asked_reply)
        assert not [j for j in s.bot.runtime.scheduler.job_ids() if j.startswith("mirror:close-")]
        [asked] = [e for e in bot_notices(s.watcher, s.kitchen, s.bot) if request in body(e)]
        assert "A moderator of Marshals asks to hold a blind mirror about this room" in body(asked)
        # A member of the kitchen who is not its moderator cannot accept.
        event_id = await opener.send_text(s.kitchen, f"!mirror accept {request}")
        assert "power level" in body(await opener.wait_reply(s.kitchen, event_id))
        event_id = await s.watcher.send_text(s.kitchen, f"!mirror accept {request}")
        opened = body(await s.watcher.wait_reply(s.kitchen, event_id))
        assert "about this room is open, as accepted here: members of Marshals" in opened
        announced = await opener.wait_for(
            lambda room, e: room == s.group and "is open: an anonymous reflection on Kitchen crew" in body(e),
            timeout=30,
        )
        assert "members of this room can take part" in body(announced)
        # Everyone joined the group minutes ago (read from the membership events): said so.
        assert "4 of them joined in the last 1d" in body(announced)
        assert len([j for j in s.bot.runtime.scheduler.job_ids() if j.startswith("mirror:close-")]) == 1
    finally:
        await s.close_everything()


def _stored_sessions(bot: BotHarness, room: str) -> list[InboundGroupSession]:
    """The inbound Megolm sessions of ``room`` in the bot's nio store, read from the file and
    opened with the pickle key: what someone with the bot's disk and its key holds."""
    runtime = bot.runtime
    with sqlite3.connect(f"file:{runtime.client.store.database_path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT session, fp_key, sender_key FROM megolminboundsessions WHERE room_id = ?",
            (room,),
        ).fetchall()
    conn.close()
    return [
        InboundGroupSession.from_pickle(bytes(p), fp, sender, room, passphrase=runtime.pickle_key)
        for p, fp, sender in rows
    ]


async def _readable(bot: BotHarness, user: UserClient, room: str) -> int:
    """How many of the DM's encrypted events, as the homeserver stores them, open with the
    sessions on the bot's disk."""
    chunk = (await user.api("GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"))["chunk"]
    sessions = {s.id: s for s in _stored_sessions(bot, room)}
    readable = 0
    for event in chunk:
        content = event.get("content", {})
        session = sessions.get(content.get("session_id", ""))
        if event.get("type") != "m.room.encrypted" or session is None:
            continue
        try:
            session.decrypt(content["ciphertext"])
        except Exception:
            continue
        readable += 1
    return readable


async def test_a_finished_reflection_cannot_be_read_with_the_bots_disk_and_the_homeserver(
    synapse: Homeserver, tmp_path: Path
) -> None:
    s = await scene(synapse, tmp_path, members=3)
    try:
        code = await s.open_round()
        author = s.members[1]
        dm = s.dms[author.user_id]
        replies = await converse(author, dm, [f"reflect {code}", *texts_of(author)])
        assert texts_of(author)[0] in body(replies[3])
        # While writing, the disk and the homeserver's ciphertext open the conversation: the
        # person's answers and the bot's replies (so this test can fail).
        assert await _readable(s.bot, author, dm) >= 8
        [thanks] = await converse(author, dm, ["submit"])
        assert body(thanks).startswith("Thank you")
        deadline = time.monotonic() + 30
        while await _readable(s.bot, author, dm) > 0:
            assert time.monotonic() < deadline, "the conversation stayed readable from the disk"
            await asyncio.sleep(0.2)
        assert s.bot.runtime.client.olm.outbound_group_sessions.get(dm) is None
        # The bot still reads what the person writes next, and answers under a new session.
        [again] = await converse(author, dm, ["submit"])
        assert "no reflection in progress" in body(again)
    finally:
        await s.close_everything()
