"""The sync loop of one bot: sync, housekeeping, each event of a batch once, then the checkpoint.

nio saves its sync token before callbacks run, so a crash mid-handler would lose the event; here
the token is saved only after every event of a batch was handled (bots/runtime/sync_store.py),
so a restart answers nothing twice and loses nothing. Each event goes through
:meth:`SyncLoop._guarded_event`: checked (bots/runtime/envelope.py), deduplicated, then handed to
the dispatcher (bots/runtime/dispatch.py); membership changes of the bot itself go to
bots/runtime/membership.py.

A restart resumes from the checkpoint with an incremental sync, never a full-state one: the
first sync of a process returns at once (timeout 0), the joined rooms come from
``/joined_rooms``, and each room's state is loaded once, when first needed
(bots/runtime/room_state.py). The very first start (no checkpoint) does the same, with a first
sync filtered to no room state or timeline: it gives the checkpoint and the waiting invites.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from nio import AsyncClient, MegolmEvent, SyncResponse

from bots.runtime import metrics
from bots.runtime.adapter import MatrixAdapter
from bots.runtime.envelope import Envelope, MalformedEvent, parse_envelope, usable_event_id
from bots.runtime.errors import Forbidden, MatrixError, TransportError
from bots.runtime.ids import RoomID, UserID
from bots.runtime.matrix import Matrix, check
from bots.runtime.sync_lean import spare_nio
from bots.runtime.sync_store import SyncStore

if TYPE_CHECKING:
    from bots.runtime.feature import Feature
    from bots.runtime.keys_ahead import KeysAhead
    from bots.runtime.outbox import Outbox
    from bots.runtime.scheduler import Scheduler
    from bots.runtime.trust import DeviceTrust

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
# The very first sync (no checkpoint) answers nothing of what it returns: it is for the
# checkpoint, to-device messages, key counts and the invites that came before the first start.
# So it asks for no room's state, timeline or account data; the joined rooms come from
# ``/joined_rooms`` as at a restart, and each room's state is loaded when first needed. An
# initial sync of a thousand rooms' state cost Synapse tens of seconds of CPU, and nio as many
# seconds again to validate every event. (Not ``"rooms": []``: Synapse then leaves the invites
# out too, and an invite sent before the bot's first start would never be seen.)
FIRST_SYNC_FILTER: dict[str, Any] = {
    "room": {
        "timeline": {"limit": 0},
        "state": {"types": []},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
    "presence": {"types": []},
    "account_data": {"types": []},
}

# Every sync after the first: receipts, typing and presence, which no feature reads, stay out.
# (The bot's own events stay in, outside a fan-out: a filter on the sender hides its own leave
# too, and a room it left, or that an admin shut down, must be forgotten. During a fan-out they
# are left out and the joined rooms compared afterwards: fan_out_sync_filter.)
RUNNING_SYNC_FILTER: dict[str, Any] = {
    "room": {"ephemeral": {"types": []}},
    "presence": {"types": []},
}
# While the outbox fans out (more rooms waiting than it sends to at once), each send's echo
# would end the long poll at once: a sync per message, paid by the homeserver and by nio's
# parsing. Then the loop syncs once every this long, without long-polling, and leaves its own
# events out of the timelines (fan_out_sync_filter): the homeserver then skips a room whose only
# news is the bot's echo instead of computing its entry (its state, its unread counts), which
# was a fifth of its work in a phase to a thousand rooms. A command's answer waits at most this
# long behind a phase, which holds its turn anyway.
FAN_OUT_SYNC_PAUSE_S = 1.0


def fan_out_sync_filter(user_id: str) -> dict[str, Any]:
    """The running filter without the bot's own events in the timelines. Its own state events
    still reach the room state (Synapse counts a state change the filtered timeline leaves out
    in the ``state`` block), but not its own leave: a room it left meanwhile is found by
    comparing ``/joined_rooms`` once the fan-out ends (:meth:`SyncLoop._recheck_joined`)."""
    return {
        "room": {"ephemeral": {"types": []}, "timeline": {"not_senders": [user_id]}},
        "presence": {"types": []},
    }


# How long an event we could not decrypt waits for its room key before we give up on it.
UNDECRYPTED_PATIENCE_S = 120
# A sync loop that fails this many batches in a row for a reason other than the homeserver being
# away gives up; the process then exits non-zero so that its supervisor starts it afresh.
LOOP_FAILURES_BEFORE_GIVING_UP = 5
LOOP_RESTART_DELAY_S = 1.0


class SyncLoopDied(RuntimeError):
    """A bot's sync loop could not be kept alive; the process must exit with a failure."""


def log_failure(event_id: str, exc: BaseException) -> None:
    """Log a failed handler by its event id. The exception's message is left out: it may quote
    the message body. The stack says where it happened."""
    log.error(
        "handling event %s failed: %s\n%s",
        event_id,
        type(exc).__name__,
        "".join(traceback.format_tb(exc.__traceback__)),
    )


class SyncLoop:
    """Part of :class:`~bots.runtime.bot.BotRuntime`: the loop and what it does per event."""

    name: str
    user_id: UserID
    client: AsyncClient | None
    matrix: MatrixAdapter
    outbox: Outbox
    scheduler: Scheduler
    trust: DeviceTrust
    features: list[Feature]
    store: SyncStore
    keys_ahead: KeysAhead
    ready: asyncio.Event
    last_sync_ok: float
    _stopping: asyncio.Event
    _undecrypted: list[tuple[float, RoomID, MegolmEvent]]
    joined_rooms: set[RoomID]
    # None: every room. Application-service mode filters rooms out (its events are pushed).
    sync_filter: dict[str, Any] | None = None
    # Ready (features started, events handled) only once the first sync is through, so that
    # ready means caught up; application-service mode, whose events are pushed, need not wait.
    ready_before_first_sync = False
    # The sync about to be made leaves the bot's own events out (set by the loop, per sync).
    hiding_own_events = False

    if TYPE_CHECKING:  # provided by the other parts of the runtime

        async def _load_room_kinds(self) -> None: ...
        async def _load_room(self, room_id: RoomID) -> None: ...
        async def _resume(self) -> None: ...
        async def _on_invite(self, room_id: RoomID, info: Any) -> None: ...
        async def _on_removed(self, room_id: RoomID, info: Any) -> None: ...
        async def _repair_membership(self, room_id: RoomID) -> bool: ...
        async def _dispatch(self, room_id: RoomID, env: Envelope, decrypted: bool) -> None: ...

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Sync until stopped. Reconnects with backoff while the homeserver is away.

        A batch that fails for any other reason is tried again after a pause (each event that
        failed is already marked handled, so the retry gets past it); after
        ``LOOP_FAILURES_BEFORE_GIVING_UP`` failures in a row this raises :class:`SyncLoopDied`,
        and the process exits non-zero for its supervisor to restart it.
        """
        assert self.client is not None
        if isinstance(self.client, AsyncClient):
            spare_nio(self.client, self.user_id)  # its own echoes are not parsed (sync_lean.py)
        checkpoint = await self.store.load_checkpoint()
        await self._load_room_kinds()
        first_ever = checkpoint is None
        # The joined rooms, from /joined_rooms (a room without a join time gets one now: on the
        # first start ever that is every room, so nothing said before is answered).
        await self._resume()
        self.outbox.start()
        self.keys_ahead.start()
        self.scheduler.start()
        backoff = 1.0
        failures = 0
        features_started = False
        if self.ready_before_first_sync:
            await self._start_features()
            features_started = True
        at_once = True
        echoes_hidden = False  # a sync left the bot's own events out: its own leave too
        while not self._stopping.is_set():
            # During a fan-out: a sync a second without the bot's echoes (not a long poll: the
            # homeserver would compute, and drop, a sync for every echo that woke it).
            hide = self.sync_filter is None and checkpoint is not None and self.outbox.fanning_out()
            if echoes_hidden and not hide:
                # The fan-out is over: learn now of a room left meanwhile, not after the next long
                # poll (which nothing may wake for half a minute). /joined_rooms is current, so
                # every leave up to the last hidden sync is in it; later ones the next sync shows.
                try:
                    await self._recheck_joined()
                    echoes_hidden = False
                except Exception:  # a feature's leave handler: log it, try again after the sync
                    log.exception("forgetting the rooms left during a fan-out failed")
            try:
                # The first sync of a process returns at once: ready means caught up.
                self.hiding_own_events = hide
                resp = await self._sync(checkpoint, at_once or hide)
            except (TransportError, MatrixError) as exc:
                if self._stopping.is_set():
                    break
                log.warning("sync failed (%s); retrying in %.0fs", type(exc).__name__, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 60)
                continue
            backoff = 1.0
            self.last_sync_ok = time.time()
            metrics.LAST_SYNC.labels(self.name).set(self.last_sync_ok)
            try:
                await self._housekeeping(resp)
                await self._process(resp, previous=checkpoint, skip_timeline=first_ever)
                first_ever = False
                checkpoint = resp.next_batch
                await self.store.save_checkpoint(checkpoint)
                if hide:
                    echoes_hidden = True
                at_once = False
                if not features_started:
                    await self._start_features()
                    features_started = True
            except Exception as exc:
                failures += 1
                log.error(
                    "the sync loop of %s failed (%d in a row): %s\n%s",
                    self.name,
                    failures,
                    type(exc).__name__,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                if failures >= LOOP_FAILURES_BEFORE_GIVING_UP:
                    raise SyncLoopDied(
                        f"the sync loop of {self.name} failed {failures} times in a row"
                    ) from exc
                await self._sleep(min(LOOP_RESTART_DELAY_S * 2 ** (failures - 1), 60))
                continue
            failures = 0
            if self.outbox.fanning_out():
                await self._sleep(FAN_OUT_SYNC_PAUSE_S)  # one sync for many echoes

    async def _recheck_joined(self) -> None:
        """After syncs that left the bot's own events out: a room it is no longer in (its own
        leave, or an admin's shutdown of the room, sent in its name) is forgotten as a synced
        leave would have it forgotten."""
        if not isinstance(self.matrix, Matrix):
            return
        try:
            now = set(await self.matrix.joined_rooms())
        except (MatrixError, TransportError) as exc:
            log.warning("could not list the joined rooms after a fan-out: %s", type(exc).__name__)
            return
        for room_id in sorted(set(self.joined_rooms) - now):
            await self._on_removed(room_id, None)

    async def _start_features(self) -> None:
        for feature in self.features:
            await feature.ready()  # its own migrations, before its tables are read
            await feature.start()
        self.ready.set()
        log.info("%s is ready", self.name)

    def stop(self) -> None:
        self._stopping.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _sync(self, since: str | None, at_once: bool) -> SyncResponse:
        """One incremental sync from ``since`` (never ``full_state``); ``at_once``: do not
        long-poll (the first sync of a process, so that it is ready as soon as it caught up).
        Without the bot's own events while ``hiding_own_events`` (during a fan-out)."""
        assert self.client is not None
        timeout = 0 if at_once else SYNC_TIMEOUT_MS
        chosen = self.sync_filter
        if chosen is None:
            if since is None:
                chosen = FIRST_SYNC_FILTER
            else:
                hide = self.hiding_own_events
                chosen = fan_out_sync_filter(self.user_id) if hide else RUNNING_SYNC_FILTER
        sync = asyncio.ensure_future(self.client.sync(timeout=timeout, since=since, sync_filter=chosen))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({sync, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if sync not in done:
            sync.cancel()
            raise TransportError("stopping")
        try:
            resp = sync.result()
        except Exception as exc:  # aiohttp and timeouts: the homeserver is away
            raise TransportError(f"sync: {type(exc).__name__}") from exc
        return check(resp)

    async def _housekeeping(self, resp: SyncResponse) -> None:
        """What nio's sync_forever would do: keys up and down, to-device messages out."""
        client = self.client
        assert client is not None
        try:
            if resp.device_list.changed:
                self.trust.invalidate(list(resp.device_list.changed))
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()
        except Exception as exc:  # retried on the next sync
            log.warning("key housekeeping failed: %s", type(exc).__name__)

    # -- one batch --------------------------------------------------------------------------

    async def _process(self, resp: SyncResponse, previous: str | None, skip_timeline: bool) -> None:
        for room_id, info in resp.rooms.invite.items():
            try:
                await self._on_invite(RoomID(room_id), info)
            except Exception as exc:  # one room's invite must not stop the loop
                log_failure(f"invite to {room_id}", exc)
        if skip_timeline:
            # First start ever: what is already in the rooms predates us. Answer nothing of it.
            await self.store.set_joined_ts_many(list(resp.rooms.join), int(time.time() * 1000))
        for room_id, info in resp.rooms.join.items():
            room = RoomID(room_id)
            if skip_timeline:
                continue
            events = list(info.timeline.events)
            if info.timeline.limited and previous and info.timeline.prev_batch:
                events = await self._fill_gap(room, info.timeline.prev_batch, previous) + events
            for event in events:
                await self._guarded_event(room, event)
        for room_id, info in resp.rooms.leave.items():
            await self._on_removed(RoomID(room_id), info)
        await self._retry_undecrypted()

    async def _fill_gap(self, room_id: RoomID, prev_batch: str, until: str) -> list[Any]:
        """A limited timeline skipped events; fetch them from /messages back to our checkpoint."""
        gathered: list[Any] = []
        token: str | None = prev_batch
        for _ in range(20):  # at most 2000 events: a longer gap is old news
            if token is None:
                break
            try:
                chunk, end = await self.matrix.messages(room_id, token, until)
            except MatrixError as exc:
                log.warning("could not fill a timeline gap in a room: %s", type(exc).__name__)
                break
            gathered.extend(chunk)
            if not chunk or end == token:
                break
            token = end
        gathered.reverse()
        log.info("filled a timeline gap with %d events", len(gathered))
        return gathered

    # -- one event --------------------------------------------------------------------------

    async def handle(self, room_id: RoomID, event: dict[str, Any]) -> None:
        """Handle one event as the sync loop would (checks, dedup, join time, dispatch)."""
        await self._guarded_event(room_id, event)

    async def _guarded_event(self, room_id: RoomID, event: Any) -> None:
        """One event, whatever happens: a failure is logged by event id and the event marked
        handled, so that neither the sync loop nor a retry of the batch trips on it again."""
        try:
            await self._on_room_event(room_id, event)
        except Exception as exc:  # the runtime never dies of one event
            src = event if isinstance(event, dict) else getattr(event, "source", None)
            event_id = usable_event_id(src)
            log_failure(event_id or "(an event without a usable id)", exc)
            if event_id is not None:
                await self.store.mark_handled(event_id)

    async def _on_room_event(self, room_id: RoomID, event: Any) -> None:
        if isinstance(event, MegolmEvent):
            joined = await self.store.joined_ts(room_id)
            if joined is None or event.server_timestamp < joined:
                # From before the bot joined (a joining bot's first sync shows some history): it
                # would be skipped once decrypted, and its key was never meant for this device.
                # Not asking for it spares the senders' servers, and a loaded machine the retries.
                return
            # Not decryptable yet: its key may arrive in a later sync. Ask for it and wait.
            if not await self.store.already_handled(event.event_id):
                self._undecrypted.append((time.time(), room_id, event))
                try:
                    assert self.client is not None
                    await self.client.request_room_key(event)
                except Exception:  # a duplicate request is harmless
                    pass
            return
        src = event if isinstance(event, dict) else getattr(event, "source", None)
        try:
            env = parse_envelope(src)
        except MalformedEvent as exc:
            # Skipped, and never again: its id (if it has one) and what was wrong, not its text.
            event_id = usable_event_id(src)
            log.warning("skipping malformed event %s: %s", event_id or "(no usable id)", exc)
            if event_id is not None:
                await self.store.mark_handled(event_id)
            return
        if env.type == "m.room.member" and env.state_key == self.user_id:
            if env.membership == "join" and env.prev_membership != "join":
                # A display-name change is not a join.
                await self.store.set_joined_ts(room_id, env.ts, overwrite=True)
            return
        if env.sender == self.user_id:
            return
        joined = await self.store.joined_ts(room_id)
        if joined is None or env.ts < joined:
            return
        if await self.store.already_handled(env.event_id):
            return
        try:
            try:
                await self._load_room(room_id)  # members and encryption, once per room
            except Forbidden:
                # The sync delivers the room but the homeserver refuses to show it: it counts
                # the bot out of a room it is in (membership.py). Put that right, then go on.
                if not await self._repair_membership(room_id):
                    raise
                await self._load_room(room_id)
            await self._dispatch(room_id, env, decrypted=bool(getattr(event, "decrypted", False)))
        finally:
            # Handled, or failed in a way that handling again would not fix: never twice.
            await self.store.mark_handled(env.event_id)

    async def _retry_undecrypted(self) -> None:
        if not self._undecrypted:
            return
        assert self.client is not None
        waiting, self._undecrypted = self._undecrypted, []
        for since, room_id, event in waiting:
            try:
                decrypted = self.client.decrypt_event(event)
            except Exception:  # still no key
                decrypted = None
            if decrypted is not None and not isinstance(decrypted, MegolmEvent):
                decrypted.decrypted = True
                await self._guarded_event(room_id, decrypted)
            elif time.time() - since < UNDECRYPTED_PATIENCE_S:
                self._undecrypted.append((since, room_id, event))
            else:
                log.warning("gave up on event %s: its room key never arrived", event.event_id)
                await self.store.mark_handled(event.event_id)
