"""The feature contract: everything a feature is, declared in one class.

    @register
    class Notes(ContractFeature[NotesConfig]):
        name = "notes"                                   # config key, command group, job namespace
        title = "Notes"                                  # for !help and the docs
        config_model = NotesConfig                       # validated from features.notes
        migrations = Path(__file__).parent / "migrations"  # its own NNN_name.sql files

        def __init__(self, host: Host, config: NotesConfig) -> None:
            super().__init__(host, config)
            self.notes = NoteRepository(host.db)         # its repositories

        def retention(self) -> dict[str, timedelta]:     # how long each kind of record lives
            return {"notes": self.config.keep}

        @command("note", help="Keep a note for a while")  # handlers are its methods
        async def note(self, ctx: CommandContext, text: Words) -> None: ...

        async def forget_expired(self, now: datetime) -> int: ...   # the sweeper calls this
        async def forget_room(self, room_id: RoomID) -> None: ...   # the bot left that room

A feature gets a :class:`~bots.runtime.host.Host`, never the runtime. :func:`factory` turns the
class and its raw config into what ``BotRuntime`` takes (a ``FeatureFactory``), which builds the
feature itself over a :class:`~bots.runtime.runtime_host.RuntimeHost`: the runtime holds the
features, calls :meth:`ContractFeature.ready` (the feature's own migrations, once) before it
touches one, and routes commands to its :attr:`ContractFeature.router`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bots.config import ConfigError
from bots.runtime.commands import CommandContext, bound_commands
from bots.runtime.host import Host
from bots.runtime.ids import EventID, RoomID
from bots.runtime.router import Router
from bots.runtime.runtime_host import RuntimeHost
from storage.feature_migrations import apply_feature_migrations, read_feature_migrations

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime, FeatureFactory


class NoConfig(BaseModel):
    """The config model of a feature without settings: ``features.<name>`` must be empty."""

    model_config = ConfigDict(extra="forbid", frozen=True)


C = TypeVar("C", bound=BaseModel)


class ContractFeature(Generic[C]):
    """Base of every feature on the contract. Override what the feature needs."""

    name: ClassVar[str]
    title: ClassVar[str]
    config_model: ClassVar[type[BaseModel]] = NoConfig
    migrations: ClassVar[Path | None] = None

    def __init__(self, host: Host, config: C) -> None:
        # No I/O here: constructors never schedule jobs or open connections (start() does).
        self.host = host
        self.config = config
        self._migrated = False
        self._migrating = asyncio.Lock()
        self._router: Router | None = None

    # -- what the runtime calls; not hooks (a feature does not override them) -------------------

    async def ready(self) -> None:
        """Apply the feature's own migrations once, before anything touches its tables (the
        runtime calls this before ``start`` and every hook; its commands call it too)."""
        if self._migrated:
            return
        async with self._migrating:
            if not self._migrated:
                steps = read_feature_migrations(self.migrations) if self.migrations else []
                await apply_feature_migrations(self.host.db, self.name, steps, self.host.clock().timestamp())
                self._migrated = True

    @property
    def router(self) -> Router:
        """The feature's commands (its ``@command`` methods, bound to it), named by its title."""
        if self._router is None:
            router = Router(self.name, self.title)
            router.commands = bound_commands(self, self.name, self.host, before=self.ready)
            self._router = router
        return self._router

    # -- hooks ------------------------------------------------------------------------------

    def retention(self) -> Mapping[str, timedelta]:
        """How long each kind of record lives (``{"notes": 7d}``): what :meth:`forget_expired`
        applies, and what the operator guide lists for the feature."""
        return {}

    async def start(self) -> None:
        """Rebuild scheduled jobs from the feature's tables (called once the bot is ready)."""

    async def stop(self) -> None:
        """The bot is stopping: cancel work of the feature's own (jobs stop with the bot)."""

    async def on_message(self, ctx: CommandContext) -> bool:
        """A message that is not a command (a DM conversation); True if consumed."""
        return False

    async def on_reaction(self, ctx: CommandContext, target: EventID, key: str) -> None:
        """Someone reacted to an event in a room the bot is in."""

    async def on_event(self, ctx: CommandContext, event: dict[str, Any]) -> None:
        """Any event from an allowed sender in a room the bot is in (its decrypted source):
        for a feature that reads state or custom event types (the herald's control room)."""

    async def answers_in(self, room_id: RoomID, event_id: EventID) -> bool:
        """False when another bot in this room answers the command ``event_id`` (several heralds
        share a room): the runtime then keeps its own replies to it (``!help``, ``!ping``, an
        unknown command, a refusal) to itself; the command's handlers still run."""
        return True

    async def forget_expired(self, now: datetime) -> int:
        """Delete (and redact, through the host) what outlived :meth:`retention`; rows deleted."""
        return 0

    async def forget_room(self, room_id: RoomID) -> None:
        """The bot is out of a room: forget what served only that room."""

    @classmethod
    def scrub_copy(cls, conn: sqlite3.Connection, restoring: bool) -> str | None:
        """Take out of a copy of the database what no backup may keep (``affinity backup``,
        before the copy is encrypted; ``affinity restore``, before it replaces the database, as
        older backups may hold it). ``conn`` is a ``sqlite3`` connection to the copy, in a
        transaction the caller commits, then vacuums. Returns a sentence for the operator (None:
        nothing to say). No bot runs, so this is a class method: the copy is the only input."""
        return None


def validate_config(
    cls: type[ContractFeature[Any]], raw: Mapping[str, Any] | None, source: str = "config"
) -> BaseModel:
    """``features.<name>`` validated by the feature's model; a ConfigError names the exact key."""
    try:
        return cls.config_model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in ("features", cls.name, *err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling against config.example.yaml)"
            lines.append(f"{source}: {where}: {msg}")
        raise ConfigError("\n".join(lines)) from None


def factory(cls: type[ContractFeature[Any]], raw_config: Mapping[str, Any] | None = None) -> FeatureFactory:
    """What ``BotRuntime(features=[...])`` takes, for a contract feature and its raw config.
    The config is validated here, before any bot starts."""
    config = validate_config(cls, raw_config)

    def make(bot: BotRuntime) -> ContractFeature[Any]:
        return cls(RuntimeHost(bot, cls.name), config)

    return make
