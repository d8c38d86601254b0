"""Blind mirrors against a real Synapse, with encrypted DMs, as members meet them.

A round cannot close sooner than 10 minutes after it opens (a rule of the ritual, so people have
time to write); the tests open it with ``closes 1h`` and then fire the close job on the bot's
scheduler, as the timer would. The release delay is configured down to 1-2 s so the release
runs on its own timer. The retention period is passed by moving the bot's clock forward.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bots.devclient import UserClient
from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e

FAST_RELEASE = {"features": {"mirror": {"release_delay_min": "1s", "release_delay_max": "2s"}}}


def texts_of(user: UserClient) -> tuple[str, str, str]:
    tag = user.user_id.split(":")[0][1:]
    return (f"observed-{tag}-calm-marshals", f"grateful-{tag}-for-water", f"next-{tag}-start-earlier")


def bot_notices(user: UserClient, room: str, bot: BotHarness) -> list[dict[str, Any]]:
    return user.notices(room, bot.user_id)


async def converse(user: UserClient, room: str, lines: list[str]) -> list[dict[str, Any]]:
    """Send each line and wait for the bot's reply to it; the replies."""
    replies = []
    for line in lines:
        event_id = await user.send_text(room, line)
        replies.append(await user.wait_reply(room, event_id, timeout=30))
    return replies


def body(event: dict[str, Any]) -> str:
    return str(event.get("content", {}).get("body", ""))


def data_bytes(bot: BotHarness) -> bytes:
    """Every file the bot keeps: database and WAL, nio's encryption store, cross-signing keys."""
    files = [p for p in sorted((bot.directory / "data").rglob("*")) if p.is_file()]
    names = {p.name for p in files}
    assert "affinity.db" in names and any(p.parent.name == "nio" and p.suffix == ".db" for p in files)
    return b"".join(p.read_bytes() for p in files)


class Scene:
    """A group (the reflecting room) with members who each have an encrypted DM with the bot,
    and another group's room (the one reflected upon) with a watcher in it."""

    def __init__(self, bot: BotHarness, moderator: UserClient, members: list[UserClient],
                 watcher: UserClient, group: str, kitchen: str, dms: dict[str, str]) -> None:
        self.bot, self.moderator, self.members, self.watcher = bot, moderator, members, watcher
        self.group, self.kitchen, self.dms = group, kitchen, dms

    async def open_round(self) -> str:
        opener = self.members[0]  # a moderator by power level (see scene())
        event_id = await opener.send_text(self.group, f"!mirror open {self.kitchen} closes 1h")
        reply = await opener.wait_reply(self.group, event_id)
        match = re.search(r"reflect ([a-z0-9]{6})", reply["content"]["body"])
        assert match, reply["content"]["body"]
        assert "Kitchen crew" in reply["content"]["body"]
        return match.group(1)

    async def reflect(self, user: UserClient, code: str) -> list[dict[str, Any]]:
        return await converse(user, self.dms[user.user_id], [f"reflect {code}", *texts_of(user), "submit"])

    def close_job(self) -> str:
        jobs = [j for j in self.bot.runtime.scheduler.job_ids() if j.startswith("mirror-close-")]
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
    kitchen = await watcher.create_room("Kitchen crew", [bot.user_id], encrypted=True)
    await asyncio.gather(*(p.join(group) for p in people))
    # The first member is made a moderator (50). Not the creator: in room version 12 a creator's
    # power is implicit, not listed in m.room.power_levels.
    levels = await moderator.api("GET", f"/_matrix/client/v3/rooms/{group}/state/m.room.power_levels/")
    levels.setdefault("users", {})[people[0].user_id] = 50
    await moderator.api("PUT", f"/_matrix/client/v3/rooms/{group}/state/m.room.power_levels/", levels)

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
            await user.wait_for(
                lambda room, e, u=user, d=events[3]: room == s.dms[u.user_id]
                and e.get("type") == "m.room.redaction"
                and (e.get("redacts") or e.get("content", {}).get("redacts")) == d["event_id"],
                timeout=30,
            )
        # While the round is open the texts exist only sealed.
        stored = data_bytes(s.bot)
        for user in s.members:
            for text in texts_of(user):
                assert text.encode() not in stored

        await s.close()
        released = await s.watcher.wait_for(
            lambda room, e: room == s.kitchen and e.get("sender") == s.bot.user_id
            and "anonymous reflections" in e.get("content", {}).get("body", ""),
            timeout=30,
        )
        await s.moderator.wait_for(
            lambda room, e: room == s.group and "were posted to Kitchen crew" in e.get("content", {}).get("body", ""),
            timeout=30,
        )
        [batch] = bot_notices(s.watcher, s.kitchen, s.bot)  # one message: the whole batch
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
        [expire] = [j for j in runtime.scheduler.job_ids() if j.startswith("mirror-expire-")]
        await runtime.scheduler.fire(expire)
        await s.watcher.wait_for(
            lambda room, e: room == s.kitchen and e.get("type") == "m.room.redaction"
            and (e.get("redacts") or e.get("content", {}).get("redacts")) == batch["event_id"],
            timeout=30,
        )
        for table in ("mirror_round", "mirror_round_key", "mirror_submission", "mirror_message"):
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
            lambda room, e: room == s.group and "closed with fewer than 3" in e.get("content", {}).get("body", ""),
            timeout=30,
        )
        assert "none is shown" in withheld["content"]["body"]
        # A reflection after the close is refused, and the room reflected upon heard nothing.
        [late] = await converse(s.members[0], s.dms[s.members[0].user_id], [f"reflect {code}"])
        assert "has closed" in body(late)
        assert bot_notices(s.watcher, s.kitchen, s.bot) == []
        row = await s.bot.runtime.db.fetchone("SELECT COUNT(*) FROM mirror_submission")
        assert row[0] == 0
    finally:
        await s.close_everything()
