"""The herald as the day-of-action features see it (bots/dayofaction/herald_port.py): runs for a
room, what a run's template says, coalitions, a template's phases rendered for a room, the room's
liaison, and the moments those features act on (a phase sent, acknowledged, a run forgotten).

Read-only over the herald's tables, plus two questions the herald asks back through
``host.peer(DayOfActionFeature)`` when that feature runs: which rooms declined a run (they get no
more phases and no escalations) and whom to escalate to (liaison, backup, coordination rooms).
A listener that fails is logged and never stops a delivery.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bots.dayofaction.feature import DayOfActionFeature
from bots.dayofaction.herald_port import CoalitionInfo, PhaseSent, PhaseView, RunInfo, RunListener, RunSpec
from bots.herald.escalation import phase_title
from bots.herald.leaderless import LeaderlessDelivery
from bots.herald.render_phases import VARIABLES
from bots.runtime.commands import CommandContext, command
from bots.runtime.errors import MatrixError
from bots.runtime.i18n import _
from bots.runtime.i18n_rooms import room_language
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.message import Inline, Message, code
from bots.slots.feature import SlotsFeature
from protocols.herald import Escalation, ProtocolTemplate
from protocols.herald.plan import MemberRoom, RunState, render_variables
from storage.herald import Coalition, Delivery, Member, Run

log = logging.getLogger(__name__)
LAST_STEP = 99  # past every step of the ladder: nothing more is owed
LIVE: tuple[RunState, ...] = ("planned", "confirmed", "done")
STANDARD_SURVEY = ("why", "area", "seats", "access", "language")  # a template without ``survey:``


class DayOfActionPort(LeaderlessDelivery):
    """The port's methods and the herald's calls to the day-of-action listeners."""

    _doa_listeners: list[RunListener]

    def dayofaction_listen(self, listener: RunListener) -> None:
        if not hasattr(self, "_doa_listeners"):
            self._doa_listeners = []
        if listener not in self._doa_listeners:
            self._doa_listeners.append(listener)

    async def _doa_info(self, run: Run) -> RunInfo | None:
        coalition = await self.coalitions.get(run.coalition)
        if coalition is None:
            return None
        members = tuple(RoomID(m.room_id) for m in await self.coalitions.members(run.coalition))
        forget_at = max(run.action_at, run.created_at) + self.host.retention.protocol_runs
        return RunInfo(
            run.run_id,
            run.template,
            run.coalition,
            run.action_at,
            forget_at,
            members,
            (RoomID(coalition.coordination_room),),
        )

    async def dayofaction_runs(self, room_id: RoomID) -> Sequence[RunInfo]:
        out: list[RunInfo] = []
        for coalition in await self.coalitions.coalitions_of(room_id):
            for run in await self.runs.list_for(coalition.name, LIVE):
                info = await self._doa_info(run)
                if info is not None and info.forget_at > self.host.clock():
                    out.append(info)
        return out

    async def dayofaction_run(self, run_id: str) -> RunInfo | None:
        run = await self.runs.get(run_id)
        return None if run is None or run.state not in LIVE else await self._doa_info(run)

    async def dayofaction_spec(self, run_id: str) -> RunSpec:
        """The checklist items (``marshal: 2`` is a slot); slots close at the template's
        ``slots_close`` (else when the first phase with a checklist goes out); the template's
        survey (else the five standard questions)."""
        run = await self.runs.get(run_id)
        template = self.library().get(run.template) if run is not None else None
        if run is None or template is None:
            return RunSpec()
        items: list[str] = []
        closes: datetime | None = None
        phase_key: str | None = None
        for phase in template.phases:
            if phase.checklist and phase_key is None:
                phase_key, closes = phase.key, run.action_at + phase.offset
            items.extend(phase.checklist)
        if template.slots_close is not None:
            closes = run.action_at + template.slots_close
        survey = template.survey if template.survey is not None else STANDARD_SURVEY
        return RunSpec(tuple(items), closes, tuple(survey), phase_key)

    async def dayofaction_liaison(self, room_id: RoomID) -> UserID | None:
        # A room in several coalitions: the liaison it drew serves all of them (see below).
        liaisons = [m.liaison for _c, m in await self.memberships(room_id) if m.liaison]
        return UserID(liaisons[0]) if liaisons else None

    async def dayofaction_coalitions(self, room_id: RoomID) -> Sequence[CoalitionInfo]:
        out = []
        for c in await self.coalitions.coalitions_of(room_id):
            members = tuple(RoomID(m.room_id) for m in await self.coalitions.members(c.name))
            out.append(CoalitionInfo(c.name, members, (RoomID(c.coordination_room),)))
        return out

    async def dayofaction_phases(
        self, template: str, room_id: RoomID, action_at: datetime
    ) -> Sequence[PhaseView] | None:
        found = self.library().get(template.strip().lower())
        if found is None:
            return None
        room = MemberRoom(room_id, await self.zone_of(room_id), await self.details(room_id))
        coalitions = await self.coalitions.coalitions_of(room_id)
        language = await room_language(self.host.settings, room_id)
        out = []
        for phase in (p.in_language(language) for p in found.phases):  # the room's text, if any
            variables = render_variables(
                run_id="drill",
                template=found,
                action_time=action_at,
                phase_time=action_at + phase.offset,
                room=room,
                coalition=coalitions[0].name if coalitions else "",
                words=VARIABLES,
            )
            text = string.Template(phase.message).safe_substitute(variables).strip()
            within = phase.ack.within if phase.ack.needed else None
            out.append(PhaseView(phase.key, phase.title, phase.offset, text, within))
        return out

    # -- the herald's moments, told to the listeners --------------------------------------------

    async def doa_phase_sent(self, d: Delivery, event_id: str) -> None:
        run = await self.runs.get(d.run_id)
        template = self.library().get(run.template) if run is not None else None
        phase = template.phase(d.phase_key) if template is not None else None
        sent = PhaseSent(
            d.run_id,
            RoomID(d.room_id),
            d.phase_key,
            EventID(event_id),
            self.host.clock(),
            tuple(phase.checklist) if phase is not None else (),
        )
        for listener in getattr(self, "_doa_listeners", []):
            try:
                await listener.run_phase_sent(sent)
            except Exception:
                log.exception("herald: a day-of-action listener failed on %s", d.txn_id)

    async def _record(self, d: Delivery) -> None:
        await super()._record(d)
        await self._doa_if_sent(d)

    async def _follow_copy(self, d: Delivery, content: dict[str, Any]) -> None:
        await super()._follow_copy(d, content)
        await self._doa_if_sent(d)

    async def _doa_if_sent(self, d: Delivery) -> None:
        now = await self.runs.delivery(d.txn_id)
        if now is not None and now.state == "sent" and now.event_id:
            await self.doa_phase_sent(now, now.event_id)

    async def doa_acked(self, run_id: str, room_id: str, phase: str, by: str, at: datetime) -> None:
        for listener in getattr(self, "_doa_listeners", []):
            try:
                await listener.run_acked(run_id, RoomID(room_id), phase, UserID(by), at)
            except Exception:
                log.exception("herald: a day-of-action listener failed on an ack of %s", run_id)

    async def doa_runs_forgotten(self, run_ids: Sequence[str]) -> None:
        for run_id in run_ids:
            for listener in getattr(self, "_doa_listeners", []):
                try:
                    await listener.run_ended(run_id)
                except Exception:
                    log.exception("herald: a day-of-action listener failed forgetting %s", run_id)

    async def dayofaction_set_liaison(self, room_id: RoomID, user_id: UserID | None) -> None:
        for coalition, member in await self.memberships(room_id):
            if member.liaison != user_id:
                await self.coalitions.set_liaison(coalition.name, room_id, user_id)

    # -- a declined room gets nothing more; the backup comes after the liaison -------------------

    async def deliver_due(self, run_id: str) -> int:
        """What is due, except to rooms that declined the run (their due phases are skipped; a
        later phase still goes out if the room rejoins before it)."""
        declined = await self._doa_declined(run_id)
        if declined:
            now = self.host.clock()
            for d in await self.runs.deliveries(run_id):
                if d.room_id in declined and d.state == "pending" and d.due_at <= now:
                    if await self.host.delivery(d.txn_id) is None:
                        await self.runs.skip(d.txn_id)
        return await super().deliver_due(run_id)

    async def escalate(self, run_id: str) -> None:
        """Every due step, except for rooms that declined the run (their ladder is closed)."""
        declined = await self._doa_declined(run_id)
        for d in await self.runs.deliveries(run_id) if declined else []:
            if d.room_id in declined and d.ack_by is not None and d.acked_at is None:
                await self.runs.record_escalation(d.txn_id, LAST_STEP)
        await super().escalate(run_id)

    async def _note_coordination(
        self,
        run: Run,
        template: ProtocolTemplate,
        d: Delivery,
        step: Escalation,
        member: Member,
        coalition: Coalition,
    ) -> None:
        """Before the coordination room: the room's backup liaison, by DM."""
        autonomy = self.host.peer(DayOfActionFeature)
        term = await autonomy.current_liaison(RoomID(d.room_id)) if autonomy is not None else None
        if term is not None and term.backup and term.backup not in (member.liaison, self.host.user_id):
            label = await self.label(member.room_id)
            text = Message.of(
                _(
                    "⏰ {room} has not acknowledged “{phase}” of run {run} ({template}), and its liaison "
                    "has not answered: you are the room's backup. Please check the room and acknowledge "
                    "there ({command}, or react {reaction}).",
                    room=label,
                    phase=phase_title(
                        template, d.phase_key, await room_language(self.host.settings, member.room_id)
                    ),
                    run=run.run_id,
                    template=template.name,
                    command=code(f"!ack {run.run_id}"),
                    reaction=self.config.ack_reaction,
                )
            )
            try:
                dm = await self.dm_room(term.backup, member.room_id)
            except MatrixError as exc:
                log.warning("herald: no DM with a backup liaison for %s: %s", d.txn_id, exc.errcode)
            else:
                await self.host.post(dm, text, key(self.name, "backup", d.txn_id, step.step))
        await super()._note_coordination(run, template, d, step, member, coalition)

    @command("protocol status", help="The acknowledgement board of a run (rooms x phases)")
    async def protocol_status(
        self, ctx: CommandContext, run: str | None = None, *, in_: str | None = None
    ) -> None:
        """The herald's board, then the rooms that declined the run (told apart from the silent)
        and each room's slots as filled / open counts (names stay in the room)."""
        await super().protocol_status(ctx, run, in_=in_)
        coalition, _member = await self.member_for_run(ctx, run, in_)
        found = await self.run_in(coalition, run) if run is not None else None
        run_id = found.run_id if found is not None else None
        if run_id is None:
            runs = [r for r in await self.runs.list_for(coalition.name) if r.state != "planned"]
            run_id = max(runs, key=lambda r: r.created_at).run_id if runs else None
        if run_id is None:
            return
        autonomy = self.host.peer(DayOfActionFeature)
        declined = await autonomy.declined_rooms(run_id) if autonomy is not None else {}
        slots = self.host.peer(SlotsFeature)
        members = [RoomID(m.room_id) for m in await self.coalitions.members(coalition.name)]
        counts = await slots.board_lines(run_id, members) if slots is not None else []
        msg = Message()
        if declined:
            lines: list[Inline] = [
                _("{room}: declined ({reason})", room=await self.label(r), reason=why)
                if why
                else _("{room}: declined", room=await self.label(r))
                for r, why in declined.items()
            ]
            msg = msg.paragraph(_("Sitting this run out (declined, not silent):")).bullets(lines)
        if counts:
            msg = msg.paragraph(_("Slots per room (filled / open, waiting; names stay in each room):"))
            msg = msg.bullets(counts)
        if declined or counts:
            await ctx.reply(msg)

    @command("ack", help="Acknowledge a run's messages for your room (liaison)")
    async def ack(self, ctx: CommandContext, run: str | None = None) -> None:
        """An acknowledgement typed after an escalation counts as an escalation answered, as a
        reaction does."""
        await super().ack(ctx, run)
        rows = await self.host.db.fetchall(
            "SELECT DISTINCT run_id, room_id, phase, escalation_step FROM herald_delivery"
            " WHERE bot = ? AND acked_by = ? AND acked_at = ?",
            (self.host.user_id, ctx.sender, ctx.now.timestamp()),
        )
        autonomy = self.host.peer(DayOfActionFeature)
        answered: set[str] = set()
        for run_id, room_id, phase, step in rows:
            await self.doa_acked(str(run_id), str(room_id), str(phase), ctx.sender, ctx.now)
            if autonomy is not None and int(step) > 0 and str(room_id) not in answered:
                answered.add(str(room_id))
                await autonomy.record_answer(str(room_id), ctx.sender, ctx.now)

    async def on_reaction(self, ctx: CommandContext, target: EventID, reaction: str) -> None:
        """An acknowledgement after an escalation counts as an escalation answered."""
        before = await self.runs.by_event(ctx.room_id, target)
        await super().on_reaction(ctx, target, reaction)
        after = await self.runs.by_event(ctx.room_id, target)
        if before is None or after is None or before.acked_at is not None or after.acked_by != ctx.sender:
            return
        await self.doa_acked(after.run_id, after.room_id, after.phase_key, ctx.sender, ctx.now)
        autonomy = self.host.peer(DayOfActionFeature)
        if autonomy is not None and before.escalation_step > 0:
            await autonomy.record_answer(after.room_id, ctx.sender, ctx.now)

    async def _doa_declined(self, run_id: str) -> set[str]:
        """Rooms that sit ``run_id`` out (none when the day-of-action feature does not run)."""
        autonomy = self.host.peer(DayOfActionFeature)
        return set(await autonomy.declined_rooms(run_id)) if autonomy is not None else set()
