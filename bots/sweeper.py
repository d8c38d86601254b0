"""Forgetting on schedule: delete every record that has outlived its retention.

Two ways in, one set of rules:

- the running process gives each bot a :class:`Sweeper`, scheduled every
  ``retention.sweep_every`` on that bot's scheduler. It deletes the runtime's own expired rows
  (handled event ids, finished outbox rows) and calls each feature's ``sweep(now)``, because a
  feature may have to redact its Matrix messages before it deletes their rows;
- ``affinity forget`` runs :func:`forget_everything` on the database without starting bots: the
  runtime tables, then every function in :data:`FORGETTERS` (rows only: with no Matrix
  connection, nothing can be redacted).

Both end with a WAL checkpoint that truncates the ``-wal`` file: with ``secure_delete`` on, no
deleted row's text is left in the database file or beside it.

Only counts are logged, never what was deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bots.config import RetentionConfig
from storage.db import Database

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "retention-sweep"

Forgetter = Callable[[Database, datetime, RetentionConfig], Awaitable[int]]
"""Deletes one feature's expired rows as of ``now`` under ``retention``; returns rows deleted."""


async def _forget_herald(db: Database, now: datetime, retention: RetentionConfig) -> int:
    from storage.herald import Coalitions, HeraldEvents, HeraldRuns

    runs = await HeraldRuns(db).forget_older_than(now - retention.protocol_runs)
    events = await HeraldEvents(db).forget_older_than(now - retention.events)
    invites = await Coalitions(db).forget_expired_invites(now)  # every bot's (bot=None)
    return runs + events + invites + await Coalitions(db).forget_empty()


async def _forget_lottery(db: Database, now: datetime, retention: RetentionConfig) -> int:
    from storage.lottery import forget_lottery

    return await forget_lottery(db, now - retention.draw_history, now)


# Feature-level forgetting for `affinity forget`. A feature whose storage keeps history adds its
# function here (storage-level code only: the command runs without Matrix and without bots).
FORGETTERS: list[Forgetter] = [_forget_herald, _forget_lottery]


def capped(retention: RetentionConfig, older_than: timedelta | None) -> RetentionConfig:
    """``retention`` with every lifetime shortened to at most ``older_than`` (None: unchanged).

    ``affinity forget --older-than 7d`` deletes everything older than a week, and never keeps
    anything longer than the configuration already says.
    """
    if older_than is None:
        return retention
    lifetimes = {
        name: min(value, older_than)
        for name, value in retention.model_dump().items()
        if name != "sweep_every" and isinstance(value, timedelta)
    }
    return retention.model_copy(update=lifetimes)


async def forget_runtime(
    db: Database, now: datetime, retention: RetentionConfig, bot: str | None = None
) -> dict[str, int]:
    """Delete expired handled-event ids and finished outbox rows (of one bot, or of all).

    Pending outbox rows are never deleted: they are messages still owed to someone.
    """
    handled_cutoff = (now - retention.handled_events).timestamp()
    outbox_cutoff = (now - retention.outbox).timestamp()
    which, params = ("", ()) if bot is None else (" AND bot = ?", (bot,))
    handled = await db.execute(
        "DELETE FROM handled_event WHERE handled_at < ?" + which, (handled_cutoff, *params)
    )
    outbox = await db.execute(
        "DELETE FROM outbox WHERE state != 'pending' AND created_at < ?" + which,
        (outbox_cutoff, *params),
    )
    return {"handled_events": handled, "outbox": outbox}


async def forget_everything(db: Database, now: datetime, retention: RetentionConfig) -> dict[str, int]:
    """What ``affinity forget`` does: the runtime tables, then every registered forgetter."""
    counts = await forget_runtime(db, now, retention)
    for forgetter in FORGETTERS:
        name = getattr(forgetter, "__name__", "feature").removeprefix("_forget_")
        counts[name] = counts.get(name, 0) + await forgetter(db, now, retention)
    await db.checkpoint()  # the deleted rows' old pages out of the WAL too
    return counts


class Sweeper:
    """One bot's scheduled sweep. Built after ``bot.start()``; scheduling is explicit."""

    def __init__(
        self,
        bot: BotRuntime,
        retention: RetentionConfig,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bot = bot
        self.retention = retention
        self._clock = clock or bot.clock

    def schedule(self) -> None:
        """Sweep every ``retention.sweep_every`` on the bot's own scheduler."""
        self.bot.scheduler.every(SWEEP_JOB_ID, self.retention.sweep_every, self.sweep)

    async def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Delete this bot's expired runtime rows and let each feature sweep its own."""
        now = now or self._clock()
        started = time.monotonic()
        handled_cutoff = (now - self.retention.handled_events).timestamp()
        handled = await self.bot.db.execute(
            "DELETE FROM handled_event WHERE bot = ? AND handled_at < ?",
            (self.bot.name, handled_cutoff),
        )
        outbox = 0
        if self.bot.outbox is not None:
            outbox = await self.bot.outbox.forget_older_than((now - self.retention.outbox).timestamp())
        counts = {"handled_events": handled, "outbox": outbox}
        for feature in self.bot.features:
            try:
                await feature.sweep(now)
            except Exception:
                log.exception("the %s feature's sweep failed", feature.name)
        # Deleted rows live on in the WAL's old pages until a checkpoint; truncate it now.
        await self.bot.db.checkpoint()
        log.info(
            "retention sweep: %d handled event ids, %d outbox rows deleted in %.2fs",
            handled,
            outbox,
            time.monotonic() - started,
        )
        return counts


def utcnow() -> datetime:
    return datetime.now(UTC)
