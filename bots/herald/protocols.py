"""``!protocol ...``: templates, and a run from its plan to its stand-down.

A run is planned (``start``), shown to the coordinators, and only then scheduled (``confirm``);
an amendment or a stand-down goes to every member room at once and marks the earlier messages.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from bots.herald.render import ack_board, plan_preview, template_detail, template_list
from bots.herald.render_phases import VARIABLES, say
from bots.herald.room_commands import RoomCommands
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Text, When
from bots.runtime.errors import UserError
from bots.runtime.i18n import _, when
from bots.runtime.i18n_rooms import room_language
from bots.runtime.message import Inline, Message, code
from protocols.herald import check_can_confirm, make_amendment, make_cancellation, make_plan, new_run_id
from protocols.herald.consent import MAX_AMENDMENTS_PER_HOUR, MAX_LIVE_RUNS


class ProtocolCommands(RoomCommands):
    """Templates and runs."""

    @command("protocol list", help="List the day-of-action protocol templates")
    async def protocol_list(self, ctx: CommandContext) -> None:
        await ctx.reply(template_list(self.library(), self.template_problems))

    @command("protocol show", help="Show a template's phases, checklists and acknowledgements")
    async def protocol_show(self, ctx: CommandContext, template: str) -> None:
        language = await room_language(self.host.settings, ctx.room_id)
        await ctx.reply(template_detail(self.template(template), language))

    @command(
        "protocol start", help="Plan a run (rooms x phases) and show it with its run id", power="moderator"
    )
    async def protocol_start(self, ctx: CommandContext, template: str, *, at: When) -> None:
        coalition = await self.coordination(ctx)
        chosen = self.template(template)
        zone = await self.zone_of(ctx.room_id)
        live = await self.runs.list_for(coalition.name, ("planned", "confirmed"))
        if len(live) >= MAX_LIVE_RUNS:
            raise UserError(
                _(
                    "Coalition {coalition} already has {limit} runs planned or under way, the most it may "
                    "have; cancel one (!protocol cancel <run>) or wait until one is done.",
                    coalition=coalition.name,
                    limit=MAX_LIVE_RUNS,
                )
            )
        rooms = await self.member_rooms(await self.coalitions.members(coalition.name))
        run_id = new_run_id(secrets.token_bytes(16))
        plan = make_plan(
            run_id, chosen, at, rooms, ctx.now, render=say, coalition=coalition.name, variable_words=VARIABLES
        )
        await self.runs.create(run_id, coalition.name, chosen.name, at, ctx.now)
        labelled = [(room, await self.label(room.room_id)) for room in rooms]
        language = await room_language(self.host.settings, ctx.room_id)
        await ctx.reply(plan_preview(run_id, chosen, at, labelled, plan, zone, language))

    @command(
        "protocol confirm",
        help="Schedule every phase of a planned run for every member room",
        power="moderator",
    )
    async def protocol_confirm(self, ctx: CommandContext, run: str) -> None:
        coalition = await self.coordination(ctx)
        found = await self.run_in(coalition, run)
        check_can_confirm(found.run_id, found.state)
        template = self.template(found.template)
        rooms = await self.member_rooms(await self.coalitions.members(coalition.name))
        # Planned again now: the rooms and local details as they are at confirmation.
        plan = make_plan(
            found.run_id,
            template,
            found.action_at,
            rooms,
            ctx.now,
            render=say,
            coalition=coalition.name,
            variable_words=VARIABLES,
        )
        if not await self.runs.confirm(found.run_id, plan, ctx.now):
            raise UserError(
                _(
                    "Run {run} was confirmed or cancelled meanwhile; see {command}.",
                    run=found.run_id,
                    command=code(f"!protocol status {found.run_id}"),
                )
            )
        later = sorted({m.due_at for m in plan if not m.immediate})
        now_phases = sorted({m.phase_key for m in plan if m.immediate})
        zone = await self.zone_of(ctx.room_id)
        parts: list[Inline] = [
            _(
                "Run {run} confirmed: {messages} messages to {rooms} rooms.",
                run=found.run_id,
                messages=len(plan),
                rooms=len(rooms),
            )
        ]
        if now_phases:
            parts += [" ", _("Going out now: {phases}.", phases=", ".join(now_phases))]
        if later:
            parts += [" ", _("Next at {when}.", when=when(later[0], zone))]
        parts += [" ", _("Acknowledgements: {command}.", command=code(f"!protocol status {found.run_id}"))]
        await ctx.reply(Message.of(*parts))
        await self.share_run(found.run_id)
        self.schedule_deliveries(found.run_id, later)
        await self.prepare_keys(found.run_id)
        await self.deliver_due(found.run_id)

    @command("protocol status", help="The acknowledgement board of a run (rooms x phases)")
    async def protocol_status(
        self, ctx: CommandContext, run: str | None = None, *, in_: str | None = None
    ) -> None:
        coalition, _member = await self.member_for_run(ctx, run, in_)
        if run is not None:
            found = await self.run_in(coalition, run)
        else:
            runs = await self.runs.list_for(coalition.name)
            if not runs:
                raise UserError(
                    _("Coalition {coalition} has no protocol runs yet.", coalition=coalition.name)
                )
            live = [r for r in runs if r.state != "planned"] or runs
            found = max(live, key=lambda r: r.created_at)
        template = self.template(found.template)
        deliveries = await self.runs.deliveries(found.run_id)
        members = await self.coalitions.members(coalition.name)
        order = [m.room_id for m in members]
        order += sorted({d.room_id for d in deliveries} - set(order))
        current = {m.room_id for m in members}
        rooms = [(r, await self.label(r)) for r in order]
        rooms = [(r, label if r in current else f"{label} ({_('left').plain()})") for r, label in rooms]
        zone = await self.zone_of(ctx.room_id)
        labels = dict(rooms)
        board = Message.of(
            _("State: {state}; action at {when}.", state=found.state, when=when(found.action_at, zone))
        ).extend(ack_board(template, found.run_id, rooms, deliveries, ctx.now))
        failed = [
            _(
                "❌ Not delivered to {room} ({phase}): {error}",
                room=labels.get(d.room_id, d.room_id),
                phase=d.phase_key,
                error=(d.error or "refused").split(":")[0],
            )
            for d in deliveries
            if d.state == "failed"
        ]
        await ctx.reply(board.bullets(failed))

    @command(
        "protocol amend", help="Push a change to every member room now; each acks again", power="moderator"
    )
    async def protocol_amend(self, ctx: CommandContext, run: str, text: Text) -> None:
        coalition = await self.coordination(ctx)
        found = await self.run_in(coalition, run)
        template = self.template(found.template)
        rooms = await self.member_rooms(await self.coalitions.members(coalition.name))
        if (
            await self.runs.amendments_since(found.run_id, ctx.now - timedelta(hours=1))
            >= MAX_AMENDMENTS_PER_HOUR
        ):
            raise UserError(
                _(
                    "Run {run} had {limit} amendments in the last hour, the most one run may have: each goes "
                    "to every member room at once. Put the changes together in one amendment later.",
                    run=found.run_id,
                    limit=MAX_AMENDMENTS_PER_HOUR,
                )
            )
        seq = await self.runs.next_amendment_seq(found.run_id)
        messages = make_amendment(
            found.run_id, found.state, seq, text, template, found.action_at, rooms, ctx.now, render=say
        )
        if not await self.runs.amend(found.run_id, seq, text, messages, ctx.now):
            raise UserError(
                _(
                    "Run {run} changed meanwhile; see {command} and try again.",
                    run=found.run_id,
                    command=code(f"!protocol status {found.run_id}"),
                )
            )
        await ctx.reply(
            Message.of(
                _(
                    "Amendment #{number} of run {run} is going out to {rooms} rooms now; each is asked to acknowledge it.",
                    number=str(seq),
                    run=found.run_id,
                    rooms=len(messages),
                )
            )
        )
        await self.share_run(found.run_id)
        await self.deliver_due(found.run_id)
        await self.edit_latest(
            found.run_id,
            f"amend-{seq}",
            _("⚠️ AMENDED (#{number}): read the amendment below before acting on this.", number=str(seq)),
        )

    @command("protocol cancel", help="Stand a run down in every member room now", power="moderator")
    async def protocol_cancel(self, ctx: CommandContext, run: str, reason: Text | None = None) -> None:
        coalition = await self.coordination(ctx)
        found = await self.run_in(coalition, run)
        template = self.template(found.template)
        rooms = await self.member_rooms(await self.coalitions.members(coalition.name))
        deliveries = await self.runs.deliveries(found.run_id)
        cancellation = make_cancellation(
            found.run_id,
            found.state,
            reason or "",
            template,
            found.action_at,
            rooms,
            [(d.txn_id, d.state) for d in deliveries],
            ctx.now,
            render=say,
        )
        if not await self.runs.cancel(found.run_id, cancellation.messages, ctx.now):
            raise UserError(
                _(
                    "Run {run} changed meanwhile; see {command}.",
                    run=found.run_id,
                    command=code(f"!protocol status {found.run_id}"),
                )
            )
        self.unschedule_deliveries(found.run_id)
        if cancellation.messages:
            await self.share_run(found.run_id)
        if not cancellation.messages:
            await ctx.reply(
                Message.of(
                    _(
                        "Run {run} cancelled before it was confirmed: no room had heard of it.",
                        run=found.run_id,
                    )
                )
            )
            return
        await ctx.reply(
            Message.of(
                _(
                    "Run {run} cancelled: the stand-down is going out to {rooms} rooms now; {skipped} pending "
                    "messages will not be sent.",
                    run=found.run_id,
                    rooms=len(cancellation.messages),
                    skipped=len(cancellation.skip_txn_ids),
                )
            )
        )
        await self.deliver_due(found.run_id)
        await self.edit_latest(
            found.run_id, "cancel", _("🛑 CANCELLED: stand down, see the notice below."), strike=True
        )
