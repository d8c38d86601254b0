"""What every part of the blind-mirror feature shares: its contract declaration, its
repository of rounds, the zone a room reads times in, and its message keys.

The feature class (:mod:`bots.mirror.feature`) is assembled from this base and two mixins: the
group-room commands (:mod:`bots.mirror.commands`) and the rounds' jobs and forgetting
(:mod:`bots.mirror.jobs`); the DM conversation is :mod:`bots.mirror.conversation`.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bots.config import ConfigError
from bots.mirror.config import MirrorConfig
from bots.runtime.contract import ContractFeature
from bots.runtime.host import Host
from bots.runtime.keys import key
from protocols.mirror import ConsentRequest, MirrorRound
from protocols.timespec import parse_zone
from storage import crypto
from storage.mirror import MirrorRounds

if TYPE_CHECKING:
    from bots.mirror.conversation import Conversations

# What the runtime once used when no pickle key was configured: known to everyone, so never a
# master key (a database copy would open with it).
_PUBLIC_DEFAULT_KEYS = frozenset({"affinity-default-pickle-key"})


class MirrorBase(ContractFeature[MirrorConfig], ABC):
    name = "mirror"
    title = "Blind mirrors"
    config_model = MirrorConfig
    migrations = Path(__file__).parent / "migrations"

    conversations: Conversations

    def __init__(self, host: Host, config: MirrorConfig) -> None:
        super().__init__(host, config)
        self.default_zone = parse_zone(config.display_timezone)
        self._rng: random.Random = random.SystemRandom()
        self._rounds: MirrorRounds | None = None

    @property
    def message_lifetime(self) -> timedelta:
        """How long released reflections stay visible (``retention.mirror_messages``)."""
        return self.host.retention.mirror_messages

    @property
    def rounds(self) -> MirrorRounds:
        # Built on first use: the pickle key is known only once the bot has started, and a DM
        # may arrive in the first sync, before start() ran.
        if self._rounds is None:
            self._rounds = MirrorRounds(self.host.db, self._master_key(), self.host.user_id)
        return self._rounds

    def _master_key(self) -> bytes | None:
        """The key that wraps round keys, derived from the operator's pickle key (never stored).
        None without a real one: then no round opens (never a constant in its place)."""
        try:
            secret = self.host.pickle_key
        except (RuntimeError, ConfigError):
            return None
        if not secret or secret in _PUBLIC_DEFAULT_KEYS:
            return None
        return crypto.master_key_from_secret(secret)

    async def zone(self, room_id: str) -> ZoneInfo:
        """The zone times are shown in for ``room_id``: the room's own, else the configured one."""
        return await self.host.settings.zone_set(room_id) or self.default_zone

    def round_key(self, what: str, round_: MirrorRound, *more: object) -> str:
        # The code as well as the id: a deleted round's id may be reused by SQLite, and a
        # reused transaction id would make the outbox drop the new message as a duplicate.
        return key(self.name, what, round_.id, round_.code, *more)

    def request_key(self, what: str, request: ConsentRequest) -> str:
        return key(self.name, "request", what, request.id, request.code)

    @abstractmethod
    def _schedule(self, round_: MirrorRound) -> None:
        """The one job a round waits for in its state (see :mod:`bots.mirror.jobs`)."""
