"""The role-lottery feature, assembled: draws from commitment to reveal, mandates that end on
their own, chance groupings, and cell rooms with a sunset.

Each concern is one module, and the class is their chain (each part builds on the one before):
:mod:`~bots.lottery.base` (repositories, the pool, the zone) -> :mod:`~bots.lottery.mandates`
(roles, mandates, redraws owed) -> :mod:`~bots.lottery.draws` (draws, contributions, reveal,
verify) -> :mod:`~bots.lottery.groupings` (the pool, order, triads) -> :mod:`~bots.lottery.cells`
(cells and their rooms). Here: the life cycle, retention and forgetting.

Every step that happens at a time is a job carrying only ids, rebuilt from the tables at
start-up (a job whose time passed while the bot was down runs at once). Messages go through the
host under keys derived from what caused them (the command's event id, the draw id, the
mandate's end), so a retry never doubles one.

The public interface other features use (the ghost chair at a gathering's start):
:meth:`LotteryFeature.opening_draw` and :meth:`LotteryFeature.speaking_order`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from bots.lottery.base import log
from bots.lottery.cells import CellsPart
from bots.runtime.ids import RoomID
from bots.runtime.registry import register
from storage.lottery import forget_lottery, forget_room

# Cells planned but never given a room (a crash mid-command) are forgotten after this.
UNFINISHED_CELLS = timedelta(days=1)


@register
class LotteryFeature(CellsPart):
    """Role lotteries (``!roles``, ``!draw``, ``!verify``, ``!stepback``, ``!renew``, ``!order``,
    ``!triads``, ``!cells``...)."""

    migrations = Path(__file__).parent / "migrations"  # its own tables (shadows)

    # The public interface (the ghost chair finds this class through ``host.peer``):
    # opening_draw(room_id, origin) -> draw id or None   (bots/lottery/draws.py)
    # speaking_order(room_id, origin) -> None            (bots/lottery/groupings.py)

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Announce what ended while the bot was down, then rebuild every job from the tables."""
        sealed = await self.draws.seal_clear_seeds()
        if sealed:
            log.info("lottery: sealed the seeds of %d open draws stored in the clear", sealed)
        await self._expire_due()  # also opens redraws owed from before a crash
        pending = await self.draws.pending()
        for draw in pending:
            self._schedule_reveal(draw.draw_id, draw.reveal_at)
        mandates = await self.mandates.all()
        for mandate in mandates:
            self._schedule_mandate(mandate)
        cells_open = await self.cell_rooms.open()
        for cell in cells_open:
            self._schedule_sunset(cell)
        log.info(
            "lottery: %d draws to reveal, %d mandates, %d cell rooms scheduled",
            len(pending),
            len(mandates),
            len(cells_open),
        )

    # -- retention and forgetting -----------------------------------------------------------

    def retention(self) -> Mapping[str, timedelta]:
        """Draws, their history, groupings and redraws owed live ``retention.draw_history``;
        a step-back until it ends; cells planned but never given a room a day. Running mandates
        end on their own; a closed cell room's row goes a day after it was made."""
        kept = self.host.retention.draw_history
        return {
            "draws": kept,
            "draw history": kept,
            "groupings": kept,
            "redraws owed": kept,
            "shadows (beside the holder, then first in the pool next time)": kept,
            "unfinished cells": UNFINISHED_CELLS,
        }

    async def forget_expired(self, now: datetime) -> int:
        """Delete what outlived :meth:`retention` (of every bot: age is the same rule for all,
        and ``affinity forget`` runs without bots). The lottery posts nothing it must take back:
        its draw messages are the room's public record, so nothing is redacted."""
        deleted = await forget_lottery(self.host.db, now - self.host.retention.draw_history, now)
        deleted += await self.cell_rooms.forget_unfinished(now - UNFINISHED_CELLS)
        deleted += await self.shadows.forget_older_than(now - self.host.retention.draw_history)
        if deleted:
            log.info("lottery: forgot %d rows", deleted)
        return deleted

    async def forget_room(self, room_id: RoomID) -> None:
        """Out of the room: its roles, mandates, draws and history are forgotten (jobs that
        still fire find nothing and do nothing)."""
        for mandate in (await self.mandates.current(room_id)).values():
            self._cancel_mandate(mandate)
        deleted = await forget_room(self.host.db, self.host.user_id, room_id)
        deleted += await self.options.forget_room(room_id)
        deleted += await self.shadows.forget_room(room_id)
        if deleted:
            log.info("lottery: out of a room, forgot %d rows", deleted)
