"""The :class:`~bots.runtime.host.Host` of a running bot, over today's ``BotRuntime``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bots.runtime.context import notice
from bots.runtime.delivery import REDACTION, UPLOAD, upload_content
from bots.runtime.errors import MatrixError, RateLimited, TransportError
from bots.runtime.fan_out import Post, RawPost, queued
from bots.runtime.host import F, Outcome, PowerTable
from bots.runtime.i18n_rooms import render
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.jobs import Schedule
from bots.runtime.message import Message
from storage.room_settings import RoomSettings

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

UNSTORED_ATTEMPTS = 5


class RuntimeHost:
    """:class:`Host` over a ``BotRuntime``: the adapter every contract feature gets today.

    It reads ``bot.outbox`` and ``bot.matrix`` when called, not when built, because the runtime
    makes them in ``start()``, after the features are constructed.
    """

    def __init__(self, bot: BotRuntime, feature: str) -> None:
        self._bot = bot
        self.feature = feature
        self.user_id = bot.user_id
        self.db = bot.db
        self.settings = RoomSettings(bot.db)
        self.schedule = Schedule(bot.scheduler, feature)
        self.retention = bot.app.retention
        self.access = bot.app.access

    def clock(self) -> datetime:
        return self._bot.clock()

    @property
    def pickle_key(self) -> str:
        """The secret from which features derive their at-rest keys (set when the bot starts)."""
        secret = getattr(self._bot, "pickle_key", None)
        if not secret:
            raise RuntimeError("the bot has not started yet: there is no pickle key to derive from")
        return str(secret)

    # -- sending, all through the outbox ------------------------------------------------------

    async def post(
        self,
        room_id: RoomID,
        message: Message,
        key: str,
        *,
        reply_to: EventID | None = None,
        thread: str | None = None,
        mentions: Sequence[str] = (),
        wait: bool = False,
        urgent: bool = False,
    ) -> EventID | None:
        people = list(dict.fromkeys([*message.mentions, *mentions]))
        plain, html = await render(self.settings, room_id, message)  # in the room's language
        content = notice(plain, html or None, reply_to, thread, people)
        return await self._queue(room_id, content, key, "m.room.message", wait, urgent=urgent)

    async def post_many(self, posts: Sequence[Post | RawPost]) -> int:
        return await self._bot.outbox.enqueue_batch(await queued(self.db, posts))

    async def edit(self, room_id: RoomID, event_id: EventID, message: Message, key: str) -> None:
        """Replace the text of a message the bot sent (``m.replace``); clients show the new one."""
        plain, html = await render(self.settings, room_id, message)
        new = notice(plain, html or None, mentions=message.mentions)
        content: dict[str, Any] = {
            "msgtype": "m.notice",
            "body": "* " + new["body"],
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            "m.mentions": {},
        }
        if "formatted_body" in new:
            content["format"] = new["format"]
            content["formatted_body"] = "* " + new["formatted_body"]
        await self._queue(room_id, content, key, "m.room.message", False, kind="edit")

    async def redact(self, room_id: RoomID, event_id: EventID, key: str, reason: str | None = None) -> None:
        content: dict[str, Any] = {"redacts": event_id}
        if reason:
            content["reason"] = reason
        await self._queue(room_id, content, key, REDACTION, False, kind="redaction")

    async def upload(
        self,
        room_id: RoomID,
        data: bytes,
        filename: str,
        mimetype: str,
        key: str,
        *,
        reply_to: EventID | None = None,
    ) -> None:
        relates = {"m.in_reply_to": {"event_id": reply_to}} if reply_to else None
        content = upload_content(data, filename, mimetype, relates)
        await self._queue(room_id, content, key, UPLOAD, False, kind="upload")

    async def send_event(
        self,
        room_id: RoomID,
        event_type: str,
        content: dict[str, Any],
        key: str,
        *,
        wait: bool = False,
        urgent: bool = False,
    ) -> EventID | None:
        return await self._queue(room_id, content, key, event_type, wait, urgent=urgent)

    async def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        api = getattr(self._bot.matrix, "api", None)  # the fake adapter of tier 2 has none
        if api is None:
            raise MatrixError("this adapter makes no raw calls", None, None)
        return dict(await api(method, path, body, query))

    async def relations(self, room_id: RoomID, event_id: EventID, rel_type: str) -> list[dict[str, Any]]:
        from bots.runtime.polls_relations import read_relations

        return await read_relations(self.api, getattr(self._bot, "client", None), room_id, event_id, rel_type)

    async def _queue(
        self,
        room_id: RoomID,
        content: dict[str, Any],
        key: str,
        event_type: str,
        wait: bool,
        *,
        kind: str = "message",
        urgent: bool = False,
    ) -> EventID | None:
        outbox = self._bot.outbox
        if wait:
            done = await outbox.send(room_id, content, key, event_type, kind=kind, urgent=urgent)
            return done.event_id if done.state == "sent" else None
        await outbox.enqueue(room_id, content, key, event_type, kind=kind, urgent=urgent)
        return None

    async def delivery(self, key: str) -> Outcome | None:
        found = await self._bot.outbox.delivery(key)
        return None if found is None else Outcome.of(found)

    # -- the one exception: never written to disk ---------------------------------------------

    async def send_unstored(
        self,
        room_id: RoomID,
        message: Message,
        key: str,
        *,
        reply_to: EventID | None = None,
        thread: str | None = None,
    ) -> EventID | None:
        """Send straight to the homeserver, never through the outbox: only for a DM whose
        timing must not rest in the database (a blind-mirror conversation: an outbox row would
        say when its author wrote). A few tries in this process; None if it did not land. The
        price is no retry across a crash (the person sends their message again)."""
        plain, html = await render(self.settings, room_id, message)
        content = notice(plain, html or None, reply_to, thread, message.mentions)

        async def attempt() -> EventID:
            trust = getattr(self._bot, "trust", None)
            if trust is not None:
                await trust.prepare(room_id)
            return await self._bot.matrix.send_event(room_id, "m.room.message", content, key)

        return await _tries(attempt)

    async def redact_unstored(self, room_id: RoomID, event_id: EventID, key: str) -> bool:
        """Redact straight away, never through the outbox (see :meth:`send_unstored`)."""

        async def attempt() -> bool:
            await self._bot.matrix.redact(room_id, event_id, key, None)
            return True

        return bool(await _tries(attempt))

    def peer(self, cls: type[F]) -> F | None:
        for running in self._bot.features:
            if isinstance(running, cls):
                return running
        return None

    # -- rooms and people ---------------------------------------------------------------------

    async def members(self, room_id: RoomID) -> list[UserID]:
        """People joined now: never this bot, the suite's other bots or ``other_bots``."""
        return await self._bot.human_members(room_id)

    async def joined_at(self, room_id: RoomID) -> dict[UserID, datetime]:
        api = getattr(self._bot.matrix, "api", None)
        if api is None:
            return {}
        try:
            data = await api(
                "GET",
                f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/members",
                query={"membership": "join"},
            )
        except (MatrixError, TransportError):
            return {}
        found: dict[UserID, datetime] = {}
        for event in data.get("chunk") or []:
            if not isinstance(event, dict) or not isinstance(event.get("state_key"), str):
                continue
            unsigned = event.get("unsigned")
            before = unsigned.get("prev_content") if isinstance(unsigned, dict) else None
            if isinstance(before, dict) and before.get("membership") == "join":
                continue  # a name or avatar change: when they joined is not this event
            ts = event.get("origin_server_ts")
            if isinstance(ts, int) and not isinstance(ts, bool):
                found[UserID(event["state_key"])] = datetime.fromtimestamp(ts / 1000, UTC)
        return found

    def prepare_rooms(self, rooms: Sequence[RoomID], *, by: datetime) -> None:
        self._bot.keys_ahead.prepare(rooms, by)

    def discard_room_keys(self, room_id: RoomID) -> int:
        from bots.runtime.roomkeys import forget_room_keys

        return forget_room_keys(getattr(self._bot, "client", None), room_id)

    async def power_of(self, room_id: RoomID, user_id: str) -> int:
        return await self._bot.power_of(room_id, user_id)

    async def power_table(self, room_id: RoomID) -> PowerTable:
        matrix = self._bot.matrix
        return PowerTable(await matrix.power_levels(room_id), frozenset(await matrix.creators(room_id)))

    def power_needed(self, level: int | str | None) -> int | None:
        return self._bot.power_needed(level)

    def is_direct(self, room_id: RoomID) -> bool:
        return self._bot.is_direct(room_id)

    async def is_encrypted(self, room_id: RoomID) -> bool:
        return await self._bot.matrix.is_encrypted(room_id)

    async def resolve_room(self, ref: str) -> RoomID:
        return await self._bot.matrix.resolve_room(ref)

    async def room_name(self, room_id: RoomID) -> str:
        return await self._bot.matrix.room_name(room_id)

    async def create_room(
        self,
        name: str,
        invite: list[UserID],
        *,
        encrypted: bool = True,
        is_direct: bool = False,
        topic: str | None = None,
    ) -> RoomID:
        return await self._bot.matrix.create_room(
            name, invite, encrypted=encrypted, is_direct=is_direct, topic=topic
        )

    async def invite(self, room_id: RoomID, user_id: UserID) -> None:
        await self._bot.matrix.invite(room_id, user_id)

    async def leave(self, room_id: RoomID, reason: str | None = None) -> None:
        await self._bot.matrix.leave(room_id, reason)


async def _tries(attempt: Callable[[], Awaitable[Any]]) -> Any:
    """A few tries: wait as a rate limit asks, back off while the homeserver is away, give up
    (None) on a refusal or after :data:`UNSTORED_ATTEMPTS`."""
    for n in range(UNSTORED_ATTEMPTS):
        try:
            return await attempt()
        except RateLimited as exc:
            await asyncio.sleep(exc.retry_after_ms / 1000)
        except TransportError:
            await asyncio.sleep(0.5 * 2**n)
        except MatrixError as exc:
            log.info("an unstored send was refused: %s", exc.errcode)
            return None
    return None
