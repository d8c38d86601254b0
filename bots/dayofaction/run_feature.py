"""What every feature whose records live and die with a day-of-action run shares (slots, intake,
rides): its store, its retention (with the run), listening to the herald's moments from start,
and the three ways its records are forgotten (the run ended, the sweep, a room that removed the
bot), each redacting what the bot posted about them before the rows go.

A feature provides its store (:meth:`RunFeature.open_store`) and what its records are called in
the retention list (:attr:`RunFeature.records`); it may resume jobs at start
(:meth:`RunFeature.resume`) and cancel them when a run ends (:meth:`RunFeature.forgetting_run`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from bots.config import Strict
from bots.dayofaction.herald_port import RunInfo, RunListener, herald_port
from bots.runtime.commands import CommandContext
from bots.runtime.contract import ContractFeature
from bots.runtime.host import Host
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from storage.db import Database


class RunStore(Protocol):
    """The store of a run's records: every table has ``run_id``, ``room_id`` and ``forget_at``
    (storage/run_scoped.py), and one table holds the bot's messages to redact with them."""

    async def add_message(self, room_id: str, event_id: str, run_id: str, forget_at: datetime) -> None: ...

    async def messages(
        self, *, now: datetime | None = None, run_id: str | None = None
    ) -> list[tuple[str, str]]: ...

    async def forget(
        self, *, now: datetime | None = None, run_id: str | None = None, room_id: str | None = None
    ) -> int: ...


C = TypeVar("C", bound=Strict)
S = TypeVar("S", bound=RunStore)


class RunFeature(ContractFeature[C], RunListener, ABC, Generic[C, S]):
    """A day-of-action feature whose every record goes with its run."""

    def __init__(self, host: Host, config: C) -> None:
        super().__init__(host, config)
        self.store: S = self.open_store(host.db)

    @abstractmethod
    def open_store(self, db: Database) -> S:
        """The feature's store over ``db`` (no I/O: the constructor opens nothing)."""

    @property
    @abstractmethod
    def records(self) -> str:
        """What the feature's records are, as the retention list names them (``"slots"``)."""

    def retention(self) -> dict[str, timedelta]:
        # Each row carries its run's forget time, so the sweep takes it when the run goes.
        return {f"{self.records} (with the run)": timedelta(0)}

    async def start(self) -> None:
        port = herald_port(self.host)
        if port is not None:
            port.dayofaction_listen(self)
        await self.resume()

    async def resume(self) -> None:
        """Rebuild the feature's jobs from its tables (none by default)."""

    async def forgetting_run(self, run_id: str) -> None:
        """Before a run's rows go: cancel what the feature scheduled for it (none by default)."""

    # -- forgetting ----------------------------------------------------------------------------

    async def run_ended(self, run_id: str) -> None:
        await self._redact(await self.store.messages(run_id=run_id))
        await self.forgetting_run(run_id)
        await self.store.forget(run_id=run_id)

    async def forget_expired(self, now: datetime) -> int:
        await self._redact(await self.store.messages(now=now))
        return await self.store.forget(now=now)

    async def forget_room(self, room_id: RoomID) -> None:
        await self.store.forget(room_id=room_id)

    async def _redact(self, messages: Sequence[tuple[str, str]]) -> None:
        """Queue a durable redaction of each (the outbox retries it; offline it waits there)."""
        for room, event in messages:
            await self.host.redact(RoomID(room), EventID(event), key(self.name, "forget", room, event))

    # -- what the bot posts about a run's records goes with them -------------------------------

    async def keep(self, room_id: str, event_id: EventID | None, info: RunInfo) -> None:
        """Remember a message the bot posted about ``info``'s records, to redact it with them."""
        if event_id is not None:
            await self.store.add_message(room_id, event_id, info.run_id, info.forget_at)

    async def reply_kept(self, ctx: CommandContext, info: RunInfo, message: Message) -> None:
        """Answer a command, and keep the answer: it says who did what, so it goes with the run."""
        await self.keep(ctx.room_id, await ctx.reply(message, wait=True), info)
