"""One bot account: its session and the parts that serve it, behind one façade.

:class:`BotRuntime` is what features, the app and the tests hold. It is assembled from one
module per concern:

- bots/runtime/sync.py: the sync loop, each event once (checkpoint and dedup in
  bots/runtime/sync_store.py);
- bots/runtime/membership.py: invites, removals, direct chats;
- bots/runtime/dispatch.py: an event to its command or feature hook, and the one error handler;
- bots/runtime/permissions.py: access lists, power levels, who is a person.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from nio import AsyncClient, MegolmEvent

from bots.config import AppConfig, BotConfig, require_pickle_key, short_pickle_key_warning
from bots.runtime.adapter import MatrixAdapter
from bots.runtime.crosssign import ensure_cross_signed
from bots.runtime.delivery import KindedSender
from bots.runtime.dispatch import Dispatch, strip_reply_fallback
from bots.runtime.envelope import guard_sync_parsing
from bots.runtime.errors import MatrixError, TransportError
from bots.runtime.feature import Feature
from bots.runtime.ids import RoomID, UserID
from bots.runtime.keys_ahead import KeysAhead
from bots.runtime.matrix import Matrix, check
from bots.runtime.membership import Membership, is_direct_chat
from bots.runtime.outbox import Outbox
from bots.runtime.permissions import CREATOR_POWER, Permissions
from bots.runtime.ratelimit_check import UNKNOWN, check_rate_limit
from bots.runtime.router import CommandTable, Router
from bots.runtime.scheduler import Scheduler
from bots.runtime.session import bot_dir, open_client
from bots.runtime.sync import SyncLoop, SyncLoopDied, log_failure
from bots.runtime.sync_store import SyncStore
from bots.runtime.trust import DeviceTrust
from storage.db import Database

log = logging.getLogger(__name__)

FeatureFactory = Callable[["BotRuntime"], Feature]


def utcnow() -> datetime:
    return datetime.now(UTC)


class BotRuntime(SyncLoop, Membership, Dispatch, Permissions):
    def __init__(
        self,
        app: AppConfig,
        config: BotConfig,
        db: Database,
        features: list[FeatureFactory],
        core: list[Router] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.app = app
        self.config = config
        self.db = db
        self.clock = clock
        self.name = config.user_id
        self.user_id = UserID(config.user_id)
        self.directory = bot_dir(app.data_dir, config.user_id)
        self.store = SyncStore(db, self.name)
        self.scheduler = Scheduler(self.name)
        self.features: list[Feature] = [make(self) for make in features]
        routers = list(core or []) + [f.router for f in self.features if f.router is not None]
        self.commands = CommandTable(routers)
        self.client: AsyncClient | None = None
        # The homeserver: the nio adapter (made in start()) or, in tier-2 tests, the fake.
        self.matrix: MatrixAdapter = None  # type: ignore[assignment]
        self.outbox: Outbox = None  # type: ignore[assignment]
        self.trust: DeviceTrust = None  # type: ignore[assignment]
        self.ready = asyncio.Event()
        self.last_sync_ok: float = 0.0
        self._stopping = asyncio.Event()
        self._undecrypted: list[tuple[float, RoomID, MegolmEvent]] = []
        self._invited_direct: dict[str, bool] = {}
        # Rooms whose join is being tried again, and the task trying.
        self._joining: dict[str, asyncio.Task[None]] = {}
        self._membership_repaired: set[str] = set()
        # Rooms nio does not know (tests with a fake adapter) say here whether they are DMs.
        self.direct_rooms: dict[str, bool] = {}
        # The rooms the bot is joined to, from /joined_rooms at a restart, kept up as it joins
        # and leaves (empty until then, and with the tests' fake homeserver).
        self.joined_rooms: set[RoomID] = set()
        self.rate_limit = UNKNOWN  # what the start-up check learnt (bots/runtime/ratelimit_check.py)
        # Room keys shared before a scheduled send (host.prepare_rooms); started by run().
        encryption = app.encryption
        self.keys_ahead = KeysAhead(
            self._share_ahead, clock, encryption.keys_ahead, encryption.keys_ahead_per_second
        )

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (or restore), publish keys, cross-sign, and make the outbox (which sends by
        kind: messages, edits, redactions, uploads)."""
        pickle_key = require_pickle_key(self.app)  # ConfigError without one: no default key
        if (short := short_pickle_key_warning(pickle_key)) is not None:
            log.warning("%s", short)
        self.pickle_key = pickle_key  # features derive their at-rest master keys from it
        password = self.config.password.get_secret_value() if self.config.password else None
        token = self.config.access_token.get_secret_value() if self.config.access_token else None
        self.client = await open_client(
            self.app.homeserver,
            self.config.user_id,
            self.directory,
            password=password,
            access_token=token,
            device_name=self.config.device_name,
            pickle_key=pickle_key,
        )
        matrix = await self._set_up(self.client, password, pickle_key)
        self.rate_limit = await check_rate_limit(matrix, self.name)

    async def _set_up(self, client: AsyncClient, password: str | None, pickle_key: str) -> Matrix:
        """What follows the login in every mode: the adapter, device trust, keys up,
        cross-signing, the outbox."""
        guard_sync_parsing(client, log)  # one unparseable event must not fail every sync
        share = self.app.encryption.share_with_unverified_devices
        matrix = Matrix(client, share_with_unverified=share)
        self.matrix = matrix
        self.trust = DeviceTrust(matrix, share)
        if client.should_upload_keys:
            check(await client.keys_upload())
        await ensure_cross_signed(matrix, self.directory / "cross_signing.json", password, pickle_key)
        self.outbox = Outbox(
            self.db,
            self.name,
            KindedSender(matrix).send,
            self._prepare_send,
            concurrency=self.app.send_concurrency,
        )
        return matrix

    async def _prepare_send(self, room_id: RoomID) -> None:
        """Before a send: the room's state once (who gets the key), then the devices' trust."""
        if isinstance(self.matrix, Matrix):
            await self.matrix.load_room_for_send(room_id)
        await self.trust.prepare(room_id)
        if isinstance(self.matrix, Matrix):
            # Only once every member device holds the room key (or the wait ran out).
            await self.matrix.key_coverage.ensure(room_id)

    # -- rooms, without a full-state sync ----------------------------------------------------

    async def _load_room(self, room_id: RoomID) -> None:
        """The room's state, once per process (bots/runtime/room_state.py); nothing to do with
        the tests' fake homeserver, which has no nio rooms."""
        if isinstance(self.matrix, Matrix):
            await self.matrix.load_room(room_id)

    def _room_known(self, room_id: RoomID) -> bool:
        if isinstance(self.matrix, Matrix):
            return self.matrix.room_states.is_loaded(room_id)
        return True

    def _forget_room_state(self, room_id: RoomID) -> None:
        self.joined_rooms.discard(room_id)
        if isinstance(self.matrix, Matrix):
            self.matrix.room_states.forget(room_id)
            self.matrix.key_coverage.forget(room_id)

    async def _share_ahead(self, room_id: RoomID) -> bool:
        """One room's keys ahead of a send: its state, its devices' trust, then the session."""
        if not isinstance(self.matrix, Matrix):
            return False
        await self.matrix.load_room_for_send(room_id)
        await self.trust.prepare(room_id)
        return await self.matrix.share_room_key(room_id)

    async def _resume(self) -> None:
        """A restart: learn the joined rooms from ``/joined_rooms`` (not from a full-state sync).
        A room with no join time recorded gets one now, as on a first start."""
        if not isinstance(self.matrix, Matrix):
            return
        try:
            rooms = await self.matrix.joined_rooms()
        except (MatrixError, TransportError) as exc:
            log.warning("could not list the joined rooms: %s", type(exc).__name__)
            return
        self.joined_rooms = set(rooms)
        known = await self.store.rooms_with_join_time()
        missing = [room for room in rooms if room not in known]
        if missing:
            await self.store.set_joined_ts_many(missing, int(time.time() * 1000))
        log.info("%s resumes in %d rooms", self.name, len(rooms))

    async def close(self) -> None:
        """Stop everything; never log out (that would destroy the device and its keys)."""
        self.stop()
        for task in list(self._joining.values()):
            task.cancel()
        self.scheduler.shutdown()
        await self.keys_ahead.stop()
        for feature in self.features:
            stop = getattr(feature, "stop", None)
            if stop is not None:
                await stop()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.client is not None:
            await self.client.close()

    # -- the sync store, as tests and tools reach it ------------------------------------------

    async def _already_handled(self, event_id: str) -> bool:
        return await self.store.already_handled(event_id)

    async def _load_checkpoint(self) -> str | None:
        return await self.store.load_checkpoint()

    async def _save_checkpoint(self, token: str) -> None:
        await self.store.save_checkpoint(token)

    async def _joined_ts(self, room_id: str) -> int | None:
        return await self.store.joined_ts(room_id)

    async def _set_joined_ts(self, room_id: str, ts: int, overwrite: bool) -> None:
        """When the bot joined the room: events older than that are never answered."""
        await self.store.set_joined_ts(room_id, ts, overwrite)


__all__ = [
    "CREATOR_POWER",
    "BotRuntime",
    "FeatureFactory",
    "SyncLoopDied",
    "is_direct_chat",
    "log_failure",
    "strip_reply_fallback",
]
