"""What every part of the lottery shares: its repositories, the pool, the room's zone, and the
job and key names. The parts (:mod:`~bots.lottery.mandates`, :mod:`~bots.lottery.draws`,
:mod:`~bots.lottery.groupings`, :mod:`~bots.lottery.cells`) build on :class:`LotteryBase` in
that order; :class:`~bots.lottery.feature.LotteryFeature` is the last of the chain.

Every row read or written is this bot's own (several bots share a database): each repository
is made for ``host.user_id``.
"""

from __future__ import annotations

import hashlib
import logging
import random
from abc import ABC, abstractmethod
from datetime import datetime
from zoneinfo import ZoneInfo

from bots.lottery.config import LotteryConfig
from bots.runtime.contract import ContractFeature
from bots.runtime.errors import UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _
from bots.runtime.ids import RoomID
from protocols.lottery_room import pool
from storage.lottery_cell_rooms import CellRooms
from storage.lottery_draws import DrawHistory, Draws
from storage.lottery_groupings import Groupings
from storage.lottery_mandates import MandateStore, Redraws
from storage.lottery_options import RoomOptions
from storage.lottery_roles import RoomRoles
from storage.lottery_seeds import seed_key_from_secret
from storage.lottery_stepbacks import Stepbacks

log = logging.getLogger("bots.lottery")

# Only when the bot runs without a pickle key (the runtime refuses to start without one).
UNKEYED = "affinity-lottery-without-a-pickle-key"


def short_id(*parts: object) -> str:
    """A short id from ids (a draw's id, a mandate's job suffix): the same parts, the same id."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:10]


class LotteryBase(ContractFeature[LotteryConfig], ABC):
    name = "lottery"
    title = "Role lotteries"
    config_model = LotteryConfig

    def __init__(self, host: Host, config: LotteryConfig) -> None:
        super().__init__(host, config)
        db, me = host.db, host.user_id
        self.rooms = RoomRoles(db, me, config.default_roles, config.default_term)
        self.options = RoomOptions(db, me, config.commit_window, config.redraw_on_expiry)
        self.mandates = MandateStore(db, me)
        self.draws = Draws(db, me, self._seed_key)
        self.history = DrawHistory(db, me)
        self.stepbacks = Stepbacks(db, me)
        self.groupings = Groupings(db, me)
        self.cell_rooms = CellRooms(db, me)
        self.redraws = Redraws(db, me)
        self._sealing_key: bytes | None = None
        self._rng = random.SystemRandom()

    def _seed_key(self) -> bytes:
        """The key draw seeds are sealed under, from the operator's pickle key (known only once
        the bot has started, so derived on first use and kept in memory only)."""
        if self._sealing_key is None:
            try:
                secret = self.host.pickle_key
            except RuntimeError:
                log.warning(
                    "lottery: no pickle key; draw seeds are sealed under a fixed key, so a copy "
                    "of the database could be used to steer open draws"
                )
                secret = UNKEYED
            self._sealing_key = seed_key_from_secret(secret)
        return self._sealing_key

    async def zone_of(self, room_id: str) -> ZoneInfo:
        """The room's zone (the shared room settings; UTC when none was set)."""
        return await self.host.settings.zone(RoomID(room_id))

    async def pool_of(self, room_id: str, now: datetime) -> tuple[str, ...]:
        """Joined humans minus those who stepped back; never this bot itself."""
        members = await self.host.members(RoomID(room_id))
        stepped = await self.stepbacks.active(room_id, now)
        return pool(members, stepped, [self.host.user_id], now)

    async def _role(self, room_id: str, typed: str) -> str:
        role = typed.strip().lower()
        setup = await self.rooms.setup(room_id)
        if role not in setup.roles:
            raise UserError(
                _("'{typed}' is not a role here. Roles: {roles}.", typed=typed, roles=", ".join(setup.roles))
                if setup.roles
                else _("'{typed}' is not a role here. Roles: none yet.", typed=typed)
            )
        return role

    async def _no_open_draw(self, room_id: str) -> None:
        """Refuse changing the roles while a draw is open."""
        if await self.draws.pending(room_id):
            raise UserError(_("A draw is open in this room: wait for its result before changing the roles."))

    @abstractmethod
    async def opening_draw(self, room_id: RoomID, origin: str) -> str | None:
        """Start a draw of the room's vacant roles (:mod:`bots.lottery.draws` implements it)."""
