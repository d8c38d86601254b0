"""Acknowledgements and escalation: the ack reaction, and what happens when a room stays silent.

Every unanswered acknowledgement has one escalation job per run, rebuilt at start-up from the
tables. A step first reminds the room's liaison in a direct chat, then tells the coordination
room; each step is recorded so it is taken once.
"""

from __future__ import annotations

from dataclasses import replace

from bots.herald.base import HeraldBase, log
from bots.runtime import room_names
from bots.runtime.commands import CommandContext
from bots.runtime.direct_rooms import dm_room
from bots.runtime.errors import MatrixError
from bots.runtime.i18n import _, when
from bots.runtime.i18n_rooms import room_language
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Inline, Message, code
from protocols.herald import Escalation, ProtocolTemplate, escalations_due, next_escalation_at
from storage.herald import Coalition, Delivery, Member, Run

# The room setting under which a bot remembers the DM room it opened with a liaison (the value
# is the liaison's user id).
DM_KEY = "herald.dm_with:{bot}"


def escalate_job_id(run_id: str) -> str:
    return f"escalate-{run_id}"


def same_reaction(a: str, b: str) -> bool:
    # Clients differ on the emoji presentation selector (U+FE0F): "✅" and "✅️" are one reaction.
    return a.replace("\ufe0f", "").strip() == b.replace("\ufe0f", "").strip()


def phase_title(template: ProtocolTemplate, phase_key: str, language: str = "") -> Inline:
    """A phase's title (in ``language`` when the template has it), or what an urgent message is."""
    phase = template.phase(phase_key)
    if phase is not None:
        return phase.in_language(language).title
    if phase_key == "cancel":
        return _("the stand-down")
    return _("amendment #{number}", number=phase_key.removeprefix("amend-"))


class Escalations(HeraldBase):
    """The ack reaction and the escalation ladder."""

    @property
    def dm_key(self) -> str:
        return DM_KEY.format(bot=self.host.user_id)

    async def on_reaction(self, ctx: CommandContext, target: EventID, reaction: str) -> None:
        """The ack reaction on a phase message acknowledges that phase for the room."""
        if not same_reaction(reaction, self.config.ack_reaction):
            return
        d = await self.runs.by_event(ctx.room_id, target)
        if d is None or d.ack_by is None or d.acked_at is not None:
            return
        run = await self.runs.get(d.run_id)
        found = await self.membership(ctx.room_id, run.coalition) if run is not None else None
        if found is None or not await self.may_ack(ctx.room_id, ctx.sender, found[1]):
            return  # anyone may react; only the liaison's (or a moderator's) reaction counts
        if not await self.runs.ack(d.run_id, ctx.room_id, ctx.sender, ctx.now, d.phase_key):
            return
        if await self.answers(ctx.room_id, ctx.event_id):  # several heralds: one confirms
            await self.host.post(
                ctx.room_id,
                Message.of(
                    _(
                        "✅ Acknowledged for this room by {person}: run {run}, {phase}.",
                        person=ctx.sender,
                        run=d.run_id,
                        phase=d.phase_key,
                    )
                ),
                key(self.name, "ack", d.txn_id),
            )
        await self.schedule_escalation(d.run_id)
        await self.share_acks(found[0].name)

    async def schedule_escalation(self, run_id: str) -> None:
        """One wake-up at the run's next escalation instant (or none)."""
        run = await self.runs.get(run_id)
        template = self.library().get(run.template) if run is not None else None
        job = escalate_job_id(run_id)
        if run is None or template is None:
            self.host.schedule.cancel(job)
            return
        deliveries = await self.runs.deliveries(run_id)
        when = next_escalation_at(template, deliveries, run_cancelled=run.state == "cancelled")
        if when is None:
            self.host.schedule.cancel(job)
        else:
            self.host.schedule.at(job, when, self.escalate, run_id)

    async def escalate(self, run_id: str) -> None:
        """Take every escalation step that is due: DM the liaison, then tell the coordinators."""
        now = self.host.clock()
        run = await self.runs.get(run_id)
        template = self.library().get(run.template) if run is not None else None
        if run is None or template is None:
            return
        coalition = await self.coalitions.get(run.coalition)
        if coalition is None:
            return
        deliveries = await self.runs.deliveries(run_id)
        by_txn = {d.txn_id: d for d in deliveries}
        members = {m.room_id: m for m in await self.coalitions.members(run.coalition)}
        for step in escalations_due(template, deliveries, now, run_cancelled=run.state == "cancelled"):
            member = members.get(step.room_id)
            # Several heralds: the one ranked first for this step among those alive takes it.
            mine = await self.answers(step.room_id, f"escalation/{step.txn_id}/{step.step}")
            if member is not None and mine:  # a room that left owes the coalition nothing
                d = by_txn[step.txn_id]
                if member.liaison and not await self.still_in_room(member.room_id, member.liaison, member):
                    member = members[step.room_id] = replace(member, liaison=None)  # cleared
                if step.action == "liaison" and member.liaison:
                    await self._dm_liaison(run, template, d, step, member)
                else:
                    await self._note_coordination(run, template, d, step, member, coalition)
            await self.runs.record_escalation(step.txn_id, step.step)
        await self.schedule_escalation(run_id)

    async def _dm_liaison(
        self, run: Run, template: ProtocolTemplate, d: Delivery, step: Escalation, member: Member
    ) -> None:
        assert member.liaison is not None
        zone = await self.zone_of(member.room_id)
        label = await self.label(member.room_id)
        deadline = when(d.ack_by, zone) if d.ack_by else _("its deadline")
        language = await room_language(self.host.settings, member.room_id)
        text = Message.of(
            _(
                "⏰ {room} has not acknowledged “{phase}” of run {run} ({template}); it was due by {deadline}.",
                room=label,
                phase=phase_title(template, d.phase_key, language),
                run=run.run_id,
                template=template.name,
                deadline=deadline,
            )
        ).paragraph(
            _(
                "Please check the room and acknowledge there ({command}, or react {reaction} to the "
                "message), or answer here with {command}.",
                command=code(f"!ack {run.run_id}"),
                reaction=self.config.ack_reaction,
            )
        )
        try:
            dm = await self.dm_room(member.liaison, member.room_id)
        except MatrixError as exc:
            log.warning("herald: no DM with a liaison for %s: %s", d.txn_id, exc.errcode)
            return
        await self.host.post(dm, text, key(self.name, "escalation", d.txn_id, step.step))

    async def _note_coordination(
        self,
        run: Run,
        template: ProtocolTemplate,
        d: Delivery,
        step: Escalation,
        member: Member,
        coalition: Coalition,
    ) -> None:
        zone = await self.zone_of(coalition.coordination_room)
        label = await self.label(member.room_id)
        deadline = when(d.ack_by, zone) if d.ack_by else _("its deadline")
        text = Message.of(
            _(
                "⚠️ No acknowledgement from {room} ({server}) for “{phase}” of run {run}, due by "
                "{deadline}. Liaison: {liaison}. See {command}.",
                room=label,
                server=member.homeserver,
                phase=phase_title(
                    template,
                    d.phase_key,
                    await room_language(self.host.settings, coalition.coordination_room),
                ),
                run=run.run_id,
                deadline=deadline,
                liaison=member.liaison or _("none set"),
                command=code(f"!protocol status {run.run_id}"),
            )
        )
        await self.host.post(
            RoomID(coalition.coordination_room), text, key(self.name, "escalation", d.txn_id, step.step)
        )

    async def dm_room(self, user_id: str, room: str | None = None) -> RoomID:
        """The bot's direct room with ``user_id``: the one it opened before, else a new one
        (named in the language of ``room``, the member room it is about)."""
        return await dm_room(
            self.host,
            user_id,
            title=room_names.COALITION_ALERTS,
            topic=room_names.ALERTS_TOPIC,
            encrypted=self.config.encrypt_dms,
            setting=self.dm_key,
            language_room=room,
        )
