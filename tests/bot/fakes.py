"""Tier 2: the runtime with a fake Matrix adapter that records what would be sent.

    bot = await fake_bot(tmp_path, features=[LotteryFeature])
    replies = await bot.say(ROOM, ALICE, "!draw")

No homeserver: sends land in ``bot.fake.sent`` at once, members and power levels are set by
the test, and the clock is the test's.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import nio

from bots import core
from bots.config import parse_config
from bots.runtime.adapter import MatrixAdapter
from bots.runtime.bot import BotRuntime, FeatureFactory
from bots.runtime.contract import ContractFeature, factory
from bots.runtime.delivery import KindedSender
from bots.runtime.errors import Forbidden, MatrixError, NotFound
from bots.runtime.host import F
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.outbox import Outbox
from bots.runtime.registry import feature_section
from bots.runtime.runtime_host import RuntimeHost
from storage.db import Database

BOT = UserID("@bot:test.example")
ROOM = RoomID("!room:test.example")
# Events as Synapse sends them in /sync, recorded by tests/e2e/record_events.py.
EVENTS = Path(__file__).resolve().parent / "events"


def recorded(name: str, **fields: Any) -> dict[str, Any]:
    """The recorded event ``tests/bot/events/<name>.json`` (a fresh copy), with top-level
    fields replaced: ``recorded("text", sender=ALICE, content={...})``."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    event.update(copy.deepcopy(fields))
    return event


def from_sync(event: dict[str, Any]) -> nio.Event:
    """The event as nio hands it to the runtime from a /sync timeline: parsed by
    ``nio.Event.parse_event`` (a ``RoomMessageText``, ``ReactionEvent``, ``MegolmEvent``, ...,
    or nio's ``BadEvent`` for a shape it refuses), its ``source`` the JSON as received."""
    parsed = nio.Event.parse_event(copy.deepcopy(event))
    assert parsed is not None, "nio returns None only for events it drops; none is recorded"
    return parsed


@dataclass
class Sent:
    room_id: str
    event_type: str
    content: dict[str, Any]
    txn_id: str
    event_id: str

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def html(self) -> str:
        return str(self.content.get("formatted_body", ""))

    @property
    def reply_to(self) -> str | None:
        return ((self.content.get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id")


@dataclass
class FakeMatrix:
    user_id: UserID = BOT
    members: dict[str, list[str]] = field(default_factory=dict)
    powers: dict[str, dict[str, int]] = field(default_factory=dict)
    room_creators: dict[str, set[str]] = field(default_factory=dict)  # room version 12 creators
    join_refusals: dict[str, int] = field(default_factory=dict)  # joins refused before one works
    join_attempts: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    join_reasons: dict[str, str] = field(default_factory=dict)  # joins with a reason (rejoins)
    encrypted: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # m.room.name by room id
    refuse: set[str] = field(default_factory=set)  # rooms that answer M_FORBIDDEN
    sent: list[Sent] = field(default_factory=list)
    redacted: list[tuple[str, str]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    invited: list[tuple[str, str]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    uploads: list[tuple[bytes, str, str]] = field(default_factory=list)
    history: dict[str, list[Any]] = field(default_factory=dict)  # by room, oldest first
    _seen_txn: dict[str, str] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def send_event(
        self, room_id: RoomID, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventID:
        if room_id in self.refuse:
            raise Forbidden("not in room", "M_FORBIDDEN", 403)
        if txn_id in self._seen_txn:  # the homeserver's transaction dedup
            return EventID(self._seen_txn[txn_id])
        event_id = f"$sent{next(self._ids)}"
        self._seen_txn[txn_id] = event_id
        self.sent.append(Sent(room_id, event_type, content, txn_id, event_id))
        return EventID(event_id)

    async def joined_members(self, room_id: RoomID) -> list[UserID]:
        if room_id not in self.members:
            raise Forbidden("not in room", "M_FORBIDDEN", 403)
        return [UserID(u) for u in self.members[room_id]]

    async def power_levels(self, room_id: RoomID) -> dict[str, Any]:
        return {"users": dict(self.powers.get(room_id, {})), "users_default": 0}

    async def is_encrypted(self, room_id: RoomID) -> bool:
        return room_id in self.encrypted

    async def join(self, room_id: str, reason: str | None = None) -> RoomID:
        self.join_attempts.append(room_id)
        if reason is not None:
            self.join_reasons[room_id] = reason
        if self.join_refusals.get(room_id, 0) > 0:
            self.join_refusals[room_id] -= 1
            raise Forbidden("not invited (yet)", "M_FORBIDDEN", 403)
        self.joined.append(room_id)
        return RoomID(room_id)

    async def leave(self, room_id: RoomID, reason: str | None = None) -> None:
        self.left.append(room_id)
        self.members.pop(room_id, None)

    async def invite(self, room_id: RoomID, user_id: UserID) -> None:
        self.invited.append((room_id, user_id))

    async def create_room(
        self,
        name: str,
        invite: list[UserID],
        *,
        encrypted: bool = True,
        is_direct: bool = False,
        topic: str | None = None,
    ) -> RoomID:
        room_id = RoomID(f"!created{next(self._ids)}:test.example")
        self.created.append(
            {
                "room_id": room_id,
                "name": name,
                "invite": list(invite),
                "encrypted": encrypted,
                "is_direct": is_direct,
                "topic": topic,
            }
        )
        self.members[room_id] = [str(self.user_id)]
        return room_id

    async def redact(
        self, room_id: RoomID, event_id: EventID, txn_id: str, reason: str | None = None
    ) -> None:
        self.redacted.append((room_id, event_id))

    async def resolve_room(self, ref: str) -> RoomID:
        if ref.startswith("!"):
            return RoomID(ref)
        if ref in self.aliases:
            return RoomID(self.aliases[ref])
        raise NotFound(f"no room {ref}")

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        self.uploads.append((data, content_type, filename))
        return f"mxc://test.example/{len(self.uploads)}"

    async def room_name(self, room_id: RoomID) -> str:
        return self.names.get(room_id, str(room_id))

    async def state_event(self, room_id: RoomID, event_type: str, state_key: str = "") -> dict[str, Any]:
        raise NotFound("no state")

    async def creators(self, room_id: RoomID) -> frozenset[UserID]:
        return frozenset(UserID(u) for u in self.room_creators.get(room_id, ()))

    async def messages(
        self, room_id: RoomID, start: str, end: str | None = None, limit: int = 100
    ) -> tuple[list[Any], str | None]:
        """A room's history, newest first: ``history`` holds nio events for a gap to be filled."""
        return list(reversed(self.history.get(room_id, [])))[:limit], None

    async def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The raw calls this fake homeserver can answer: an event's relations (none, unless a
        test puts them in ``history``). Any other raw call is refused as an outage would be, so a
        feature that needs one must say so in its own tier-2 test."""
        if method == "GET" and "/relations/" in path:
            return {"chunk": []}
        raise MatrixError(f"the fake homeserver makes no raw call {method} {path}", None, None)


def running(bot: BotRuntime, cls: type[F]) -> F:
    """The bot's running feature of class ``cls``, found the way a feature finds another
    (``host.peer``): by its class, so what the test holds is typed; never by position or name."""
    found = RuntimeHost(bot, "tests").peer(cls)
    assert found is not None, f"the bot runs no {cls.__name__}"
    return found


def _fake_is_an_adapter(fake: FakeMatrix) -> MatrixAdapter:
    return fake  # mypy: the fake implements the real adapter's whole interface


class FakeBot(BotRuntime):
    """A BotRuntime wired to a FakeMatrix, with a settable clock."""

    fake: FakeMatrix
    now: datetime
    _ids: Any

    async def say(self, room_id: str, sender: str, body: str, **content: Any) -> list[Sent]:
        """Deliver a message as if synced (the recorded ``text`` event with this sender, body
        and any other content fields, parsed by nio); return what the bot sent because of it."""
        event = recorded(
            "text",
            event_id=f"$in{next(self._ids)}",
            sender=sender,
            origin_server_ts=int(self.now.timestamp() * 1000),
            content={"msgtype": "m.text", "body": body, **content},
        )
        return await self.deliver(room_id, event)

    async def react(self, room_id: str, sender: str, target: str, key: str) -> list[Sent]:
        """React to ``target`` as if synced (the recorded ``reaction`` event, parsed by nio)."""
        event = recorded(
            "reaction",
            event_id=f"$re{next(self._ids)}",
            sender=sender,
            origin_server_ts=int(self.now.timestamp() * 1000),
            content={"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}},
        )
        return await self.deliver(room_id, event)

    async def deliver(self, room_id: str, event: dict[str, Any]) -> list[Sent]:
        """Deliver an event (a :func:`recorded` one) parsed by nio as the sync loop receives it;
        return what the bot sent because of it."""
        before = len(self.fake.sent)
        await self._guarded_event(RoomID(room_id), from_sync(event))
        await self.flush()
        return self.fake.sent[before:]

    async def flush(self) -> None:
        await self.outbox.drain(timeout=5)

    async def fire(self, job_id: str) -> list[Sent]:
        before = len(self.fake.sent)
        await self.scheduler.fire(job_id)
        await self.flush()
        return self.fake.sent[before:]


async def fake_bot(
    tmp_path: Path,
    features: Sequence[FeatureFactory | type[ContractFeature[Any]]],
    *,
    config_extra: str = "",
    members: list[str] | None = None,
    moderators: list[str] | None = None,
    now: datetime | None = None,
) -> FakeBot:
    config = parse_config(
        f'homeserver: http://localhost:1\ndata_dir: "{tmp_path}"\n'
        f'bots:\n  - user_id: "{BOT}"\n    password: x\n    features: []\n'
        "access:\n  allowed_servers: [test.example]\n" + config_extra
    )
    db = await Database.open(tmp_path / "affinity.db")
    factories: list[FeatureFactory] = []
    for f in features:  # a feature's class gets its config section, as the app does
        if isinstance(f, type) and issubclass(f, ContractFeature):
            factories.append(factory(f, feature_section(config, f.name)))
        else:
            factories.append(cast("FeatureFactory", f))
    bot = FakeBot(config, config.bots[0], db, factories, core=[core.router])
    bot.now = now or datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    bot.clock = lambda: bot.now
    bot._ids = itertools.count(1)
    bot.fake = FakeMatrix()
    bot.matrix = bot.fake
    bot.outbox = Outbox(db, bot.name, KindedSender(bot.fake).send, clock=lambda: bot.now.timestamp())
    bot.outbox.start()
    bot.fake.members[ROOM] = [str(BOT), *(members or [])]
    bot.fake.powers[ROOM] = {m: 50 for m in (moderators or [])}
    await bot._set_joined_ts(ROOM, 0, overwrite=True)
    for feature in bot.features:  # as the sync loop starts them
        await feature.ready()
        await feature.start()
    return bot


async def add_room(
    bot: FakeBot,
    room_id: str,
    members: list[str],
    moderators: Sequence[str] = (),
    direct: bool = False,
) -> None:
    bot.fake.members[room_id] = [str(BOT), *members]
    bot.fake.powers[room_id] = {m: 50 for m in moderators}
    bot.direct_rooms[room_id] = direct
    await bot._set_joined_ts(room_id, 0, overwrite=True)


async def close(bot: FakeBot) -> None:
    bot.scheduler.shutdown()
    await bot.outbox.stop()
    await bot.db.close()
