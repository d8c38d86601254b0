"""One store for what a room has said about itself, shared by every feature: its time zone,
its language and its kind. Rows live in the runtime's ``room_setting`` table (001_runtime.sql),
one row per (room, key); a setting never set reads as its default, so no feature keeps its own
answer to "what time zone is this room in".

Keys are ``zone``, ``language`` and ``kind`` (the same ``zone`` key the ghost chair's
``RoomZones`` always used, so rooms keep their zone). A feature's own per-room values use keys
starting with its name and a dot (``herald.dm``) through :meth:`RoomSettings.get` / ``put``.
Only ids, zone names, language tags and kinds are stored: no person, no message.
"""

from __future__ import annotations

import re
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.db import Database

RoomKind = Literal["group", "direct", "cell", "coordination"]
KINDS: tuple[str, ...] = get_args(RoomKind)
DEFAULT_LANGUAGE = "en"
UTC = ZoneInfo("UTC")

ZONE_KEY = "zone"
LANGUAGE_KEY = "language"
KIND_KEY = "kind"
_FEATURE_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_.:@\-]{1,200}$")
# BCP 47, as far as a chat needs: a language and optional subtags (en, pt-BR, zh-Hant).
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")


class RoomSettings:
    """Typed accessors over ``room_setting``. Every method is one statement (atomic)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the shared settings ------------------------------------------------------------------

    async def zone(self, room_id: str) -> ZoneInfo:
        """The room's zone; UTC until the room sets one (or if the tz database dropped it)."""
        return await self.zone_set(room_id) or UTC

    async def zone_set(self, room_id: str) -> ZoneInfo | None:
        """The zone the room set, or None (never set, or dropped from the tz database): for a
        feature with a fallback of its own, and to tell "set to UTC" from "never set"."""
        value = await self._read(room_id, ZONE_KEY)
        if value is None:
            return None
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            return None

    async def set_zone(self, room_id: str, zone: ZoneInfo) -> None:
        await self._write(room_id, ZONE_KEY, zone.key)

    async def language(self, room_id: str) -> str:
        return await self.language_set(room_id) or DEFAULT_LANGUAGE

    async def language_set(self, room_id: str) -> str | None:
        """The language the room set, or None: tells "set to English" from "never set"."""
        return await self._read(room_id, LANGUAGE_KEY)

    async def set_language(self, room_id: str, tag: str) -> None:
        if not _LANGUAGE.match(tag):
            raise ValueError(f"'{tag}' is not a language tag: use one like en, de or pt-BR")
        await self._write(room_id, LANGUAGE_KEY, tag)

    async def kind(self, room_id: str) -> RoomKind:
        value = await self._read(room_id, KIND_KEY)
        return value if value in KINDS else "group"  # type: ignore[return-value]

    async def set_kind(self, room_id: str, kind: RoomKind) -> None:
        if kind not in KINDS:
            raise ValueError(f"'{kind}' is not a room kind: one of {', '.join(KINDS)}")
        await self._write(room_id, KIND_KEY, kind)

    # -- a feature's own per-room values ------------------------------------------------------

    async def get(self, room_id: str, key: str) -> str | None:
        return await self._read(room_id, self._feature_key(key))

    async def put(self, room_id: str, key: str, value: str) -> None:
        await self._write(room_id, self._feature_key(key), value)

    async def delete(self, room_id: str, key: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM room_setting WHERE room_id = ? AND key = ?", (room_id, self._feature_key(key))
        )
        return changed > 0

    async def rooms_where(self, key: str, value: str) -> list[str]:
        """Rooms whose ``key`` is ``value`` (the herald finds a liaison's DM room this way)."""
        rows = await self._db.fetchall(
            "SELECT room_id FROM room_setting WHERE key = ? AND value = ? ORDER BY room_id",
            (self._feature_key(key), value),
        )
        return [str(r[0]) for r in rows]

    # -- forgetting ---------------------------------------------------------------------------

    async def forget_room(self, room_id: str) -> int:
        """Every setting of a room (the bot was removed from it): it starts afresh if invited."""
        return await self._db.execute("DELETE FROM room_setting WHERE room_id = ?", (room_id,))

    # -- rows -----------------------------------------------------------------------------------

    @staticmethod
    def _feature_key(key: str) -> str:
        if not _FEATURE_KEY.match(key):
            raise ValueError(f"a feature's room setting is named '<feature>.<name>', not {key!r}")
        return key

    async def _read(self, room_id: str, key: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT value FROM room_setting WHERE room_id = ? AND key = ?", (room_id, key)
        )
        return None if row is None else str(row[0])

    async def _write(self, room_id: str, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO room_setting (room_id, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (room_id, key) DO UPDATE SET value = excluded.value",
            (room_id, key, value),
        )
