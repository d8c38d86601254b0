"""One bot account: its session, sync loop, dispatch of events to commands and features.

The sync loop keeps its own checkpoint. nio saves its sync token before callbacks run, so a
crash mid-handler would lose the event; here the token is saved only after every event of a
batch was handled, and each handled event id is recorded, so a restart (even one that gets an
old cached sync from Synapse) answers nothing twice and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from nio import AsyncClient, MegolmEvent, SyncResponse

from bots.config import AppConfig, BotConfig, require_pickle_key, short_pickle_key_warning
from bots.runtime import metrics
from bots.runtime.context import Context, notice, stable_key
from bots.runtime.crosssign import ensure_cross_signed
from bots.runtime.delivery import KindedSender
from bots.runtime.envelope import (
    Envelope,
    MalformedEvent,
    guard_sync_parsing,
    parse_envelope,
    usable_event_id,
)
from bots.runtime.errors import MatrixError, TransportError, UsageError, UserError
from bots.runtime.feature import Feature
from bots.runtime.ids import EventID, RoomID, UserID, server_of
from bots.runtime.matrix import Matrix, check
from bots.runtime.outbox import Outbox
from bots.runtime.router import CommandTable, Router
from bots.runtime.scheduler import Scheduler
from bots.runtime.session import bot_dir, open_client
from bots.runtime.trust import DeviceTrust
from protocols.errors import RuleError
from protocols.timespec import TimeSpecError
from storage.db import Database

log = logging.getLogger(__name__)

FeatureFactory = Callable[["BotRuntime"], Feature]
SYNC_TIMEOUT_MS = 30_000
# How long an event we could not decrypt waits for its room key before we give up on it.
UNDECRYPTED_PATIENCE_S = 120
# Joining an invited room: tries, 0.5 s apart at first, doubling up to 8 s (about 40 s in all).
JOIN_ATTEMPTS = 8
# What a room version 12 creator's "infinite" power level compares as: above any level a room
# can set (power levels are integers of at most 2**53 - 1).
CREATOR_POWER = 2**53
# A sync loop that fails this many batches in a row for a reason other than the homeserver being
# away gives up; the process then exits non-zero so that its supervisor starts it afresh.
LOOP_FAILURES_BEFORE_GIVING_UP = 5
LOOP_RESTART_DELAY_S = 1.0


class SyncLoopDied(RuntimeError):
    """A bot's sync loop could not be kept alive; the process must exit with a failure."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class BotRuntime:
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
        self.scheduler = Scheduler(self.name)
        self.features: list[Feature] = [make(self) for make in features]
        routers = list(core or []) + [f.router for f in self.features if f.router is not None]
        self.commands = CommandTable(routers)
        self.client: AsyncClient | None = None
        self.matrix: Matrix = None  # type: ignore[assignment]  # set in start()
        self.outbox: Outbox = None  # type: ignore[assignment]
        self.trust: DeviceTrust = None  # type: ignore[assignment]
        self.ready = asyncio.Event()
        self.last_sync_ok: float = 0.0
        self._stopping = asyncio.Event()
        self._undecrypted: list[tuple[float, RoomID, MegolmEvent]] = []
        self._invited_direct: dict[str, bool] = {}
        # Rooms whose join is being tried again, and the task trying.
        self._joining: dict[str, asyncio.Task[None]] = {}
        # Rooms nio does not know (tests with a fake adapter) say here whether they are DMs.
        self.direct_rooms: dict[str, bool] = {}

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (or restore), publish keys, cross-sign, and start the outbox and scheduler."""
        pickle_key = require_pickle_key(self.app)  # ConfigError without one: no default key
        if (short := short_pickle_key_warning(pickle_key)) is not None:
            log.warning("%s", short)
        self.pickle_key = pickle_key  # features derive their at-rest master keys from it
        password = self.config.password.get_secret_value() if self.config.password else None
        token = self.config.access_token.get_secret_value() if self.config.access_token else None
        self.client = await open_client(
            self.app.homeserver, self.config.user_id, self.directory,
            password=password, access_token=token, device_name=self.config.device_name,
            pickle_key=pickle_key,
        )
        guard_sync_parsing(self.client, log)  # one unparseable event must not fail every sync
        self.matrix = Matrix(self.client, share_with_unverified=self.app.encryption.share_with_unverified_devices)
        self.trust = DeviceTrust(self.matrix, self.app.encryption.share_with_unverified_devices)
        if self.client.should_upload_keys:
            check(await self.client.keys_upload())
        await ensure_cross_signed(self.matrix, self.directory / "cross_signing.json", password, pickle_key)
        self.outbox = Outbox(
            self.db, self.name, KindedSender(self.matrix).send, self.trust.prepare,
            concurrency=self.app.send_concurrency,
        )

    async def run(self) -> None:
        """Sync until stopped. Reconnects with backoff while the homeserver is away.

        A batch that fails for any other reason is tried again after a pause (each event that
        failed is already marked handled, so the retry gets past it); after
        ``LOOP_FAILURES_BEFORE_GIVING_UP`` failures in a row this raises :class:`SyncLoopDied`,
        and the process exits non-zero for its supervisor to restart it.
        """
        assert self.client is not None
        checkpoint = await self._load_checkpoint()
        await self._load_room_kinds()
        first_ever = checkpoint is None
        self.outbox.start()
        self.scheduler.start()
        backoff = 1.0
        failures = 0
        features_started = False
        while not self._stopping.is_set():
            try:
                resp = await self._sync(checkpoint, full_state=checkpoint is None or not features_started)
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
                await self._save_checkpoint(checkpoint)
                if not features_started:
                    for feature in self.features:
                        await feature.start()
                    features_started = True
                    self.ready.set()
                    log.info("%s is ready", self.name)
            except Exception as exc:  # noqa: BLE001 - restarted below, or given up on loudly
                failures += 1
                log.error(
                    "the sync loop of %s failed (%d in a row): %s\n%s", self.name, failures,
                    type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)),
                )
                if failures >= LOOP_FAILURES_BEFORE_GIVING_UP:
                    raise SyncLoopDied(f"the sync loop of {self.name} failed {failures} times in a row") from exc
                await self._sleep(min(LOOP_RESTART_DELAY_S * 2 ** (failures - 1), 60))
                continue
            failures = 0

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """Stop everything; never log out (that would destroy the device and its keys)."""
        self.stop()
        for task in list(self._joining.values()):
            task.cancel()
        self.scheduler.shutdown()
        for feature in self.features:
            stop = getattr(feature, "stop", None)
            if stop is not None:
                await stop()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.client is not None:
            await self.client.close()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _sync(self, since: str | None, full_state: bool) -> SyncResponse:
        assert self.client is not None
        sync = asyncio.ensure_future(
            self.client.sync(timeout=SYNC_TIMEOUT_MS, since=since, full_state=full_state)
        )
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
        except Exception as exc:  # noqa: BLE001 - retried on the next sync
            log.warning("key housekeeping failed: %s", type(exc).__name__)

    # -- checkpoint and dedup ---------------------------------------------------------------

    async def _load_checkpoint(self) -> str | None:
        row = await self.db.fetchone("SELECT next_batch FROM sync_checkpoint WHERE bot = ?", (self.name,))
        return row["next_batch"] if row else None

    async def _save_checkpoint(self, token: str) -> None:
        await self.db.execute(
            "INSERT INTO sync_checkpoint (bot, next_batch, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (bot) DO UPDATE SET next_batch = excluded.next_batch, updated_at = excluded.updated_at",
            (self.name, token, time.time()),
        )

    async def _already_handled(self, event_id: str) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM handled_event WHERE bot = ? AND event_id = ?", (self.name, event_id)
        )
        return row is not None

    async def _mark_handled(self, event_id: str) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO handled_event (bot, event_id, handled_at) VALUES (?, ?, ?)",
            (self.name, event_id, time.time()),
        )

    async def _joined_ts(self, room_id: str) -> int | None:
        row = await self.db.fetchone(
            "SELECT joined_ts FROM room_joined WHERE bot = ? AND room_id = ?", (self.name, room_id)
        )
        return int(row["joined_ts"]) if row else None

    async def _set_joined_ts(self, room_id: str, ts: int, overwrite: bool) -> None:
        verb = "REPLACE" if overwrite else "IGNORE"
        await self.db.execute(
            f"INSERT OR {verb} INTO room_joined (bot, room_id, joined_ts) VALUES (?, ?, ?)",
            (self.name, room_id, ts),
        )

    # -- processing a sync ------------------------------------------------------------------

    async def _process(self, resp: SyncResponse, previous: str | None, skip_timeline: bool) -> None:
        for room_id, info in resp.rooms.invite.items():
            try:
                await self._on_invite(RoomID(room_id), info)
            except Exception as exc:  # noqa: BLE001 - one room's invite must not stop the loop
                log_failure(f"invite to {room_id}", exc)
        now_ms = int(time.time() * 1000)
        for room_id, info in resp.rooms.join.items():
            room = RoomID(room_id)
            if skip_timeline:
                # First start ever: what is already in the rooms predates us. Answer nothing of it.
                await self._set_joined_ts(room, now_ms, overwrite=False)
                continue
            events = list(info.timeline.events)
            if info.timeline.limited and previous and info.timeline.prev_batch:
                events = await self._fill_gap(room, info.timeline.prev_batch, previous) + events
            for event in events:
                await self._guarded_event(room, event)
        for room_id, info in resp.rooms.leave.items():
            await self._on_removed(RoomID(room_id), info)
        await self._retry_undecrypted()

    async def _guarded_event(self, room_id: RoomID, event: Any) -> None:
        """One event, whatever happens: a failure is logged by event id and the event marked
        handled, so that neither the sync loop nor a retry of the batch trips on it again."""
        try:
            await self._on_room_event(room_id, event)
        except Exception as exc:  # noqa: BLE001 - the runtime never dies of one event
            src = event if isinstance(event, dict) else getattr(event, "source", None)
            event_id = usable_event_id(src)
            log_failure(event_id or "(an event without a usable id)", exc)
            if event_id is not None:
                await self._mark_handled(event_id)

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

    async def _on_removed(self, room_id: RoomID, info: Any) -> None:
        """Out of a room: each feature forgets it, once (by the membership event's id)."""
        event_id = None
        for event in getattr(getattr(info, "timeline", None), "events", []) or []:
            src = getattr(event, "source", None)
            if isinstance(src, dict) and src.get("type") == "m.room.member" and src.get("state_key") == self.user_id:
                event_id = usable_event_id(src)
        if event_id is not None and await self._already_handled(event_id):
            return
        self._invited_direct.pop(room_id, None)
        await self.db.execute("DELETE FROM room_kind WHERE bot = ? AND room_id = ?", (self.name, room_id))
        for feature in self.features:
            try:
                await feature.on_removed(room_id)
            except Exception as exc:  # noqa: BLE001 - one feature's failure must not stop the others
                log_failure(event_id or f"leave of {room_id}", exc)
        if event_id is not None:
            await self._mark_handled(event_id)
        log.info("out of a room; its features forgot it")

    async def _on_invite(self, room_id: RoomID, info: Any) -> None:
        inviter = None
        is_direct = False
        for event in info.invite_state:
            src = getattr(event, "source", None)
            if not isinstance(src, dict):
                continue
            if src.get("type") == "m.room.member" and src.get("state_key") == self.user_id:
                sender = src.get("sender")
                inviter = sender if isinstance(sender, str) else None
                # nio pops "content" out of the source of an invite's member event into .content
                content = src.get("content") or getattr(event, "content", None) or {}
                is_direct = isinstance(content, dict) and content.get("is_direct") is True
        if inviter is None or not self.allowed(inviter):
            log.info("declining an invite from a server that is not allowed (%s)", server_of(inviter or ""))
            try:
                await self.matrix.leave(room_id, "This bot only serves the servers its operator allows.")
            except MatrixError as exc:
                log.warning("declining an invite failed: %s", exc.errcode)
            return
        if room_id in self._joining:
            return  # already being joined (retries in progress)
        await self._remember_kind(room_id, is_direct)
        try:
            await self.matrix.join(room_id)
        except (MatrixError, TransportError) as exc:
            # Retried in the background, so that the sync loop goes on serving other rooms.
            log.info("joining an invited room failed (%s); trying again", exc.errcode or type(exc).__name__)
            task = asyncio.create_task(self._join_invited(room_id, is_direct), name="join-retry")
            self._joining[room_id] = task
            task.add_done_callback(lambda _: self._joining.pop(room_id, None))
            return
        await self._set_joined_ts(room_id, int(time.time() * 1000), overwrite=False)
        log.info("joined a room on invite (direct: %s)", is_direct)

    async def _join_invited(self, room_id: RoomID, is_direct: bool) -> None:
        """Join again for a while: over federation the invite can reach us before the
        inviting server has stored it, and a join is then refused (M_FORBIDDEN). Giving up at
        the first refusal would leave an invited bot out of the room for good."""
        delay = 0.5
        for attempt in range(2, JOIN_ATTEMPTS + 1):
            await self._sleep(delay)
            if self._stopping.is_set():
                return
            try:
                await self.matrix.join(room_id)
            except (MatrixError, TransportError) as exc:
                code = exc.errcode or type(exc).__name__
                if attempt == JOIN_ATTEMPTS:
                    log.warning("joining an invited room failed %d times: %s", attempt, code)
                    return
                delay = min(delay * 2, 8.0)
                continue
            await self._set_joined_ts(room_id, int(time.time() * 1000), overwrite=False)
            log.info("joined a room on invite after %d tries (direct: %s)", attempt, is_direct)
            return

    def allowed(self, user_id: str) -> bool:
        if user_id in self.app.access.allowed_users:
            return True
        servers = self.app.allowed_servers_for(self.name)
        return "*" in servers or server_of(user_id) in servers

    async def handle(self, room_id: RoomID, event: dict[str, Any]) -> None:
        """Handle one event as the sync loop would (checks, dedup, join time, dispatch)."""
        await self._guarded_event(room_id, event)

    async def _on_room_event(self, room_id: RoomID, event: Any) -> None:
        if isinstance(event, MegolmEvent):
            # Not decryptable yet: its key may arrive in a later sync. Ask for it and wait.
            if not await self._already_handled(event.event_id):
                self._undecrypted.append((time.time(), room_id, event))
                try:
                    assert self.client is not None
                    await self.client.request_room_key(event)
                except Exception:  # noqa: BLE001 - a duplicate request is harmless
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
                await self._mark_handled(event_id)
            return
        if env.type == "m.room.member" and env.state_key == self.user_id:
            if env.membership == "join" and env.prev_membership != "join":
                # A display-name change is not a join.
                await self._set_joined_ts(room_id, env.ts, overwrite=True)
            return
        if env.sender == self.user_id:
            return
        joined = await self._joined_ts(room_id)
        if joined is None or env.ts < joined:
            return
        if await self._already_handled(env.event_id):
            return
        try:
            await self._dispatch(room_id, env, decrypted=bool(getattr(event, "decrypted", False)))
        finally:
            # Handled, or failed in a way that handling again would not fix: never twice.
            await self._mark_handled(env.event_id)

    async def _retry_undecrypted(self) -> None:
        if not self._undecrypted:
            return
        assert self.client is not None
        waiting, self._undecrypted = self._undecrypted, []
        for since, room_id, event in waiting:
            try:
                decrypted = self.client.decrypt_event(event)
            except Exception:  # noqa: BLE001 - still no key
                decrypted = None
            if decrypted is not None and not isinstance(decrypted, MegolmEvent):
                decrypted.decrypted = True
                await self._guarded_event(room_id, decrypted)
            elif time.time() - since < UNDECRYPTED_PATIENCE_S:
                self._undecrypted.append((since, room_id, event))
            else:
                log.warning("gave up on event %s: its room key never arrived", event.event_id)
                await self._mark_handled(event.event_id)

    # -- dispatch ---------------------------------------------------------------------------

    async def _dispatch(self, room_id: RoomID, env: Envelope, decrypted: bool) -> None:
        content = env.content
        if not self.allowed(env.sender):
            return
        room = self.client.rooms.get(room_id) if self.client is not None else None
        ctx = Context(
            bot=self, room_id=room_id, sender=env.sender, event_id=env.event_id,
            body="", now=self.clock(),
            is_direct=self.is_direct(room_id),
            encrypted=decrypted or bool(room is not None and room.encrypted),
            source=env.source,
        )
        relation = env.relation
        if env.type == "m.reaction":
            # parse_envelope made sure an annotation has a string target and key.
            assert relation is not None and relation.event_id is not None and relation.key is not None
            for feature in self.features:
                await self._guarded(ctx, feature.on_reaction, ctx, EventID(relation.event_id), relation.key)
            return
        if env.type != "m.room.message" or content.get("msgtype") not in ("m.text", "m.emote"):
            return  # never answer notices, including other bots'
        if relation is not None and relation.rel_type == "m.replace":
            return  # an edit is not a new command
        ctx.body = strip_reply_fallback(str(content.get("body", "")))
        if ctx.body.startswith("!"):
            await self._command(ctx)
            return
        for feature in self.features:
            consumed = await self._guarded(ctx, feature.on_message, ctx)
            if consumed:
                return

    async def _command(self, ctx: Context) -> None:
        refusal = self.commands.too_long(ctx.body)
        if refusal is not None:
            metrics.COMMANDS.labels("unknown", "usage").inc()
            await ctx.reply(refusal)
            return
        command, name, words = self.commands.match(ctx.body)
        if command is None:
            if not name:
                return
            family = self.commands.family(name)
            if family:  # "!ghost" alone: say which of its commands there are
                metrics.COMMANDS.labels("unknown", "usage").inc()
                usages = "\n".join(f"{c.usage} — {c.help}" for c in family)
                await ctx.reply(f"!{name} needs one of:\n{usages}")
                return
            hint = self.commands.suggest(name)
            tip = f" Did you mean {', '.join('!' + h for h in hint)}?" if hint else ""
            metrics.COMMANDS.labels("unknown", "usage").inc()
            await ctx.reply(f"Unknown command !{name}.{tip} Type !help for the list.")
            return
        if command.where == "room" and ctx.is_direct:
            await ctx.reply(f"!{command.name} works in a group room, not in a direct chat.")
            return
        async def run() -> None:
            await ctx.require_power(command.power)
            args, kwargs = command.parse(words)
            await command.handler(ctx, *args, **kwargs)
        ok = await self._guarded(ctx, run)
        metrics.COMMANDS.labels(command.name, "ok" if ok is not False else "failed").inc()

    async def _guarded(self, ctx: Context, func: Any, *args: Any) -> Any:
        """The one place typed errors become replies and anything else becomes a log line."""
        try:
            result = await func(*args)
            return True if result is None else result
        except UsageError as exc:
            await ctx.reply(str(exc))
        except (UserError, RuleError, TimeSpecError) as exc:
            # A refusal: by the suite, by a rule of the ritual, or an unreadable time or zone.
            # Its text is written for the person who asked.
            await ctx.reply(str(exc))
        except Exception as exc:  # noqa: BLE001 - the runtime never dies of one event
            log_failure(ctx.event_id, exc)
            await ctx.reply("Sorry, something went wrong handling that. The operator can find it in the logs.")
        return False

    # -- helpers for features ---------------------------------------------------------------

    def feature(self, name: str) -> Feature | None:
        """This bot's feature of that name, if it is enabled."""
        return next((f for f in self.features if f.name == name), None)

    def is_direct(self, room_id: RoomID) -> bool:
        """A direct chat: just the bot and one person, in a room not invited to as a group."""
        room = self.client.rooms.get(room_id) if self.client is not None else None
        if room is None:
            return self.direct_rooms.get(room_id, False)
        return is_direct_chat(room.member_count, self._invited_direct.get(room_id))

    async def _load_room_kinds(self) -> None:
        rows = await self.db.fetchall("SELECT room_id, is_direct FROM room_kind WHERE bot = ?", (self.name,))
        self._invited_direct = {row["room_id"]: bool(row["is_direct"]) for row in rows}

    async def _remember_kind(self, room_id: RoomID, is_direct: bool) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO room_kind (bot, room_id, is_direct) VALUES (?, ?, ?)",
            (self.name, room_id, int(is_direct)),
        )
        self._invited_direct[room_id] = is_direct

    def power_needed(self, level: int | str | None) -> int | None:
        if level is None:
            return None
        if level == "moderator":
            return self.app.access.moderator_level
        if level == "admin":
            return 100
        return int(level)

    async def power_of(self, room_id: RoomID, user_id: str) -> int:
        """The user's power level, read fresh; a room version 12 creator outranks every level."""
        if user_id in await self.matrix.creators(room_id):
            return CREATOR_POWER
        levels = await self.matrix.power_levels(room_id)
        users = levels.get("users", {})
        return int(users.get(user_id, levels.get("users_default", 0)))

    async def human_members(self, room_id: RoomID) -> list[UserID]:
        """Joined members minus the bot itself, the other bots of this process and the
        accounts the operator named as bots (``other_bots``)."""
        bots = {b.user_id for b in self.app.bots} | set(self.app.other_bots)
        return [u for u in await self.matrix.joined_members(room_id) if u not in bots]

    async def post(
        self, room_id: str, text: str, html: str | None, key: str, *, wait: bool = False,
        reply_to: str | None = None, mentions: Sequence[str] = (),
    ) -> Any:
        """Post a notice through the outbox under a stable transaction key, optionally as a
        reply and mentioning people (``m.mentions``). Every feature posts this way."""
        content = notice(text, html, EventID(reply_to) if reply_to else None, mentions=mentions)
        room_id = RoomID(room_id)
        if wait:
            return await self.outbox.send(room_id, content, key)
        await self.outbox.enqueue(room_id, content, key)
        return None


def log_failure(event_id: str, exc: BaseException) -> None:
    """Log a failed handler by its event id. The exception's message is left out: it may quote
    the message body. The stack says where it happened."""
    log.error(
        "handling event %s failed: %s\n%s", event_id, type(exc).__name__,
        "".join(traceback.format_tb(exc.__traceback__)),
    )


def is_direct_chat(member_count: int, invited_direct: bool | None) -> bool:
    """Two members at most, and not a room whose invite said it is a group's.

    The invite's ``is_direct`` (None when the bot never saw the invite) tells a DM from a
    group room with one member so far; a DM that grew a third member is no longer private,
    whatever its invite said (a blind-mirror reflection must never be typed there).
    """
    if member_count > 2:
        return False
    return invited_direct is not False


def strip_reply_fallback(body: str) -> str:
    """Element quotes the replied-to message as '> ' lines before the reply itself."""
    if not body.startswith("> "):
        return body.strip()
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).strip()


__all__ = ["BotRuntime", "FeatureFactory", "stable_key"]
