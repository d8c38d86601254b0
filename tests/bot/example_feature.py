"""The smallest feature on the contract, and the model for a new one (docs/architecture.md).

It registers itself (``@register``) and is named in a bot's config by its module path
(``features: [tests.bot.example_feature]``), so adding it touched no central file. It has one
command, one config key, one migration, a retention for its rows, and forgets a room.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bots.config import Strict
from bots.runtime.commands import CommandContext, command
from bots.runtime.contract import ContractFeature
from bots.runtime.host import Host
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message, bold, code
from bots.runtime.registry import register
from bots.runtime.router import Words
from protocols.timespec import format_duration
from storage.db import Database


class ExampleConfig(Strict):
    """``features.example`` in the YAML (unknown keys are refused, durations need a unit)."""

    keep: timedelta = timedelta(days=7)


class ExampleNotes:
    """The repository of the feature's one table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, room_id: str, text: str, now: datetime) -> int:
        return await self._db.insert(
            "INSERT INTO example_note (room_id, text, created_at) VALUES (?, ?, ?)",
            (room_id, text, now.timestamp()),
        )

    async def set_reply(self, note_id: int, event_id: str) -> None:
        await self._db.execute("UPDATE example_note SET reply_event_id = ? WHERE id = ?", (event_id, note_id))

    async def older_than(self, cutoff: datetime) -> list[tuple[int, str, str | None]]:
        rows = await self._db.fetchall(
            "SELECT id, room_id, reply_event_id FROM example_note WHERE created_at < ?", (cutoff.timestamp(),)
        )
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]

    async def delete(self, note_id: int) -> None:
        await self._db.execute("DELETE FROM example_note WHERE id = ?", (note_id,))

    async def forget_room(self, room_id: str) -> int:
        return await self._db.execute("DELETE FROM example_note WHERE room_id = ?", (room_id,))


@register
class ExampleFeature(ContractFeature[ExampleConfig]):
    name = "example"
    title = "Notes (the example feature)"
    config_model = ExampleConfig
    migrations = Path(__file__).parent / "example_migrations"

    def __init__(self, host: Host, config: ExampleConfig) -> None:
        super().__init__(host, config)
        self.notes = ExampleNotes(host.db)

    def retention(self) -> dict[str, timedelta]:
        return {"notes": self.config.keep}

    @command("note", help="Keep a note in this room for a while", where="room")
    async def note(self, ctx: CommandContext, text: Words) -> None:
        note_id = await self.notes.add(ctx.room_id, text, ctx.now)
        reply = Message.of(
            "Kept note ",
            code(str(note_id)),
            ": ",
            bold(text),
            ". ",
            f"It is forgotten after {format_duration(self.config.keep)}.",
        )
        event_id = await ctx.reply(reply, wait=True)  # the one way to learn an event id
        if event_id is not None:
            await self.notes.set_reply(note_id, event_id)

    async def forget_expired(self, now: datetime) -> int:
        expired = await self.notes.older_than(now - self.config.keep)
        for note_id, room_id, reply in expired:
            if reply is not None:
                # Queued first (the outbox retries it until it lands), the row deleted after.
                await self.host.redact(RoomID(room_id), EventID(reply), key(self.name, "forget", note_id))
            await self.notes.delete(note_id)
        return len(expired)

    async def forget_room(self, room_id: RoomID) -> None:
        await self.notes.forget_room(room_id)
