"""Forgetting on schedule: delete every record that has outlived its retention.

Two ways in, one set of rules:

- the running process gives each bot a :class:`Sweeper`, scheduled every
  ``retention.sweep_every`` on that bot's scheduler. It deletes the runtime's own expired rows
  (handled event ids, finished outbox rows) and calls each feature's ``sweep(now)``, because a
  feature may have to redact its Matrix messages before it deletes their rows;
- ``affinity forget`` runs :func:`forget_everything` on the database without starting bots: the
  runtime tables, then each feature's same ``forget_expired(now)`` through the feature contract
  with an offline host (:func:`bots.runtime.offline.forget_contract_features`): what it would
  redact waits in the outbox for the bot's next run, and its rows go at once.

Which features and bots ``affinity forget`` covers: every bot the config names and every bot
this database has run (its rows in the runtime's tables), each with every feature the suite
ships and every feature the config names for it. A feature taken off a bot's list, or a bot
taken out of the config, still has its expired records forgotten: retention is a promise to the
people in the rooms, not a setting of today's list.

Both end with a WAL checkpoint that truncates the ``-wal`` file: with ``secure_delete`` on, no
deleted row's text is left in the database file or beside it.

Only counts are logged, never what was deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bots.config import AppConfig, RetentionConfig
from storage.db import Database

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "retention-sweep"


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


async def bots_in(db: Database) -> list[str]:
    """Every bot this database has run: those with rows in the runtime's own tables."""
    rows = await db.fetchall(
        "SELECT bot FROM sync_checkpoint UNION SELECT bot FROM handled_event"
        " UNION SELECT bot FROM room_joined UNION SELECT bot FROM outbox ORDER BY bot"
    )
    return [str(row[0]) for row in rows]


async def forget_everything(config: AppConfig, db: Database, now: datetime) -> dict[str, int]:
    """What ``affinity forget`` does: the runtime tables, then every feature through its
    contract (see the module's docstring for which), under ``config.retention``. Rows deleted,
    by what they were (``handled_events``, ``outbox``, then each feature's name)."""
    from bots.runtime.offline import forget_contract_features
    from bots.runtime.registry import check_features, shipped_features

    # Every feature loaded and its settings checked before anything is deleted: a broken one
    # (an unknown name, a bad section, a package that does not import) stops it all.
    check_features(config)
    shipped = shipped_features()
    counts = await forget_runtime(db, now, config.retention)
    counts.update(
        await forget_contract_features(config, db, now, also_features=shipped, also_bots=await bots_in(db))
    )
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
                await feature.ready()
                await feature.forget_expired(now)
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
