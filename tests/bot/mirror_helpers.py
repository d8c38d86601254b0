"""Tier 2 helpers for the blind-mirror tests (test_mirror*.py): the people, rooms and DMs, a bot
running the mirror on a fake homeserver, and the steps of a round.

Rounds are asked for in ROOM (the reflecting group) about OTHER (the room reflected upon), by
MOD, a moderator of ROOM who is also in OTHER, and open once KEEPER, a moderator of OTHER,
accepts there; each person writes in their own DM with the bot. Messages in an encrypted DM reach the runtime as nio
hands them over once decrypted (an object with ``.source`` and ``.decrypted``).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import yaml

from bots.mirror import MirrorFeature
from bots.runtime.contract import factory
from bots.runtime.ids import RoomID
from tests.bot.fakes import ROOM, FakeBot, Sent, add_room, fake_bot

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


async def dm(
    bot: FakeBot, user: str, body: str, *, encrypted: bool = True, room: str | None = None
) -> list[Sent]:
    """``user`` writes ``body`` in their DM with the bot; returns what the bot sent."""
    before = len(bot.fake.sent)
    source = {
        "type": "m.room.message",
        "event_id": f"$dm{next(_ids)}",
        "sender": user,
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


async def mirror_bot(
    tmp_path: Path, members: tuple[str, ...] = (ALICE, BOB, CAROL), extra: str = ""
) -> FakeBot:
    section = ((yaml.safe_load(extra) or {}).get("features") or {}).get("mirror") or {}
    bot = await fake_bot(
        tmp_path,
        [factory(MirrorFeature, section)],
        members=[MOD, *members],
        moderators=[MOD],
        config_extra=extra,
    )
    bot.pickle_key = "test-operator-secret"  # type: ignore[attr-defined]
    feature(bot)._rounds = None  # built at start, before the key was set
    await add_room(bot, OTHER, [DAVE, MOD, KEEPER], moderators=[KEEPER])
    bot.fake.names.update({ROOM: "Marshals", OTHER: "Kitchen crew"})
    for user, room in DMS.items():
        await add_room(bot, room, [user], direct=True)
    return bot


def feature(bot: FakeBot) -> MirrorFeature:
    return next(f for f in bot.features if isinstance(f, MirrorFeature))


async def ask(
    bot: FakeBot, options: str = "closes 2d", room: str = ROOM, target: str = OTHER, opener: str = MOD
) -> str:
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


async def outbox_rows(bot: FakeBot, room: str) -> int:
    row = await bot.db.fetchone("SELECT COUNT(*) FROM outbox WHERE room_id = ?", (room,))
    return int(row[0]) if row else 0
