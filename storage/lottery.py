"""What the role lottery remembers, and when it forgets: one module per aggregate.

- :mod:`storage.lottery_roles`: a room's roles and mandate length (:class:`RoomRoles`);
- :mod:`storage.lottery_options`: a room's window for chance and redraw switch;
- :mod:`storage.lottery_mandates`: the mandates running now, renewals, and redraws owed;
- :mod:`storage.lottery_draws`: draws from commit to reveal, and the history of wins;
- :mod:`storage.lottery_seeds`: a draw's seed sealed at rest;
- :mod:`storage.lottery_stepbacks`: members out of the pool;
- :mod:`storage.lottery_groupings`: earlier triads and cells;
- :mod:`storage.lottery_cell_rooms`: the rooms made for cells, with their sunset.

Every row belongs to a bot (the ``bot`` column, migration 011): several bots share one
database, and each repository is made for one bot and reads and writes only its rows, so a
reveal, a reminder or an expiry runs on the bot that is in the room, once.

This module forgets across them: draws, history and groupings are kept for a window
(``retention.draw_history``) and deleted by :func:`forget_lottery`; :func:`forget_room` deletes
what a bot kept about a room it left. Times are UTC unix seconds.
"""

from __future__ import annotations

from datetime import datetime

from storage.db import Database
from storage.lottery_draws import DrawHistory, Draws
from storage.lottery_groupings import Groupings
from storage.lottery_mandates import Redraws
from storage.lottery_seeds import no_seed_key
from storage.lottery_stepbacks import Stepbacks

# --- forgetting ----------------------------------------------------------------------------


async def forget_lottery(db: Database, cutoff: datetime, now: datetime) -> int:
    """Delete draws, history and groupings older than ``cutoff`` and ended step-backs, of every
    bot (``affinity forget`` runs without bots; age is the same rule for all).

    Running mandates are not history: they end on their own (``MandateStore.expire``).
    """
    async with db.transaction():
        return (
            await Draws(db, "", no_seed_key).forget_older_than(cutoff)
            + await DrawHistory(db, "").forget_older_than(cutoff)
            + await Groupings(db, "").forget_older_than(cutoff)
            + await Stepbacks(db, "").forget_expired(now)
            + await Redraws(db, "").forget_older_than(cutoff)
        )


async def forget_room(db: Database, bot: str, room_id: str) -> int:
    """Delete everything this bot's lottery keeps about a room (it left it); rows deleted.

    Another bot still in the room keeps its own."""
    async with db.transaction():
        total = 0
        for table in (
            "lottery_room",
            "lottery_mandate",
            "lottery_draw",
            "lottery_history",
            "lottery_stepback",
            "lottery_grouping",
            "lottery_redraw",
        ):
            total += await db.execute(f"DELETE FROM {table} WHERE bot = ? AND room_id = ?", (bot, room_id))
        return total
