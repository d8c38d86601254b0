"""The role-lottery feature: draws from commitment to reveal, mandates that end on their own,
chance groupings, and cell rooms with a sunset.

Every step that happens at a time is a scheduled job carrying only ids, rebuilt from the
tables at start-up (a job whose time passed while the bot was down runs at once):

- ``lottery-reveal-<draw>``: :meth:`Draws.complete` reveals once, even if the job fires twice
  across a restart; the result message is enqueued in the same transaction, so a crash never
  leaves a revealed draw unannounced;
- ``lottery-remind-<k>`` / ``lottery-expire-<k>`` for each mandate: the holder's reminder, and
  the vacancy (with a new draw if the room wants one);
- ``lottery-sunset-<cell>``: a cell room's closing note, then the bot leaves.

Messages go through the outbox with transaction keys derived from what caused them (the
command's event id, the draw id, the mandate's end), so a retry never doubles one. Seeds come
from :mod:`secrets`; orders and groupings from :class:`random.SystemRandom`. Logs carry draw
ids and counts, never a message body.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bots.lottery import render
from bots.lottery.commands import router
from bots.runtime.context import Context, notice, stable_key
from bots.runtime.errors import PERMANENT, MatrixError, UsageError, UserError
from bots.runtime.feature import Feature
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.scheduler import Job
from protocols.errors import RuleError
from protocols.groups import (
    DEFAULT_CELL_MAX,
    DEFAULT_CELL_MIN,
    cells,
    check_cell_rooms,
    pairs_in,
    parse_cell_bounds,
    speaking_order,
    triads,
)
from protocols.lottery import (
    parse_roles,
    parse_switch,
    parse_term,
    parse_window,
    pool,
    prepare,
    problems,
    roles_to_draw,
)
from protocols.mandates import Mandate, reminder_at
from protocols.timespec import format_duration, format_local
from storage.ghostchair import RoomZones
from storage.lottery import (
    DrawHistory,
    Draws,
    Groupings,
    LotteryRooms,
    MandateStore,
    Redraws,
    SeedUnavailable,
    Stepbacks,
    StoredDraw,
    forget_lottery,
    forget_room,
    seed_key_from_secret,
)
from storage.lottery_rooms import CellRoom, CellRooms, RoomOptions

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

UTC = ZoneInfo("UTC")
SEED_BYTES = 32
# A closing note that cannot be sent or a leave that fails for now is tried again this much later.
SUNSET_RETRY = timedelta(minutes=5)
# Cells planned but never given a room (a crash mid-command) are forgotten after this.
UNFINISHED_CELLS = timedelta(days=1)
# The period of the daily cap on cell rooms per room (protocols.groups.MAX_CELL_ROOMS_PER_DAY).
CELL_ROOM_DAY = timedelta(days=1)
# How often a reveal that is due checks again whether its commitment has been delivered yet.
COMMITMENT_RECHECK = timedelta(seconds=10)
# Only when the bot runs without a pickle key (tests; the runtime refuses to start without one).
UNKEYED = "affinity-lottery-without-a-pickle-key"


class CommitmentRefused(Exception):
    """A draw's commitment message was refused for good by the room."""


def commit_txn(draw_id: str) -> str:
    return f"lottery-commit-{draw_id}"


def draw_id_for(bot: str, key: str) -> str:
    """A draw's id from the bot and the key of what started it: handled again, the same draw;
    another bot in the same room handling the same command, another draw (its own)."""
    return stable_key("lottery-draw", bot, key)[:10]


class LotteryFeature(Feature):
    name = "lottery"
    router = router

    def __init__(self, bot: BotRuntime) -> None:
        super().__init__(bot)
        self.config = bot.app.features.lottery
        self.retention = bot.app.retention.draw_history
        db, me = bot.db, bot.user_id  # every row read or written here is this bot's own
        self.rooms = LotteryRooms(db, me, self.config.default_roles, self.config.default_term)
        self.options = RoomOptions(db, me, self.config.commit_window, self.config.redraw_on_expiry)
        self.mandates = MandateStore(db, me)
        self.draws = Draws(db, me, self._seed_key)
        self._sealing_key: bytes | None = None
        self.history = DrawHistory(db, me)
        self.stepbacks = Stepbacks(db, me)
        self.groupings = Groupings(db, me)
        self.cell_rooms = CellRooms(db, me)
        self.redraws = Redraws(db, me)
        self.zones = RoomZones(db)
        self._rng = random.SystemRandom()

    def _seed_key(self) -> bytes:
        """The key draw seeds are sealed under, from the operator's pickle key (known only once
        the bot has started, so derived on first use and kept in memory only)."""
        if self._sealing_key is None:
            secret = getattr(self.bot, "pickle_key", None)
            if not secret:
                log.warning(
                    "lottery: no pickle key; draw seeds are sealed under a fixed key, so a copy "
                    "of the database could be used to steer open draws"
                )
                secret = UNKEYED
            self._sealing_key = seed_key_from_secret(secret)
        return self._sealing_key

    # -- the public API (the ghost chair calls these at a gathering's start) ------------------

    async def open_draw(self, room_id: RoomID, key: str) -> str | None:
        """Start a draw of the room's vacant roles as !draw would (commitment now, reveal after
        the window); key makes the commitment message's txn stable. Returns the draw id, or None
        after posting a short note when there is nothing to draw (no vacancy / empty pool)."""
        try:
            return await self._open_draw(room_id, key, (), None)
        except (UserError, RuleError) as exc:
            await self.bot.post(room_id, str(exc), None, f"lottery-note-{stable_key(key)}")
            return None

    async def post_order(self, room_id: RoomID, key: str) -> None:
        """Post a random speaking order of the pool as !order would, with a stable txn key."""
        txn = f"lottery-order-{stable_key(key)}"
        try:
            order = await self._order(room_id)
        except RuleError as exc:
            await self.bot.post(room_id, str(exc), None, txn)
            return
        await self.bot.post(room_id, *render.numbered("Speaking order, by chance:", order), txn)

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
            len(pending), len(mandates), len(cells_open),
        )

    async def sweep(self, now: datetime) -> None:
        """Forget draws, history and groupings past ``retention.draw_history``."""
        deleted = await forget_lottery(self.bot.db, now - self.retention, now)
        deleted += await self.cell_rooms.forget_unfinished(now - UNFINISHED_CELLS)
        if deleted:
            log.info("lottery: forgot %d rows", deleted)

    async def on_removed(self, room_id: RoomID) -> None:
        """Out of the room: its roles, mandates, draws and history are forgotten (jobs that
        still fire find nothing and do nothing)."""
        for mandate in (await self.mandates.current(room_id)).values():
            self._cancel_mandate(mandate)
        deleted = await forget_room(self.bot.db, self.bot.user_id, room_id)
        deleted += await self.options.forget_room(room_id)
        if deleted:
            log.info("lottery: out of a room, forgot %d rows", deleted)

    async def on_reaction(self, ctx: Context, target: EventID, key: str) -> None:
        """A reaction to a commitment message is a contribution: its event id."""
        await self._contribute(ctx, target)

    async def on_message(self, ctx: Context) -> bool:
        """A reply to a commitment message is a contribution too (its text is never read)."""
        content = ctx.source.get("content") or {}
        target = ((content.get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id")
        if not isinstance(target, str) or ctx.is_direct:
            return False
        return await self._contribute(ctx, EventID(target))

    # -- helpers ----------------------------------------------------------------------------

    async def zone_of(self, room_id: str) -> ZoneInfo:
        """The room's zone as the ghost chair keeps it (``room_setting``), else UTC."""
        return await self.zones.get(room_id) or UTC

    async def pool_of(self, room_id: str, now: datetime) -> tuple[str, ...]:
        """Joined humans minus those who stepped back; never the bot."""
        members = await self.bot.human_members(RoomID(room_id))
        stepped = await self.stepbacks.active(room_id, now)
        return pool(members, stepped, [self.bot.user_id], now)

    def _at(self, job_id: str, when: datetime, job: Job, *ids: str | int) -> None:
        self.bot.scheduler.cancel(job_id)  # a stopped scheduler would otherwise keep both
        self.bot.scheduler.at(job_id, when, job, *ids)

    # -- draws ------------------------------------------------------------------------------

    async def _open_draw(
        self, room_id: RoomID, key: str, requested: Sequence[str], reply_to: EventID | None
    ) -> str:
        """Fix the inputs and a fresh secret seed, store them, post the commitment."""
        draw_id = draw_id_for(self.bot.user_id, key)
        existing = await self.draws.get(draw_id)
        if existing is not None:  # handled before a crash: the same draw, never a second one
            if existing.state == "committed":
                self._schedule_reveal(draw_id, existing.reveal_at)
            return draw_id
        now = self.bot.clock()
        zone = await self.zone_of(room_id)
        open_ = await self.draws.pending(room_id)
        if open_:
            raise UserError(
                f"Draw {open_[0].draw_id} is still open here: its result comes "
                f"{format_local(open_[0].reveal_at, zone)}. Draw again after it."
            )
        setup = await self.rooms.setup(room_id)
        current = await self.mandates.current(room_id)
        held = [role for role, m in current.items() if m.active(now)]
        wanted = roles_to_draw(setup.roles, held, requested)
        inputs = prepare(
            room_id,
            draw_id,
            await self.pool_of(room_id, now),
            wanted,
            await self.mandates.held_counts(room_id, now),
            await self.history.recent(room_id),
        )
        options = await self.options.get(room_id)
        reveal_at = now + options.commit_window
        seed = secrets.token_bytes(SEED_BYTES)
        async with self.bot.db.transaction():
            digest = await self.draws.create(inputs, seed, reveal_at, now)
            text, html = render.commitment(inputs, digest, options.commit_window, reveal_at, zone)
            await self.bot.outbox.enqueue(
                room_id, notice(text, html, reply_to), commit_txn(draw_id)
            )
        self._schedule_reveal(draw_id, reveal_at)
        log.info("draw %s committed: %d roles, pool of %d", draw_id, len(wanted), len(inputs.pool))
        return draw_id

    def _schedule_reveal(self, draw_id: str, when: datetime) -> None:
        self._at(f"lottery-reveal-{draw_id}", when, self._reveal, draw_id)

    async def _commit_event(self, draw: StoredDraw) -> str | None:
        """The commitment message's event id, once the outbox has sent it."""
        if draw.commit_event_id is not None:
            return draw.commit_event_id
        delivery = await self.bot.outbox.delivery(commit_txn(draw.draw_id))
        if delivery is None or delivery.event_id is None:
            return None
        await self.draws.set_commit_event(draw.draw_id, delivery.event_id)
        return str(delivery.event_id)

    async def _draw_for_event(self, room_id: str, event_id: str) -> StoredDraw | None:
        draw = await self.draws.by_commit_event(event_id)
        if draw is not None:
            return draw if draw.room == room_id else None
        for pending in await self.draws.pending(room_id):
            if pending.commit_event_id is None and await self._commit_event(pending) == event_id:
                return await self.draws.get(pending.draw_id)
        return None

    async def _contribute(self, ctx: Context, target: EventID) -> bool:
        draw = await self._draw_for_event(ctx.room_id, target)
        if draw is None or draw.state != "committed":
            return False
        if await self.draws.add_contribution(draw.draw_id, ctx.event_id, ctx.now):
            log.info("draw %s: a contribution", draw.draw_id)
        return True

    async def _window_end(self, draw: StoredDraw) -> datetime | None:
        """When the window for chance ends: the draw's window counted from the moment the
        commitment reached the room (never earlier than first announced). None while it is not
        delivered yet; :class:`CommitmentRefused` if the room refused it for good."""
        delivery = await self.bot.outbox.delivery(commit_txn(draw.draw_id))
        if delivery is None:  # its outbox row was forgotten long ago: as stored
            return draw.reveal_at
        if delivery.state == "pending":
            return None
        if delivery.state != "sent" or delivery.sent_at is None:
            raise CommitmentRefused(delivery.error or delivery.state)
        delivered = datetime.fromtimestamp(delivery.sent_at, UTC)
        return max(draw.reveal_at, delivered + draw.window)

    async def _reveal(self, draw_id: str) -> None:
        """Reveal once: the result and its announcement land together, or neither does."""
        draw = await self.draws.get(draw_id)
        if draw is None or draw.state != "committed":
            return
        now = self.bot.clock()
        try:
            ends = await self._window_end(draw)
        except CommitmentRefused as exc:
            # Nobody saw the commitment, so nobody could add chance: the seed alone must not
            # decide. The room refused the bot, so there is nobody to tell either.
            await self.draws.void(draw_id)
            log.warning("draw %s called off: its commitment was refused (%s)", draw_id, exc)
            return
        if ends is None:  # not in the room yet: the window has not begun
            self._schedule_reveal(draw_id, now + COMMITMENT_RECHECK)
            return
        if ends > draw.created_at + draw.window and now < ends:
            # Delivered late: the window ends that much later too. (A commitment delivered on
            # time leaves the reveal to its job, as scheduled.)
            if ends != draw.reveal_at:
                await self.draws.set_reveal_at(draw_id, ends)
            self._schedule_reveal(draw_id, ends)
            return
        room = RoomID(draw.room)
        term = (await self.rooms.setup(room)).term
        zone = await self.zone_of(room)
        commit_event = await self._commit_event(draw)
        try:
            self.draws.seed(draw)  # opens now, or never will: then the draw is void
        except SeedUnavailable as exc:
            async with self.bot.db.transaction():
                if await self.draws.void(draw_id):
                    note = f"{exc} Nothing was drawn: type !draw to draw again."
                    await self.bot.post(
                        room, note, None, f"lottery-void-{draw_id}", reply_to=commit_event
                    )
            log.warning("draw %s voided: its seed does not open with this pickle key", draw_id)
            return
        async with self.bot.db.transaction():
            done = await self.draws.complete(draw_id, self.bot.clock(), term)
            if done is None:
                return
            text, html = render.result(done, zone)
            await self.bot.post(
                room, text, html, f"lottery-result-{draw_id}", reply_to=commit_event,
                mentions=[m.holder for m in done.granted],
            )
        for mandate in done.granted:
            self._schedule_mandate(mandate)
        log.info(
            "draw %s revealed: %d roles granted with %d contributions",
            draw_id, len(done.granted), len(done.published.contributions),
        )

    # -- mandates ---------------------------------------------------------------------------

    @staticmethod
    def _mandate_key(room_id: str, role: str) -> str:
        return stable_key(room_id, role)

    def _schedule_mandate(self, mandate: Mandate) -> None:
        k = self._mandate_key(mandate.room, mandate.role)
        if not mandate.reminded:
            when = reminder_at(mandate)
            self._at(f"lottery-remind-{k}", when, self._remind, mandate.room, mandate.role)
        else:
            self.bot.scheduler.cancel(f"lottery-remind-{k}")
        self._at(
            f"lottery-expire-{k}", mandate.expires, self._expire_job, mandate.room, mandate.role
        )

    def _cancel_mandate(self, mandate: Mandate) -> None:
        k = self._mandate_key(mandate.room, mandate.role)
        self.bot.scheduler.cancel(f"lottery-remind-{k}")
        self.bot.scheduler.cancel(f"lottery-expire-{k}")

    async def _remind(self, room_id: str, role: str) -> None:
        mandate = await self.mandates.get(room_id, role)
        now = self.bot.clock()
        if mandate is None or mandate.reminded or not reminder_at(mandate) <= now < mandate.expires:
            return
        zone = await self.zone_of(room_id)
        text, html = render.reminder(mandate, zone)
        key = "lottery-remind-" + stable_key(
            room_id, role, mandate.holder, str(mandate.expires.timestamp())
        )
        async with self.bot.db.transaction():
            if not await self.mandates.mark_reminded(mandate):
                return
            await self.bot.post(room_id, text, html, key, mentions=[mandate.holder])

    async def _expire_job(self, room_id: str, role: str) -> None:
        await self._expire_due()

    async def _expire_due(self) -> None:
        """End every mandate whose term is over: tell each room, and draw again where wanted."""
        now = self.bot.clock()
        async with self.bot.db.transaction():
            ended = await self.mandates.expire(now)
            by_room: dict[str, list[Mandate]] = {}
            for mandate in ended:
                by_room.setdefault(mandate.room, []).append(mandate)
            for room_id, mandates in by_room.items():
                again = (await self.options.get(room_id)).redraw
                ends = (f"{m.role}\x1e{m.holder}\x1e{m.expires.timestamp()}" for m in mandates)
                key = "lottery-vacant-" + stable_key(room_id, *ends)
                text, html = render.vacancy(mandates, again)
                await self.bot.post(room_id, text, html, key)
                if again:  # owed with the notice: a crash before the draw does not lose it
                    await self.redraws.owe(room_id, key, now)
        for mandate in ended:
            self._cancel_mandate(mandate)
        if ended:
            log.info("lottery: %d mandates ended", len(ended))
        await self._open_owed_redraws()

    async def _open_owed_redraws(self) -> None:
        """Open every redraw owed (one draw per key however often this runs), then forget it."""
        for room_id, key in await self.redraws.owed():
            try:
                await self.open_draw(RoomID(room_id), key)
            except MatrixError as exc:  # removed from the room meanwhile: the vacancy stands
                log.warning("lottery: could not draw again after a mandate ended (%s)", exc.errcode)
            await self.redraws.done(key)

    # -- commands: setup ----------------------------------------------------------------------

    async def show_roles(self, ctx: Context) -> None:
        setup = await self.rooms.setup(ctx.room_id)
        options = await self.options.get(ctx.room_id)
        current = await self.mandates.current(ctx.room_id)
        pending = [d.draw_id for d in await self.draws.pending(ctx.room_id)]
        zone = await self.zone_of(ctx.room_id)
        await ctx.reply(*render.roles(setup, options, current, pending, ctx.now, zone))

    async def _no_open_draw(self, room_id: str, what: str) -> None:
        if await self.draws.pending(room_id):
            raise UserError(f"A draw is open in this room: wait for its result before {what}.")

    async def set_roles(self, ctx: Context, words: Sequence[str]) -> None:
        names = parse_roles(words)
        await self._no_open_draw(ctx.room_id, "changing the roles")
        ended = await self.rooms.set_roles(ctx.room_id, names, ctx.now)
        for mandate in ended:
            self._cancel_mandate(mandate)
        text = f"Roles here, in drawing order: {', '.join(names)}."
        if ended:
            text += " Mandates that ended with their role: " + ", ".join(
                f"{m.role} ({m.holder})" for m in ended
            ) + "."
        await ctx.reply(text)

    async def set_term(self, ctx: Context, text: str) -> None:
        term = parse_term(text)
        await self.rooms.set_term(ctx.room_id, term, ctx.now)
        await ctx.reply(
            f"Mandates drawn from now on last {format_duration(term)}; running ones keep their end."
        )

    async def set_window(self, ctx: Context, text: str) -> None:
        window = parse_window(text)
        await self.options.set_window(ctx.room_id, window, ctx.now)
        await ctx.reply(
            f"From the next draw on, members have {format_duration(window)} to add their chance."
        )

    async def set_redraw(self, ctx: Context, text: str) -> None:
        on = parse_switch(text)
        await self.options.set_redraw(ctx.room_id, on, ctx.now)
        await ctx.reply(
            "When a mandate ends, I draw its role again at once."
            if on
            else "When a mandate ends, its role stays vacant until someone types !draw."
        )

    # -- commands: draws --------------------------------------------------------------------

    async def draw(self, ctx: Context, requested: Sequence[str]) -> None:
        await self._open_draw(ctx.room_id, ctx.key("draw"), requested, ctx.event_id)

    async def verify(self, ctx: Context, draw_id: str) -> None:
        wanted = draw_id.strip().lower()
        draw = await self.draws.get(wanted)
        if draw is None or draw.room != ctx.room_id:
            raise UserError(
                f"There is no draw {draw_id} in this room (draws are kept for "
                f"{format_duration(self.retention)}). The id is in the draw's messages."
            )
        if draw.published is None:
            zone = await self.zone_of(ctx.room_id)
            raise UserError(
                f"Draw {wanted} is not revealed yet: its result comes "
                f"{format_local(draw.reveal_at, zone)}. Verify it then."
            )
        found = problems(draw.published)
        if draw.published.commitment != draw.commitment:
            found.append("the published commitment differs from the one posted before the draw")
        await ctx.reply(*render.verified(draw.published, found))

    # -- commands: the pool -----------------------------------------------------------------

    async def step_back(self, ctx: Context, duration: timedelta | None) -> None:
        until = ctx.now + duration if duration is not None else None
        await self.stepbacks.step_back(ctx.room_id, ctx.sender, ctx.now, until)
        zone = await self.zone_of(ctx.room_id)
        when = f"until {format_local(until, zone)}" if until else "until you type !stepin"
        await ctx.reply(
            f"You are out of the pool {when}. Take care. Roles you hold stay yours until they "
            "end or you !release them."
        )

    async def step_in(self, ctx: Context) -> None:
        if await self.stepbacks.step_in(ctx.room_id, ctx.sender):
            await ctx.reply("Welcome back: you are in the pool again.")
        else:
            await ctx.reply("You had not stepped back: you are in the pool.")

    async def _role(self, room_id: str, text: str) -> str:
        role = text.strip().lower()
        setup = await self.rooms.setup(room_id)
        if role not in setup.roles:
            known = ", ".join(setup.roles) or "none yet"
            raise UserError(f"'{text}' is not a role here. Roles: {known}.")
        return role

    async def release(self, ctx: Context, text: str) -> None:
        role = await self._role(ctx.room_id, text)
        ended = await self.mandates.release(ctx.room_id, role, ctx.sender, ctx.now)
        self._cancel_mandate(ended)
        await ctx.reply(
            f"You released {role}: it is vacant now. Thank you for holding it. Draw it again "
            f"with !draw {role}."
        )

    async def renew(self, ctx: Context, text: str) -> None:
        """The first ``!renew`` proposes; a second, by someone else, confirms."""
        role = await self._role(ctx.room_id, text)
        mandate = await self.mandates.get(ctx.room_id, role)
        zone = await self.zone_of(ctx.room_id)
        term = (await self.rooms.setup(ctx.room_id)).term
        if mandate is not None and mandate.renewal is not None and mandate.active(ctx.now):
            renewed = await self.mandates.confirm_renewal(
                ctx.room_id, role, ctx.sender, ctx.now, term
            )
            self._schedule_mandate(renewed)
            await ctx.reply(
                f"{ctx.sender} confirmed: {renewed.holder} holds {role} for one more term, until "
                f"{format_local(renewed.expires, zone)}."
            )
            return
        proposed = await self.mandates.propose_renewal(ctx.room_id, role, ctx.sender, ctx.now)
        await ctx.reply(
            f"Renewing {proposed.holder} as {role} for {format_duration(term)} is proposed. "
            f"Another member (neither {proposed.holder} nor {ctx.sender}) confirms with "
            f"!renew {role} before {format_local(proposed.expires, zone)}; otherwise the mandate "
            "ends as planned."
        )

    # -- commands: chance groupings ---------------------------------------------------------

    async def _order(self, room_id: str) -> list[str]:
        return speaking_order(await self.pool_of(room_id, self.bot.clock()), self._rng)

    async def order(self, ctx: Context) -> None:
        order = await self._order(ctx.room_id)
        await ctx.reply(*render.numbered("Speaking order, by chance:", order))

    async def triads(self, ctx: Context) -> None:
        members = await self.pool_of(ctx.room_id, ctx.now)
        previous = await self.groupings.recent(ctx.room_id, "triads", 1)
        pairs = pairs_in(previous[0] if previous else ())
        met = [tuple(pair) for pair, n in pairs.items() for _ in range(n)]
        grouped = triads(members, self._rng, met)
        await self.groupings.record(ctx.room_id, "triads", grouped, ctx.now)
        await ctx.reply(*render.groups("Check-in triads, by chance:", "Triad", grouped))

    async def cells(self, ctx: Context, first: str | None, second: str | None) -> None:
        low, high, make_rooms = self._cell_args(first, second)
        if make_rooms:
            await ctx.require_power("moderator")
            await self._cell_rooms(ctx, low, high)
            return
        grouped = await self._draw_cells(ctx.room_id, ctx.now, low, high)
        await self.groupings.record(ctx.room_id, "cells", grouped, ctx.now)
        title = f"Affinity cells of {low}-{high}, by chance:"
        await ctx.reply(*render.groups(title, "Cell", grouped))

    @staticmethod
    def _cell_args(first: str | None, second: str | None) -> tuple[int, int, bool]:
        usage = "Usage: !cells [<min-max>] [rooms], like !cells 5-7 rooms"
        low, high, bounds, make_rooms = DEFAULT_CELL_MIN, DEFAULT_CELL_MAX, False, False
        for word in (w for w in (first, second) if w is not None):
            if word.lower() == "rooms" and not make_rooms:
                make_rooms = True
            elif word[:1].isdigit() and not bounds:
                low, high = parse_cell_bounds(word)
                bounds = True
            else:
                raise UsageError(f"unexpected '{word}'. {usage}")
        return low, high, make_rooms

    async def _draw_cells(
        self, room_id: str, now: datetime, low: int, high: int
    ) -> list[tuple[str, ...]]:
        members = await self.pool_of(room_id, now)
        previous = await self.groupings.recent(room_id, "cells", 1)
        return cells(members, self._rng, low, high, previous[0] if previous else ())

    async def _cell_rooms(self, ctx: Context, low: int, high: int) -> None:
        """Plan the cells (once per command), then create and invite each room not made yet."""
        source = ctx.key("cells", self.bot.user_id)  # each bot's cells are its own
        planned = await self.cell_rooms.of_source(source)
        if not planned:
            grouped = await self._draw_cells(ctx.room_id, ctx.now, low, high)
            sunset = ctx.now + self.config.cell_room_sunset
            async with self.bot.db.transaction():
                recent = await self.cell_rooms.made_since(ctx.room_id, ctx.now - CELL_ROOM_DAY)
                check_cell_rooms(len(grouped), recent)  # refused: nothing recorded or created
                await self.groupings.record(ctx.room_id, "cells", grouped, ctx.now)
                planned = await self.cell_rooms.plan(ctx.room_id, source, grouped, sunset, ctx.now)
        parent = await self.bot.matrix.room_name(ctx.room_id)
        encrypted = await self.bot.matrix.is_encrypted(ctx.room_id)
        zone = await self.zone_of(ctx.room_id)
        failed: list[int] = []
        for cell in planned:
            if cell.closed:  # handled again after its rooms closed: nothing to make or schedule
                continue
            if cell.room_id is None:
                try:
                    made = await self._make_cell_room(cell, len(planned), parent, encrypted, zone)
                except MatrixError as exc:
                    log.warning("cell room %d could not be created: %s", cell.id, exc.errcode)
                    failed.append(cell.cell_index + 1)
                    continue
                cell = made
            self._schedule_sunset(cell)
        grouped = [cell.members for cell in planned]
        sunset_at = planned[0].sunset_at
        note = (
            f"Each cell has its own room now (invitations sent). The rooms close "
            f"{format_local(sunset_at, zone)}: I post a closing note there and leave."
        )
        if failed:
            note += " I could not create the room for cell " + ", ".join(map(str, failed)) + "."
        title = f"Affinity cells of {low}-{high}, by chance:"
        await ctx.reply(*render.groups(title, "Cell", grouped, note))

    async def _make_cell_room(
        self, cell: CellRoom, count: int, parent: str, encrypted: bool, zone: ZoneInfo
    ) -> CellRoom:
        number = cell.cell_index + 1
        room_id = await self.bot.matrix.create_room(
            f"{parent} · cell {number} of {count}",
            [UserID(m) for m in cell.members],
            encrypted=encrypted,
            topic="An affinity cell drawn by chance. It closes "
            f"{format_local(cell.sunset_at, zone)}.",
        )
        await self.cell_rooms.set_room(cell.id, room_id)
        text, html = render.cell_welcome(number, count, cell.members, cell.sunset_at, zone)
        key = f"lottery-cell-welcome-{cell.id}-{stable_key(room_id)}"
        await self.bot.post(room_id, text, html, key)
        log.info("cell room %d created with %d invitations", cell.id, len(cell.members))
        made = await self.cell_rooms.get(cell.id)
        assert made is not None
        return made

    def _schedule_sunset(self, cell: CellRoom) -> None:
        self._at(f"lottery-sunset-{cell.id}", cell.sunset_at, self._sunset, cell.id)

    async def _sunset(self, cell_id: int) -> None:
        """Post the closing note, then leave the room and forget it (practice disappearance)."""
        cell = await self.cell_rooms.get(cell_id)
        if cell is None or cell.room_id is None or cell.closed:
            return
        room = RoomID(cell.room_id)
        text, html = render.cell_closing(cell.cell_index + 1)
        retry = self.bot.clock() + SUNSET_RETRY
        try:
            await self.bot.outbox.send(
                room, notice(text, html), f"lottery-cell-close-{cell.id}-{stable_key(room)}"
            )
        except TimeoutError:
            log.warning("cell room %d: closing note still sending; trying again later", cell_id)
            self._at(f"lottery-sunset-{cell_id}", retry, self._sunset, cell_id)
            return
        try:
            await self.bot.matrix.leave(room, "This cell reached its sunset.")
        except PERMANENT as exc:
            log.info("cell room %d: already out of it (%s)", cell_id, exc.errcode)
        except MatrixError as exc:
            log.warning("cell room %d: leaving failed for now (%s)", cell_id, exc.errcode)
            self._at(f"lottery-sunset-{cell_id}", retry, self._sunset, cell_id)
            return
        await self.cell_rooms.close(cell_id, self.bot.clock())
        await forget_room(self.bot.db, self.bot.user_id, room)
        log.info("cell room %d closed at its sunset", cell_id)
