"""Draws, from commitment to reveal: ``!draw``, contributions (a reaction or a reply to the
commitment), the reveal job, and ``!verify``.

- The commitment is queued in the same transaction that stores the draw and its sealed seed,
  so a crash never leaves a draw without its announcement (or the reverse).
- ``reveal-<draw>`` (namespaced ``lottery:`` by the host): the window for chance counts from
  the moment the commitment reached the room, never from the command; :meth:`Draws.complete`
  reveals once, even if the job fires twice across a restart, and the result is queued in the
  same transaction.

Skills and shadows (algorithm version 2): a role that requires a skill is drawn only among its
holders, as the skill board says (:meth:`bots.skills.SkillsFeature.role_pools`, through
``host.peer``); ``!draw <role> shadow`` also draws a shadow among the pool members who never
held the role; a role's last shadow goes first. All of it is fixed in the committed inputs.

Seeds come from :mod:`secrets`. Logs carry draw ids and counts, never a message body.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from bots.lottery import render
from bots.lottery.base import log, short_id
from bots.lottery.mandates import MandatesPart
from bots.runtime.commands import CommandContext, command
from bots.runtime.errors import UserError
from bots.runtime.host import Outcome
from bots.runtime.i18n import _, duration, when
from bots.runtime.i18n_rules import said
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from bots.skills.feature import SkillsFeature
from protocols.errors import RuleError
from protocols.lottery import prepare, problems
from protocols.lottery_room import SHADOW_WORD, roles_to_draw
from storage.lottery_draws import StoredDraw
from storage.lottery_seeds import SeedUnavailable

SEED_BYTES = 32
# How often a reveal that is due checks again whether its commitment has been delivered yet.
COMMITMENT_RECHECK = timedelta(seconds=10)


class CommitmentRefused(Exception):
    """A draw's commitment message was refused for good by the room."""


def draw_id_for(bot: str, started_by: str) -> str:
    """A draw's id from the bot and the key of what started it: handled again, the same draw;
    another bot in the same room handling the same command, another draw (its own)."""
    return short_id("lottery-draw", bot, started_by)


class DrawsPart(MandatesPart):
    def _commit_key(self, draw_id: str) -> str:
        return key(self.name, "commit", draw_id)

    def _commit_keys(self, draw_id: str) -> list[str]:
        # Draws committed by an earlier version were queued under its own key scheme.
        return [self._commit_key(draw_id), f"lottery-commit-{draw_id}"]

    async def _commitment(self, draw_id: str) -> Outcome | None:
        """What became of the draw's commitment message (None: its record was forgotten, long
        after it was sent)."""
        for commit_key in self._commit_keys(draw_id):
            outcome = await self.host.delivery(commit_key)
            if outcome is not None:
                return outcome
        return None

    # -- the public interface (the ghost chair, and redraws owed) ------------------------------

    async def opening_draw(self, room_id: RoomID, origin: str) -> str | None:
        """Start a draw of the room's vacant roles as ``!draw`` would (commitment now, reveal
        after the window). ``origin`` is a stable id of what started it (a gathering and its
        occurrence): the same origin, the same draw, however often this is called. Returns the
        draw id, or None after posting a short note when there is nothing to draw (no vacancy,
        empty pool, a draw still open)."""
        try:
            return await self._open_draw(room_id, origin, (), None, shadow=False)
        except (UserError, RuleError) as exc:
            await self.host.post(room_id, Message.of(said(exc)), key(self.name, "note", origin))
            return None

    # -- commands -----------------------------------------------------------------------------

    @command(
        "draw",
        help="Draw the vacant roles (or the named ones) among the pool: commitment first, result "
        "after. Add 'shadow' to also draw, for each role, a shadow who never held it",
        where="room",
    )
    async def draw(self, ctx: CommandContext, *role: str) -> None:
        shadow = any(r.lower() == SHADOW_WORD for r in role)
        roles = [r for r in role if r.lower() != SHADOW_WORD]
        await self._open_draw(ctx.room_id, ctx.key("draw"), roles, ctx.event_id, shadow=shadow)

    @command("verify", help="Recompute a draw from its published inputs", where="room")
    async def verify(self, ctx: CommandContext, draw_id: str) -> None:
        wanted = draw_id.strip().lower()
        draw = await self.draws.get(wanted)
        if draw is None or draw.room != ctx.room_id:
            raise UserError(
                _(
                    "There is no draw {id} in this room (draws are kept for {kept}). The id is in the "
                    "draw's messages.",
                    id=draw_id,
                    kept=duration(self.host.retention.draw_history),
                )
            )
        if draw.published is None:
            zone = await self.zone_of(ctx.room_id)
            raise UserError(
                _(
                    "Draw {id} is not revealed yet: its result comes {when}. Verify it then.",
                    id=wanted,
                    when=when(draw.reveal_at, zone),
                )
            )
        found = problems(draw.published)
        if draw.published.commitment != draw.commitment:
            found.append("the published commitment differs from the one posted before the draw")
        await ctx.reply(render.verified(draw.published, found))

    # -- contributions ------------------------------------------------------------------------

    async def on_reaction(self, ctx: CommandContext, target: EventID, emoji: str) -> None:
        """A reaction to a commitment message is a contribution: its event id."""
        await self._contribute(ctx, target)

    async def on_message(self, ctx: CommandContext) -> bool:
        """A reply to a commitment message is a contribution too (its text is never read)."""
        if ctx.reply_to is None or ctx.is_direct:
            return False
        return await self._contribute(ctx, ctx.reply_to)

    async def _contribute(self, ctx: CommandContext, target: EventID) -> bool:
        draw = await self._draw_for_event(ctx.room_id, target)
        if draw is None or draw.state != "committed":
            return False
        if await self.draws.add_contribution(draw.draw_id, ctx.event_id, ctx.now):
            log.info("draw %s: a contribution", draw.draw_id)
        return True

    async def _draw_for_event(self, room_id: str, event_id: str) -> StoredDraw | None:
        draw = await self.draws.by_commit_event(event_id)
        if draw is not None:
            return draw if draw.room == room_id else None
        for pending in await self.draws.pending(room_id):
            if pending.commit_event_id is None and await self._commit_event(pending) == event_id:
                return await self.draws.get(pending.draw_id)
        return None

    async def _commit_event(self, draw: StoredDraw) -> str | None:
        """The commitment message's event id, once the outbox has sent it."""
        if draw.commit_event_id is not None:
            return draw.commit_event_id
        delivery = await self._commitment(draw.draw_id)
        if delivery is None or delivery.event_id is None:
            return None
        await self.draws.set_commit_event(draw.draw_id, delivery.event_id)
        return delivery.event_id

    # -- opening and revealing ----------------------------------------------------------------

    async def _open_draw(
        self,
        room_id: RoomID,
        started_by: str,
        requested: Sequence[str],
        reply_to: EventID | None,
        *,
        shadow: bool,
    ) -> str:
        """Fix the inputs and a fresh secret seed, store them, queue the commitment."""
        draw_id = draw_id_for(self.host.user_id, started_by)
        existing = await self.draws.get(draw_id)
        if existing is not None:  # handled before a crash: the same draw, never a second one
            if existing.state == "committed":
                self._schedule_reveal(draw_id, existing.reveal_at)
            return draw_id
        now = self.host.clock()
        zone = await self.zone_of(room_id)
        open_ = await self.draws.pending(room_id)
        if open_:
            raise UserError(
                _(
                    "Draw {id} is still open here: its result comes {when}. Draw again after it.",
                    id=open_[0].draw_id,
                    when=when(open_[0].reveal_at, zone),
                )
            )
        setup = await self.rooms.setup(room_id)
        current = await self.mandates.current(room_id)
        held = [role for role, m in current.items() if m.active(now)]
        wanted = roles_to_draw(setup.roles, held, requested)
        members = await self.pool_of(room_id, now)
        skills = self.host.peer(SkillsFeature)
        inputs = prepare(
            room_id,
            draw_id,
            members,
            wanted,
            await self.mandates.held_counts(room_id, now),
            await self.history.recent(room_id),
            eligible=await skills.role_pools(room_id, wanted, members) if skills is not None else None,
            first={role: [member] for role, (member, _) in (await self.shadows.of(room_id)).items()},
            shadow=wanted if shadow else (),
            ever_held=await self.history.ever_held(room_id) if shadow else None,
        )
        options = await self.options.get(room_id)
        reveal_at = now + options.commit_window
        seed = secrets.token_bytes(SEED_BYTES)
        async with self.host.db.transaction():
            digest = await self.draws.create(inputs, seed, reveal_at, now)
            message = render.commitment(inputs, digest, options.commit_window, reveal_at, zone)
            await self.host.post(room_id, message, self._commit_key(draw_id), reply_to=reply_to)
        self._schedule_reveal(draw_id, reveal_at)
        log.info("draw %s committed: %d roles, pool of %d", draw_id, len(wanted), len(inputs.pool))
        return draw_id

    def _schedule_reveal(self, draw_id: str, when: datetime) -> None:
        self.host.schedule.at(f"reveal-{draw_id}", when, self._reveal, draw_id)

    async def _window_end(self, draw: StoredDraw) -> datetime | None:
        """When the window for chance ends: the draw's window counted from the moment the
        commitment reached the room (never earlier than first announced). None while it is not
        delivered yet; :class:`CommitmentRefused` if the room refused it for good."""
        delivery = await self._commitment(draw.draw_id)
        if delivery is None:  # its record was forgotten long ago: as stored
            return draw.reveal_at
        if delivery.state == "pending":
            return None
        if delivery.state == "refused" or delivery.at is None:
            raise CommitmentRefused(delivery.error or delivery.state)
        return max(draw.reveal_at, delivery.at + draw.window)

    async def _reveal(self, draw_id: str) -> None:
        """Reveal once: the result and its announcement land together, or neither does."""
        draw = await self.draws.get(draw_id)
        if draw is None or draw.state != "committed":
            return
        now = self.host.clock()
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
        await self._announce(draw)

    async def _announce(self, draw: StoredDraw) -> None:
        room = RoomID(draw.room)
        draw_id = draw.draw_id
        term = (await self.rooms.setup(room)).term
        zone = await self.zone_of(room)
        commit_event = await self._commit_event(draw)
        reply_to = EventID(commit_event) if commit_event else None
        try:
            self.draws.seed(draw)  # opens now, or never will: then the draw is void
        except SeedUnavailable as exc:
            async with self.host.db.transaction():
                if await self.draws.void(draw_id):
                    note = Message.of(
                        _("{problem} Nothing was drawn: type !draw to draw again.", problem=str(exc))
                    )
                    await self.host.post(room, note, key(self.name, "void", draw_id), reply_to=reply_to)
            log.warning("draw %s voided: its seed does not open with this pickle key", draw_id)
            return
        async with self.host.db.transaction():
            done = await self.draws.complete(draw_id, self.host.clock(), term)
            if done is None:
                return
            result = render.result(done, zone)
            await self.host.post(room, result, key(self.name, "result", draw_id), reply_to=reply_to)
        for mandate in done.granted:
            self._schedule_mandate(mandate)
        log.info(
            "draw %s revealed: %d roles granted with %d contributions",
            draw_id,
            len(done.granted),
            len(done.published.contributions),
        )
