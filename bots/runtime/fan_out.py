"""One message to many rooms (a herald phase to every member room), queued in one transaction.

``host.post_many`` takes a list of :class:`Post` (a :class:`~bots.runtime.message.Message`,
rendered in each room's language and zone, as ``host.post`` does) and :class:`RawPost` (content
the feature built, as ``host.send_event`` takes) and hands them to
:meth:`~bots.runtime.outbox.Outbox.enqueue_batch`: all are accepted or, on an error, none; a key
already queued is skipped, so a phase cut by a crash is queued again safely. Rendering reads the
rooms' language and zone settings in a few queries (:func:`room_renderings`) instead of three
reads per room: at a thousand rooms, three thousand round trips to SQLite before the first send.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bots.runtime.context import notice
from bots.runtime.i18n import DEFAULT, SHIPPED, rendering
from bots.runtime.i18n_rooms import FOLLOW_KEY
from bots.runtime.ids import RoomID
from bots.runtime.message import Message
from bots.runtime.outbox import Queued
from storage.db import Database
from storage.room_settings import LANGUAGE_KEY, UTC, ZONE_KEY

# SQLite's default limit on a statement's parameters is far above this; it keeps each read small.
CHUNK = 500


@dataclass(frozen=True)
class Post:
    """A message for one room, rendered in that room's language and zone."""

    room_id: RoomID
    message: Message
    key: str
    mentions: Sequence[str] = ()
    urgent: bool = False  # its room's next turn comes first (a stand-down), as host.post's


@dataclass(frozen=True)
class RawPost:
    """Content the feature built (a herald's marked copy), sent as it is."""

    room_id: RoomID
    content: dict[str, Any] = field(hash=False)
    key: str
    event_type: str = "m.room.message"
    urgent: bool = False


async def room_renderings(db: Database, rooms: Iterable[str]) -> dict[str, tuple[str, ZoneInfo]]:
    """Each room's (language, zone), as :func:`bots.runtime.i18n_rooms.render` reads them one
    room at a time: a direct chat's followed language before the room's own, English and UTC
    until set, a language this build does not ship read as English, a zone the tz database
    dropped read as UTC."""
    wanted = list(dict.fromkeys(rooms))
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = await db.fetchall(
            f"SELECT room_id, key, value FROM room_setting WHERE key IN (?, ?, ?) AND room_id IN ({marks})",
            (FOLLOW_KEY, LANGUAGE_KEY, ZONE_KEY, *chunk),
        )
        for row in rows:
            found.setdefault(str(row[0]), {})[str(row[1])] = str(row[2])
    result: dict[str, tuple[str, ZoneInfo]] = {}
    for room in wanted:
        values = found.get(room, {})
        language = values.get(FOLLOW_KEY) or values.get(LANGUAGE_KEY) or DEFAULT
        result[room] = (language if language in SHIPPED else DEFAULT, _zone(values.get(ZONE_KEY)))
    return result


def _zone(name: str | None) -> ZoneInfo:
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


async def queued(db: Database, posts: Sequence[Post | RawPost]) -> list[Queued]:
    """The outbox rows of ``posts``, each message rendered once per language and zone."""
    ways = await room_renderings(db, [p.room_id for p in posts if isinstance(p, Post)])
    rendered: dict[tuple[int, str, str], tuple[str, str]] = {}
    rows: list[Queued] = []
    for post in posts:
        if isinstance(post, RawPost):
            rows.append(
                Queued(post.room_id, dict(post.content), post.key, post.event_type, urgent=post.urgent)
            )
            continue
        language, zone = ways[post.room_id]
        # The same Message object in the same language and zone renders the same text.
        cache_key = (id(post.message), language, zone.key)
        text = rendered.get(cache_key)
        if text is None:
            with rendering(language, zone):
                text = (post.message.plain, post.message.html)
            rendered[cache_key] = text
        people = list(dict.fromkeys([*post.message.mentions, *post.mentions]))
        content = notice(text[0], text[1] or None, mentions=people)
        rows.append(Queued(post.room_id, content, post.key, urgent=post.urgent))
    return rows
