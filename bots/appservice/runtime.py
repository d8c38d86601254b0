"""One bot run as an application service: the homeserver pushes room events, the bot sends with
the application service's token (no rate limits), and encryption keeps working through nio.

It is the ``/sync`` runtime (bots/runtime/bot.py) with three differences:

- the session: the registration's token and a device made without a password
  (bots/appservice/session.py);
- rooms: events arrive in transactions (bots/appservice/listener.py) and go through the same
  checks, deduplication and dispatch as synced ones; each transaction is recorded once handled
  and only then acknowledged (bots/appservice/transactions.py);
- ``/sync`` is still run, filtered to no rooms, for what only it carries: to-device messages
  (room keys), device-list changes and one-time-key counts. No experimental homeserver flag is
  needed.

The bot stays one user with one cross-signed device: no ghost users, so clients that trust only
cross-signed devices read it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

from nio import Event, MegolmEvent

from bots.appservice.listener import Listener
from bots.appservice.registration import Registration, load_registration
from bots.appservice.session import AppserviceError, open_appservice_client
from bots.appservice.transactions import TransactionLog
from bots.config import require_pickle_key
from bots.runtime.bot import BotRuntime
from bots.runtime.errors import MatrixError
from bots.runtime.ids import RoomID
from bots.runtime.matrix import Matrix, q
from bots.runtime.ratelimit_check import LIFTED
from bots.runtime.room_state import apply_state

log = logging.getLogger(__name__)

# Synapse holds what it could not deliver while the bot was down and retries only after a
# backoff (2 s, doubling up to 8.5 minutes); a ping makes it deliver at once what is waiting
# then. A command sent as the bot restarts is only waiting a few hundred milliseconds later
# (Synapse first works out which services want the event): measured with 2,000 rooms, it was
# handled 2.2 s after the restart with the first ping alone, 0.2 to 0.6 s with these. So the bot
# pings again, each this long after the previous ping (2.5 s in all): a request each, nothing
# more.
PING_AGAIN_AFTER_S = (0.1, 0.1, 0.15, 0.15, 0.25, 0.25, 0.5, 1.0)

# The /sync of this mode carries no room: only to-device, device lists and key counts.
NO_ROOMS: dict[str, Any] = {
    "room": {"rooms": []},
    "presence": {"types": []},
    "account_data": {"types": []},
}


class AppserviceRuntime(BotRuntime):
    sync_filter = NO_ROOMS
    # Room events come from the listener, not from /sync: a transaction waiting since the restart
    # is handled as soon as the features run (an encrypted event whose key the first sync
    # brings waits for it, as any undecryptable event does).
    ready_before_first_sync = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registration: Registration | None = None
        self.listener: Listener | None = None
        self.transactions = TransactionLog(self.db, self.name)
        self._txn_lock = asyncio.Lock()
        self._pinging: asyncio.Task[None] | None = None
        self.handled_transactions = 0  # read by tests and benchmarks

    async def start(self) -> None:
        settings = self.app.appservice
        if settings is None:
            raise AppserviceError("no appservice section in the config")
        pickle_key = require_pickle_key(self.app)
        self.pickle_key = pickle_key
        registration = load_registration(settings.registration, self.name)
        self.registration = registration
        await self.transactions.migrate()
        cutoff = time.time() - self.app.retention.handled_events.total_seconds()
        await self.transactions.forget_older_than(cutoff)
        self.client = await open_appservice_client(
            self.app.homeserver,
            self.name,
            self.directory,
            registration,
            settings.registration,
            device_name=self.config.device_name,
            pickle_key=pickle_key,
        )
        try:
            # Listening and the ping first: the ping makes the homeserver send at once what
            # waited while the bot was down, and the bot sets up its keys meanwhile (a
            # transaction is handled once the bot is ready).
            self.listener = Listener(
                registration.hs_token, self.handle_transaction, settings.listen_host, settings.listen_port
            )
            await self.listener.start()
            await self._ping(Matrix(self.client), registration)
            self._pinging = asyncio.create_task(self._ping_again(Matrix(self.client), registration))
            await self._set_up(self.client, None, pickle_key)
            self.rate_limit = LIFTED  # the registration says rate_limited: false
        except BaseException:  # the app never holds this bot: close what was opened
            await self.close()
            raise

    async def _ping(self, matrix: Matrix, registration: Registration) -> None:
        """Ask the homeserver to reach our listener, so that a wrong url fails now, clearly."""
        path = f"/_matrix/client/v1/appservice/{q(registration.id)}/ping"
        try:
            await matrix.api("POST", path, {"transaction_id": f"affinity-start-{int(time.time())}"})
        except MatrixError as exc:
            if exc.errcode == "M_UNRECOGNIZED" or (exc.status == 404 and exc.errcode is None):
                raise AppserviceError(
                    "the homeserver lacks the application-service ping (POST "
                    "/_matrix/client/v1/appservice/{id}/ping, Matrix 1.7): it is too old for "
                    "application-service mode"
                ) from None
            raise AppserviceError(
                f"the homeserver could not reach the bot at {registration.url} ({exc.errcode}: "
                f"{exc}); the registration's url must reach appservice.listen_host:listen_port"
            ) from None

    async def _ping_again(self, matrix: Matrix, registration: Registration) -> None:
        """The later pings (:data:`PING_AGAIN_AFTER_S`); one that fails is only logged."""
        for pause in PING_AGAIN_AFTER_S:
            await asyncio.sleep(pause)
            try:
                await self._ping(matrix, registration)
            except Exception as exc:  # the first ping worked: a later one is a courtesy
                log.info("a later ping of the homeserver failed: %s", exc)

    async def run(self) -> None:
        """The to-device sync loop (rooms come from the listener) until stopped."""
        await self._resume()
        try:
            await super().run()
        finally:
            if self.listener is not None:
                await self.listener.stop()

    async def _resume(self) -> None:
        # Rooms are never in this mode's /sync. At a restart the bot knows them already: every
        # join and leave since its first start was pushed to it and recorded (room_joined), and
        # the homeserver pushes what came while it was down. Only a first start asks.
        if self.joined_rooms:
            return
        if await self.store.load_checkpoint() is not None:
            self.joined_rooms = {RoomID(r) for r in await self.store.rooms_with_join_time()}
        if not self.joined_rooms:
            await super()._resume()

    async def _process(self, resp: Any, previous: str | None, skip_timeline: bool) -> None:
        # Synapse lists invites even in a /sync filtered to no rooms; the transactions carry
        # them already, so each invite is handled once.
        resp.rooms.invite.clear()
        await super()._process(resp, previous, skip_timeline)

    async def close(self) -> None:
        if self._pinging is not None:
            self._pinging.cancel()
            await asyncio.gather(self._pinging, return_exceptions=True)
        if self.listener is not None:
            await self.listener.stop()
        await super().close()

    # -- transactions ---------------------------------------------------------------------------

    async def handle_transaction(self, txn_id: str, events: list[dict[str, Any]]) -> None:
        """Handle every event of a transaction once, then record it; a replay is only
        acknowledged. Returns when done, so that the listener acknowledges after that."""
        await self.ready.wait()  # the features run (their jobs are rebuilt) before any event
        async with self._txn_lock:
            if await self.transactions.seen(txn_id):
                log.info("transaction %s was handled before; acknowledged again", txn_id)
                return
            for raw in events:
                await self._on_pushed(raw)
            await self._retry_undecrypted()
            await self.transactions.record(txn_id, len(events))
            self.handled_transactions += 1

    async def _on_pushed(self, raw: dict[str, Any]) -> None:
        room = RoomID(raw["room_id"])
        content = raw.get("content")
        if raw.get("type") == "m.room.member" and raw.get("state_key") == self.user_id:
            membership = content.get("membership") if isinstance(content, dict) else None
            source = SimpleNamespace(source=raw)
            if membership == "invite":
                # A newly registered service is first sent the homeserver's backlog: an old
                # invite to a room the bot is in since must not send it joining again.
                if room not in self.joined_rooms:
                    await self._on_invite(room, SimpleNamespace(invite_state=[source]))
                return
            if membership in ("leave", "ban"):
                await self._on_removed(room, SimpleNamespace(timeline=SimpleNamespace(events=[source])))
                return
        if isinstance(raw.get("state_key"), str) and self.client is not None:
            if self._room_known(room):
                apply_state(self.client, room, [raw])  # members and encryption stay current
            elif raw.get("type") == "m.room.encryption" and isinstance(self.matrix, Matrix):
                # A room known only as unencrypted is read again, whole, before the next send.
                self.matrix.room_states.forget(room)
        if raw.get("type") == "m.room.encrypted":
            await self._guarded_event(room, self._decrypted(room, raw))
            return
        await self._guarded_event(room, raw)

    def _decrypted(self, room: RoomID, raw: dict[str, Any]) -> Any:
        """The decrypted event, or the encrypted one (waiting for its key), or the raw dict
        (not a Megolm event: the envelope check refuses it)."""
        event = Event.parse_event(raw)
        if not isinstance(event, MegolmEvent) or self.client is None:
            return raw
        event.room_id = room
        try:
            decrypted = self.client.decrypt_event(event)
        except Exception:  # no key yet: the sync loop retries when keys arrive
            return event
        if decrypted is None or isinstance(decrypted, MegolmEvent):
            return event
        decrypted.decrypted = True
        return decrypted
