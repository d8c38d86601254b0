"""The narrow host a feature receives instead of the whole runtime.

A feature sees who the bot is, the time, one way to send (post, edit, redact, upload: all
through the outbox, under keys from :func:`bots.runtime.keys.key`), its scheduled jobs, who is
in a room and with what power, the room settings, a few room operations, and the database on
which it builds its repositories. Nothing else: no nio client, no outbox, no other feature.

:class:`Host` is the interface (a Protocol, so a test may hand a feature any object that has
these members); :class:`~bots.runtime.runtime_host.RuntimeHost` is the implementation over
today's ``BotRuntime`` (and :class:`~bots.runtime.offline.OfflineHost` the one for
``affinity forget``).

Sending, in one place:
- ``post_many(posts)`` queues one message to each of many rooms in one transaction (a phase);
- ``post(..., wait=False)`` queues and returns None; ``post(..., wait=True)`` waits for the
  homeserver and returns the event id (None when the room refused it for good; TimeoutError
  after two minutes without an answer, the message still queued). This is the one way to learn
  a sent message's event id.
- ``redact`` queues a redaction; the outbox retries it until it lands or the room refuses it
  for good. The row in the outbox is the durable promise, so a feature deletes its own rows
  right after ``redact`` returns, never before.
- ``delivery(key)`` says what became of anything sent under ``key`` (pending, sent with its
  event id and time, or refused with the homeserver's reason) without waiting: a feature never
  reads the outbox's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from bots.config import AccessConfig, RetentionConfig
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.jobs import Schedule
from bots.runtime.message import Message
from storage.db import Database
from storage.room_settings import RoomSettings

if TYPE_CHECKING:
    from bots.runtime import fan_out, outbox

# What a room version 12 creator's "infinite" power compares as (as in bots/runtime/bot.py).
CREATOR_POWER = 2**53

F = TypeVar("F")


@dataclass(frozen=True)
class PowerTable:
    """A room's power levels read once, for many lookups (a coalition's coordinators)."""

    levels: dict[str, Any]
    creators: frozenset[str]

    def of(self, user_id: str) -> int:
        if user_id in self.creators:
            return CREATOR_POWER
        users = self.levels.get("users") or {}
        return int(users.get(user_id, self.levels.get("users_default", 0)))

    def needed_for(self, action: str, default: int = 50) -> int:
        """The level an action needs (``redact``, ``kick``, ``state_default``...)."""
        return int(self.levels.get(action, default))


@dataclass(frozen=True)
class Outcome:
    """What became of a row sent under a key (a post, edit, redaction or upload).

    ``pending``: queued, not answered yet (the outbox keeps trying). ``sent``: ``event_id`` is
    the event's id (for a redaction, the redacted event's) and ``at`` when it landed.
    ``refused``: the room refused it for good (``error`` says why, ``at`` when).
    """

    state: Literal["pending", "sent", "refused"]
    event_id: EventID | None
    at: datetime | None
    error: str | None

    @classmethod
    def of(cls, row: outbox.Delivery) -> Outcome:
        """The outcome of an outbox row (its ``sent_at`` is seconds since the epoch)."""
        at = datetime.fromtimestamp(row.sent_at, UTC) if row.sent_at is not None else None
        if row.state == "pending":
            return cls("pending", None, None, None)
        if row.state == "sent":
            return cls("sent", row.event_id, at, None)
        return cls("refused", None, at, row.error or row.state)


class Host(Protocol):
    """What a feature may do. Every send goes through the outbox under a caller's stable key."""

    feature: str
    user_id: UserID
    db: Database
    settings: RoomSettings
    schedule: Schedule
    retention: RetentionConfig
    access: AccessConfig

    def clock(self) -> datetime: ...

    @property
    def pickle_key(self) -> str: ...

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
    ) -> EventID | None: ...

    async def post_many(self, posts: Sequence[fan_out.Post | fan_out.RawPost]) -> int:
        """Queue one message to each of many rooms (a phase to every member room) in one
        transaction: all or, on an error, none; a message is rendered in its room's language
        and zone as ``post`` renders it. How many were new (a key already queued is skipped, so
        queueing a cut phase again is safe). Follow each with ``delivery(key)`` or
        ``post(..., wait=True)`` under the same key (bots/runtime/fan_out.py)."""
        ...

    async def edit(self, room_id: RoomID, event_id: EventID, message: Message, key: str) -> None: ...

    async def redact(
        self, room_id: RoomID, event_id: EventID, key: str, reason: str | None = None
    ) -> None: ...

    async def upload(
        self,
        room_id: RoomID,
        data: bytes,
        filename: str,
        mimetype: str,
        key: str,
        *,
        reply_to: EventID | None = None,
    ) -> None: ...

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
        """Any event type with content the feature builds (a coalition's control events, a
        herald's marked copy), through the outbox like every send; encrypted where the room is.
        ``urgent`` (here and on ``post``): the room's next sending turn comes before every other
        room's, for what must not wait behind a broadcast (a stand-down)."""
        ...

    async def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A raw client-server call for what the host has no method for (room state, a room
        version 12 room with several creators); errors raise the typed exceptions."""
        ...

    async def relations(self, room_id: RoomID, event_id: EventID, rel_type: str) -> list[dict[str, Any]]:
        """The events relating to ``event_id`` by ``rel_type`` (a poll's responses), decrypted
        where the room is encrypted (bots/runtime/polls_relations.py)."""
        ...

    async def delivery(self, key: str) -> Outcome | None:
        """What became of what this bot sent under ``key``; None when nothing was (or its
        record was forgotten, long after it was finished: see the outbox's retention)."""
        ...

    async def send_unstored(
        self,
        room_id: RoomID,
        message: Message,
        key: str,
        *,
        reply_to: EventID | None = None,
        thread: str | None = None,
    ) -> EventID | None: ...

    async def redact_unstored(self, room_id: RoomID, event_id: EventID, key: str) -> bool: ...

    def peer(self, cls: type[F]) -> F | None:
        """This bot's running feature of class ``cls`` (None: the bot does not run it). The one
        way a feature reaches another (the ghost chair's gathering opens the lottery's draw):
        by its class, so the call is typed; never by name."""
        ...

    async def members(self, room_id: RoomID) -> list[UserID]: ...

    async def joined_at(self, room_id: RoomID) -> dict[UserID, datetime]:
        """When each joined member joined (their membership event), as far as the homeserver
        says; a member whose join time is unknown is absent; {} when the homeserver does not say."""
        ...

    def prepare_rooms(self, rooms: Sequence[RoomID], *, by: datetime) -> None:
        """Share these rooms' room keys ahead of a send due at ``by`` (from the operator's
        ``encryption.keys_ahead`` before it, a few rooms a second; bots/runtime/keys_ahead.py),
        so that a phase to many encrypted rooms goes out at plain-room speed. Call it when
        scheduling such a send, and again at start for sends due soon (nio forgets its
        sessions at a restart). Unencrypted rooms cost one state read; nothing is sent."""
        ...

    def discard_room_keys(self, room_id: RoomID) -> int:
        """Make what was said in the room so far undecryptable with the bot's stored keys
        (bots/runtime/roomkeys.py); how many sessions changed. For a DM that must leave no
        trace (a blind-mirror conversation)."""
        ...

    async def power_of(self, room_id: RoomID, user_id: str) -> int: ...

    async def power_table(self, room_id: RoomID) -> PowerTable: ...

    def power_needed(self, level: int | str | None) -> int | None: ...

    def is_direct(self, room_id: RoomID) -> bool: ...

    async def is_encrypted(self, room_id: RoomID) -> bool: ...

    async def resolve_room(self, ref: str) -> RoomID: ...

    async def room_name(self, room_id: RoomID) -> str: ...

    async def create_room(
        self,
        name: str,
        invite: list[UserID],
        *,
        encrypted: bool = True,
        is_direct: bool = False,
        topic: str | None = None,
    ) -> RoomID: ...

    async def invite(self, room_id: RoomID, user_id: UserID) -> None: ...

    async def leave(self, room_id: RoomID, reason: str | None = None) -> None: ...
