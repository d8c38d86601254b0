"""Slots: a day of action's roles with a capacity (``marshal: 2``), per member room and run.

``!slot`` lists them, ``!slot claim <slot>`` (or a reaction with the slot's number on a slot
list) takes one or a place on the waitlist, ``!slot release <slot>`` frees it and promotes the
first waiting. Before the template's deadline an over-subscribed slot is drawn by the verifiable
lottery of protocols/lottery.py (its seed's hash is published when it first overflows). Names
stay in the room; ``!slot board`` shows counts per room. Everything goes with the run.

``!slot poll`` offers the room's open slots as a Matrix poll (a tap beats typing); when it ends
(``!slot poll end``, or by itself at the slot deadline, before the draw) each person's latest
answer is claimed by the rule of protocols/dayofaction/slot_poll.py, the refusals are said in the
room and the poll is closed with ``m.poll.end``. A poll names who answered (Matrix polls are
never anonymous), as a typed claim does. Its event id is kept as one of the bot's messages about
the run (open while ``poll = 1``), and goes with the run like them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bots.config import Strict
from bots.dayofaction.herald_port import PhaseSent, RunInfo, require_port, run_for
from bots.dayofaction.run_feature import RunFeature
from bots.runtime.commands import CommandContext, command
from bots.runtime.errors import UserError
from bots.runtime.i18n import _, when
from bots.runtime.i18n_rules import said
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Inline, Span
from bots.runtime.polls import end_poll, parse_response, start_poll, tally
from bots.runtime.registry import register
from bots.runtime.router import Words
from bots.slots import render
from bots.slots.store import SlotStore
from protocols.dayofaction import slot_poll
from protocols.dayofaction import slots as rules
from protocols.lottery import reveal, seed_hash
from storage.db import Database

log = logging.getLogger(__name__)


class SlotsConfig(Strict):
    """``features.slots``: nothing to set yet (slots come from the templates)."""


@register
class SlotsFeature(RunFeature[SlotsConfig, SlotStore]):
    name = "slots"
    title = "Slots"
    config_model = SlotsConfig
    migrations = Path(__file__).parent / "migrations"
    records = "slots, their claims, the lists naming who holds them and the slot polls"

    def open_store(self, db: Database) -> SlotStore:
        return SlotStore(db)

    async def resume(self) -> None:
        for run_id, room_id, closes in await self.store.undrawn():
            self._schedule_close(run_id, room_id, closes)

    # -- commands ------------------------------------------------------------------------------

    @command("slot", help="This room's slots in the day of action: who holds each, who waits", where="room")
    async def slot(self, ctx: CommandContext, *, run: str | None = None) -> None:
        info, slots = await self._room_slots(ctx, run)
        msg = render.slot_list(info.run_id, self._ordered(slots), await self._closes(info, ctx.room_id))
        await self.reply_kept(ctx, info, msg)

    @command("slot claim", help="Take a place in a slot (or on its waitlist)", where="room")
    async def slot_claim(self, ctx: CommandContext, slot: Words, *, run: str | None = None) -> None:
        info, slots = await self._room_slots(ctx, run)
        await self.reply_kept(
            ctx, info, await self._claim(info, ctx.room_id, slots, slot, ctx.sender, ctx.event_id)
        )

    @command("slot release", help="Give up your place in a slot; the first waiting moves up", where="room")
    async def slot_release(self, ctx: CommandContext, slot: Words, *, run: str | None = None) -> None:
        info, slots = await self._room_slots(ctx, run)
        new, released = rules.release(slots, slot, ctx.sender)
        await self.store.save(info.run_id, ctx.room_id, new)
        await self.reply_kept(ctx, info, render.released(new.name))
        if released.promoted is not None:
            await self._post(
                info,
                ctx.room_id,
                render.promoted(new.name, released.promoted),
                key(self.name, "promoted", info.run_id, new.name, ctx.event_id),
                mentions=[released.promoted],
            )

    @command("slot board", help="Each member room's slots as filled / open counts (no names)")
    async def slot_board(self, ctx: CommandContext, *, run: str | None = None) -> None:
        info = await run_for(self.host, ctx.room_id, run)
        await ctx.reply(render.board(info.run_id, await self.board_lines(info.run_id, info.member_rooms)))

    @command(
        "slot poll", help="Offer this room's open slots as a poll: each answer claims its slot", where="room"
    )
    async def slot_poll(self, ctx: CommandContext, *, run: str | None = None) -> None:
        info, slots = await self._room_slots(ctx, run)
        if await self.store.open_poll(info.run_id, ctx.room_id):
            raise UserError(
                _("Run {run} already has a slot poll open here; end it with !slot poll end.", run=info.run_id)
            )
        offer = slot_poll.offer(slots.values())
        answers: list[tuple[str, Inline]] = [(s.name, render.poll_answer(s)) for s in offer.offered]
        poll = await start_poll(
            self.host, ctx.room_id, render.poll_question(info.run_id), answers, ctx.key("poll", info.run_id)
        )
        if poll is None:
            raise UserError(_("The room did not take the poll; ask a moderator whether I may post here."))
        await self.store.add_poll(ctx.room_id, poll, info.run_id, info.forget_at, [a for a, _ in answers])
        closes = await self._closes(info, ctx.room_id) if any(not s.drawn for s in slots.values()) else None
        await ctx.reply(render.poll_posted(closes, [s.name for s in offer.left_out], slot_poll.MAX_OFFERED))

    @command("slot poll end", help="Close this room's slot poll: each answer claims its slot", where="room")
    async def slot_poll_end(self, ctx: CommandContext, *, run: str | None = None) -> None:
        info = await run_for(self.host, ctx.room_id, run)
        open_ = await self.store.open_poll(info.run_id, ctx.room_id)
        if open_ is None:
            raise UserError(
                _("Run {run} has no slot poll open here; start one with !slot poll.", run=info.run_id)
            )
        result = await self._end_poll(info, ctx.room_id, EventID(open_[0]), open_[1], ctx.now, "command")
        await self.reply_kept(ctx, info, result)
        await self._settle_due(info, ctx.room_id)

    async def board_lines(self, run_id: str, rooms: Sequence[RoomID]) -> list[Span]:
        """Each room's slots in the run as filled / open counts, never names (the coalition's
        board, and ``!slot board``)."""
        rows = []
        for room in rooms:
            slots = await self.store.load(run_id, room)
            if slots:
                rows.append((await self.host.room_name(room), rules.counts(slots.values())))
        return render.board_lines(rows)

    async def on_reaction(self, ctx: CommandContext, target: EventID, key_: str) -> None:
        if key_ not in render.KEYCAPS:
            return
        run_id = await self.store.run_of_message(ctx.room_id, target)
        if run_id is None or ctx.sender == self.host.user_id:
            return
        info = await require_port(self.host).dayofaction_run(run_id)
        if info is None:
            return
        await self._settle_due(info, ctx.room_id)
        ordered = self._ordered(await self.store.load(run_id, ctx.room_id))
        index = render.KEYCAPS.index(key_)
        if index >= len(ordered):
            return
        try:
            reply = await self._claim(
                info, ctx.room_id, {s.name: s for s in ordered}, ordered[index].name, ctx.sender, ctx.event_id
            )
        except rules.SlotError as exc:
            reply = render.Message.of(said(exc))
        await self._post(info, ctx.room_id, reply, key(self.name, "reaction", ctx.event_id), reply_to=target)

    # -- the herald's moments ------------------------------------------------------------------

    async def run_phase_sent(self, sent: PhaseSent) -> None:
        """Under a phase whose checklist has slots, the room's slot list (react to claim)."""
        if not rules.slots_of(sent.checklist) or sent.event_id is None:
            return
        info = await require_port(self.host).dayofaction_run(sent.run_id)
        if info is None or sent.room_id not in info.member_rooms:
            return
        slots = await self._ensure(info, sent.room_id)
        await self.store.add_message(sent.room_id, sent.event_id, info.run_id, info.forget_at, own=False)
        msg = render.slot_list(info.run_id, self._ordered(slots), await self._closes(info, sent.room_id))
        event = await self.host.post(
            sent.room_id,
            msg,
            key(self.name, "list", info.run_id, sent.phase, sent.room_id),
            reply_to=sent.event_id,
            wait=True,
        )
        await self.keep(sent.room_id, event, info)

    async def forgetting_run(self, run_id: str) -> None:
        for room_id in await self.store.rooms_of_run(run_id):
            self.host.schedule.cancel(f"close:{run_id}:{room_id}")

    # -- the rules, applied ---------------------------------------------------------------------

    async def _room_slots(
        self, ctx: CommandContext, run: str | None
    ) -> tuple[RunInfo, dict[str, rules.Slot]]:
        info = await run_for(self.host, ctx.room_id, run)
        if ctx.room_id not in info.member_rooms:
            raise UserError(_("Slots belong to the member rooms of a run; this room is not one."))
        slots = await self._ensure(info, ctx.room_id)
        if not slots:
            raise UserError(
                _("Run {run} has no slots: its template's checklist gives no capacities.", run=info.run_id)
            )
        await self._settle_due(info, ctx.room_id)
        return info, await self.store.load(info.run_id, ctx.room_id)

    async def _ensure(self, info: RunInfo, room_id: RoomID) -> dict[str, rules.Slot]:
        slots = await self.store.load(info.run_id, room_id)
        if slots:
            return slots
        spec = await require_port(self.host).dayofaction_spec(info.run_id)
        specs = rules.slots_of(spec.checklist)
        if not specs:
            return {}
        closes = spec.slots_close if spec.slots_close and spec.slots_close > self.host.clock() else None
        await self.store.ensure(info.run_id, room_id, specs, closes, info.forget_at)
        if closes is not None:
            self._schedule_close(info.run_id, room_id, closes)
        return await self.store.load(info.run_id, room_id)

    async def _claim(
        self,
        info: RunInfo,
        room_id: RoomID,
        slots: dict[str, rules.Slot],
        text: str,
        user: str,
        event: str,
        *,
        by_poll: bool = False,
    ) -> render.Message:
        return render.claimed(*await self._take(info, room_id, slots, text, user, event, by_poll=by_poll))

    async def _take(
        self,
        info: RunInfo,
        room_id: RoomID,
        slots: dict[str, rules.Slot],
        text: str,
        user: str,
        event: str,
        *,
        by_poll: bool = False,
    ) -> tuple[rules.Claimed, Inline | None]:
        """Apply a claim (typed, reacted or answered in a poll): the claim and the deadline."""
        new, claimed = (slot_poll.claim_by_poll if by_poll else rules.claim)(slots, text, user)
        await self.store.save(info.run_id, room_id, new, (user, event))
        closes = await self._closes(info, room_id)
        if claimed.provisional:
            seed = os.urandom(32)
            if await self.store.set_seed(info.run_id, room_id, new.name, seed):
                await self._post(
                    info,
                    room_id,
                    render.oversubscribed(new.name, closes or render.deadline(), seed_hash(seed)),
                    key(self.name, "committed", info.run_id, room_id, new.name),
                )
        return claimed, closes

    async def _end_poll(
        self,
        info: RunInfo,
        room_id: RoomID,
        poll: EventID,
        answers: Sequence[str],
        ended: datetime,
        why: str,
    ) -> render.Message:
        """Claim each person's latest answer before ``ended`` (in the order they came), close the
        poll with the counts, and say who got what (names stay in the room)."""
        ended_ms = int(ended.timestamp() * 1000)
        events = await self.host.relations(room_id, poll, "m.reference")  # before: it may fail
        if not await self.store.close_poll(room_id, poll):
            return render.poll_result(info.run_id, [])  # (ended by another path meanwhile)
        slots = await self.store.load(info.run_id, room_id)
        latest: dict[str, tuple[int, str]] = {}
        responses = []
        for event in events:
            response = parse_response(event, poll)
            if response is None or response.ts > ended_ms or response.sender == self.host.user_id:
                continue
            responses.append(response)
            if response.ts >= latest.get(response.sender, (-1, ""))[0]:
                latest[response.sender] = (response.ts, str(event.get("event_id") or poll))
        result = tally(answers, responses, ended_ms, bot=str(self.host.user_id))
        outcomes: list[tuple[str, Inline]] = []
        taken = 0
        for choice in slot_poll.in_order(result.chosen, latest):
            try:
                claimed, closes = await self._take(
                    info, room_id, slots, choice.slot, choice.user, choice.event_id, by_poll=True
                )
            except rules.SlotError as exc:
                outcomes.append((choice.user, said(exc)))
                continue
            slots = await self.store.load(info.run_id, room_id)
            taken += 1
            outcomes.append((choice.user, render.poll_outcome(claimed, closes)))
        await end_poll(
            self.host,
            room_id,
            poll,
            result,
            render.poll_summary(taken, len(outcomes) - taken),
            key(self.name, "poll-end", info.run_id, room_id, poll),
        )
        log.info("slots: a poll in run %s ended (%d claims, %s)", info.run_id, taken, why)
        return render.poll_result(info.run_id, outcomes)

    def _schedule_close(self, run_id: str, room_id: str, closes: datetime) -> None:
        self.host.schedule.at(f"close:{run_id}:{room_id}", closes, self._close, run_id, room_id)

    async def _close(self, run_id: str, room_id: str) -> None:
        info = await require_port(self.host).dayofaction_run(run_id)
        if info is not None:
            await self._settle_due(info, RoomID(room_id))

    async def _settle_due(self, info: RunInfo, room_id: RoomID) -> None:
        """At (or after) the deadline: end an open slot poll (its answers take part in the draw),
        then draw every over-subscribed slot and settle the others."""
        open_ = await self.store.open_poll(info.run_id, room_id)
        if open_ is not None:
            due = [
                closes
                for slot in (await self.store.load(info.run_id, room_id)).values()
                if not slot.drawn
                and (closes := await self.store.closes_at(info.run_id, room_id, slot.name)) is not None
                and closes <= self.host.clock()
            ]
            if due:
                poll = EventID(open_[0])
                result = await self._end_poll(info, room_id, poll, open_[1], min(due), "deadline")
                await self._post(
                    info, room_id, result, key(self.name, "poll-closed", info.run_id, room_id, poll)
                )
        for slot in (await self.store.load(info.run_id, room_id)).values():
            if slot.drawn:
                continue
            closes = await self.store.closes_at(info.run_id, room_id, slot.name)
            if closes is None or closes > self.host.clock():
                continue
            if not slot.oversubscribed:
                await self.store.save(info.run_id, room_id, rules.settle(slot))
                continue
            seed = await self.store.seed(info.run_id, room_id, slot.name) or os.urandom(32)
            inputs = rules.draw_inputs(room_id, f"{info.run_id}:{slot.name}", slot)
            published = reveal(inputs, seed, await self.store.contributions(info.run_id, room_id, slot.name))
            after = rules.apply_draw(slot, published.assignment)
            await self.store.save(info.run_id, room_id, after)
            await self.store.set_seed(info.run_id, room_id, slot.name, None)
            log.info("slots: drew %s in run %s", slot.name, info.run_id)
            await self._post(
                info,
                room_id,
                render.drawn(after, seed.hex(), published.commitment),
                key(self.name, "drawn", info.run_id, room_id, slot.name),
            )

    async def _closes(self, info: RunInfo, room_id: RoomID) -> Span | None:
        spec = await require_port(self.host).dayofaction_spec(info.run_id)
        if spec.slots_close is None:
            return None
        return when(spec.slots_close, await self.host.settings.zone(room_id))

    async def _post(
        self,
        info: RunInfo,
        room_id: RoomID,
        message: render.Message,
        key_: str,
        *,
        reply_to: EventID | None = None,
        mentions: Sequence[str] = (),
    ) -> None:
        """Post what names people in the room, and keep its id to redact it with the run."""
        event = await self.host.post(room_id, message, key_, reply_to=reply_to, mentions=mentions, wait=True)
        await self.keep(room_id, event, info)

    @staticmethod
    def _ordered(slots: dict[str, rules.Slot]) -> list[rules.Slot]:
        return [slots[n] for n in sorted(slots)]
