"""Drills: ``!protocol drill <template> [speed <n>]``, the whole run rehearsed with its offsets
compressed, every message marked DRILL, acknowledgements (a ✅ reaction or ``!ack drill``) and
escalations (liaison, backup, coordination rooms) as for real; at the end the coordination room
gets the report: per room, the time to acknowledge each phase, and the silent rooms. Drill
records live in their own tables (never mixed with runs) and are forgotten after 7 days.

Every job carries only the drill id and numbers and is idempotent (the tables say what was
done), so ``start`` reschedules all of them and a job that fell due while the bot was down runs.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta
from typing import Annotated

from bots.dayofaction.autonomy_part import AutonomyPart, DayOfActionConfig
from bots.dayofaction.drill_store import Drill, DrillPhase, DrillStore
from bots.dayofaction.herald_port import PhaseView, require_port
from bots.runtime import room_names
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import ArgumentError, Converter
from bots.runtime.direct_rooms import dm_room
from bots.runtime.errors import UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _, ngettext
from bots.runtime.i18n_join import concat, joined
from bots.runtime.i18n_rules import said_clause
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Inline, Message, Span, bold, code
from protocols.dayofaction import autonomy as rules
from protocols.dayofaction import drills

log = logging.getLogger(__name__)
ACK_KEYS = ("✅", "✔️", "☑️")
DEFAULT_SPAN = timedelta(minutes=10)  # without a speed, a drill takes about this long


def _speed(text: str) -> int:
    digits = text.lower().removesuffix("x")
    if not digits.isdigit():
        raise ArgumentError(_("'{text}' is not a speed: use a number like 60x", text=text))
    try:
        return drills.check_speed(int(digits))
    except drills.DrillError as exc:
        raise ArgumentError(said_clause(exc)) from None


Speed = Annotated[int, Converter(_speed, "word", "n")]


def _mark(text: Inline) -> Span:
    """A drill message's first words (protocols/dayofaction/drills.py), in the room's language."""
    return concat(_("DRILL"), " — ", text)  # drills.DRILL_MARK, in the room's language


def _span(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


class DrillPart(AutonomyPart):
    def __init__(self, host: Host, config: DayOfActionConfig) -> None:
        super().__init__(host, config)
        self.drills = DrillStore(host.db)

    @command(
        "protocol drill",
        help="Rehearse a template with its offsets compressed; a report at the end",
        power="moderator",
        where="room",
    )
    async def protocol_drill(
        self, ctx: CommandContext, template: str, *, speed: Speed | None = None, in_: str | None = None
    ) -> None:
        port = require_port(self.host)
        coalitions = [
            c for c in await port.dayofaction_coalitions(ctx.room_id) if ctx.room_id in c.coordination_rooms
        ]
        if not coalitions:
            raise UserError(_("A drill is started from a coalition's coordination room."))
        name = rules.pick_coalition([c.name for c in coalitions], in_)
        coalition = next(c for c in coalitions if c.name == name)
        if not coalition.member_rooms:
            raise UserError(_("Coalition {name} has no member rooms to drill.", name=name))
        first = await port.dayofaction_phases(template, coalition.member_rooms[0], ctx.now)
        if first is None:
            raise UserError(_("There is no template '{template}'. See !protocol list.", template=template))
        span = first[-1].offset - first[0].offset
        chosen = speed or max(1, math.ceil(span / DEFAULT_SPAN))
        times = drills.schedule([p.offset for p in first], ctx.now, chosen)
        action_at = (
            ctx.now + drills.compress(-first[0].offset, chosen) if first[0].offset < timedelta(0) else ctx.now
        )
        drill_id = "drill-" + hashlib.sha256(ctx.event_id.encode()).hexdigest()[:8]
        rows: list[DrillPhase] = []
        windows: list[timedelta] = []
        for room in coalition.member_rooms:
            views = await port.dayofaction_phases(template, room, action_at) or first
            for seq, (view, at) in enumerate(zip(views, times, strict=True)):
                within = (
                    max(drills.compress(view.ack_within, chosen), self.config.drill_min_window)
                    if view.ack_within
                    else None
                )
                windows.append(within or timedelta(0))
                rows.append(DrillPhase(drill_id, room, view.key, seq, at, within, None, None, None, 0))
        steps = 2 + len(coalition.coordination_rooms)
        ends = times[-1] + max(windows) * (1 + steps / 2) + timedelta(seconds=5)
        drill = Drill(drill_id, template, ctx.room_id, chosen, ctx.now, ends, False)
        await self.drills.create(drill, rows, ctx.now + self.config.drill_keep)
        self._schedule_drill(drill, rows, steps)
        log.info("dayofaction: drill %s of %s at %dx", drill_id, template, chosen)
        await ctx.reply(
            Message.of(
                _(
                    "Drill {drill} of {template} at {speed}x: {phases} to {rooms}, the report here in about {length}.",
                    drill=code(drill_id),
                    template=bold(template),
                    speed=str(chosen),
                    phases=ngettext("{n} phase", "{n} phases", len(first)),
                    rooms=ngettext("{n} room", "{n} rooms", len(coalition.member_rooms)),
                    length=_span((ends - ctx.now).total_seconds()),
                )
            )
        )

    @command("ack drill", help="Acknowledge the latest drill message in this room", where="room")
    async def ack_drill(self, ctx: CommandContext) -> None:
        phase = await self.drills.latest_unacked(ctx.room_id)
        if phase is None:
            raise UserError(_("No drill message waits for an acknowledgement here."))
        await self._ack(phase, ctx.sender, ctx.now)
        await ctx.reply(
            Message.of(
                _("Acknowledged (drill {drill}, {phase}).", drill=code(phase.drill_id), phase=phase.phase)
            )
        )

    async def on_reaction(self, ctx: CommandContext, target: EventID, key_: str) -> None:
        if key_ not in ACK_KEYS or ctx.sender == self.host.user_id:
            return
        phase = await self.drills.by_event(ctx.room_id, target)
        if phase is not None and phase.ack_within is not None:
            await self._ack(phase, ctx.sender, ctx.now)

    async def _ack(self, phase: DrillPhase, sender: str, now: datetime) -> None:
        if await self.drills.acked(phase, now) and phase.escalated:
            await self.record_answer(phase.room_id, sender, now)

    # -- jobs -----------------------------------------------------------------------------------

    async def _restart_drills(self) -> None:
        for drill in await self.drills.unreported():
            rows = await self.drills.phases(drill.drill_id)
            self._schedule_drill(drill, rows, steps=2 + 8)

    def _schedule_drill(self, drill: Drill, rows: list[DrillPhase], steps: int) -> None:
        by_seq: dict[int, DrillPhase] = {}
        for row in rows:
            by_seq.setdefault(row.seq, row)
        for seq, row in by_seq.items():
            self.host.schedule.at(
                f"drill:{drill.drill_id}:send:{seq}", row.due_at, self._send_job, drill.drill_id, seq
            )
            windows = [r.ack_within for r in rows if r.seq == seq and r.ack_within]
            if not windows:
                continue
            window = max(windows)
            for step in range(1, steps + 1):
                at = row.due_at + window + window * (step - 1) / 2
                self.host.schedule.at(
                    f"drill:{drill.drill_id}:esc:{seq}:{step}",
                    at,
                    self._escalate_job,
                    drill.drill_id,
                    seq,
                    step,
                )
        self.host.schedule.at(
            f"drill:{drill.drill_id}:report", drill.ends_at, self._report_job, drill.drill_id
        )

    async def _send_job(self, drill_id: str, seq: int) -> None:
        drill = await self.drills.get(drill_id)
        if drill is None:
            return
        port = require_port(self.host)
        for row in await self.drills.phases(drill_id, seq):
            if row.sent_at is not None:
                continue
            views = await port.dayofaction_phases(drill.template, RoomID(row.room_id), drill.started_at)
            view = next((v for v in views or () if v.key == row.phase), None)
            text = self._drill_message(drill, view, row)
            event = await self.host.post(
                RoomID(row.room_id), text, key(self.name, drill_id, row.room_id, row.phase), wait=True
            )
            await self.drills.sent(row, event, self.host.clock())
            if event is not None:
                await self._keep(row.room_id, event, drill_id)

    @staticmethod
    def _drill_message(drill: Drill, view: PhaseView | None, row: DrillPhase) -> Message:
        title = view.title if view else row.phase
        msg = Message.of(
            bold(_mark(title)),
            " ",
            _(
                "(drill {drill} of {template}, not a real call)",
                drill=drill.drill_id,
                template=drill.template,
            ),
        )
        if view is not None:
            msg = msg.paragraph(view.text)
        if row.ack_within is not None:
            msg = msg.paragraph(_("Acknowledge with a ✅ reaction or {command}.", command=code("!ack drill")))
        return msg

    async def _escalate_job(self, drill_id: str, seq: int, step: int) -> None:
        drill = await self.drills.get(drill_id)
        if drill is None or drill.reported:
            return
        for row in await self.drills.phases(drill_id, seq):
            if row.ack_within is None or row.acked_at is not None or row.sent_at is None:
                continue
            term = await self.current_liaison(RoomID(row.room_id))
            chain = rules.escalation_chain(
                room=row.room_id,
                declined=(),
                liaison=term.liaison if term else None,
                backup=term.backup if term else None,
                coordination_rooms=[drill.coordination_room],
                exclude=[self.host.user_id],
            )
            target = rules.step_due(chain, step - 1)
            if target is None or not await self.drills.escalated(row, step):
                continue
            name = await self.host.room_name(RoomID(row.room_id))
            text = Message.of(
                bold(_mark(_("no acknowledgement"))),
                " ",
                _(
                    "from {room} for “{phase}” (drill {drill}). React ✅ on the drill message there, or "
                    "say {command} in that room.",
                    room=name,
                    phase=row.phase,
                    drill=drill_id,
                    command=code("!ack drill"),
                ),
            )
            where = (
                RoomID(target.id)
                if target.kind == "coordination"
                else await dm_room(
                    self.host,
                    target.id,
                    title=room_names.COALITION_ALERTS,
                    topic=room_names.ESCALATIONS_TOPIC,
                    encrypted=self.config.encrypt_dms,
                    language_room=row.room_id,
                )
            )
            event = await self.host.post(
                where, text, key(self.name, drill_id, "esc", row.room_id, row.phase, step), wait=True
            )
            if event is not None:
                await self._keep(where, event, drill_id)

    async def _report_job(self, drill_id: str) -> None:
        drill = await self.drills.get(drill_id)
        if drill is None or not await self.drills.reported(drill_id):
            return
        rows = await self.drills.phases(drill_id)
        rooms = list(dict.fromkeys(r.room_id for r in rows))
        asked = list(dict.fromkeys(r.phase for r in rows if r.ack_within is not None))
        sent = {
            (r.room_id, r.phase): r.sent_at
            for r in rows
            if r.sent_at is not None and r.ack_within is not None
        }
        acked = {(r.room_id, r.phase): r.acked_at for r in rows if r.acked_at is not None}
        report = drills.report(rooms, sent, acked, asked)
        items: list[Span] = []
        for rr in report:
            times: list[Inline] = [
                _("{phase} {time}", phase=p, time=_span(t.total_seconds()) if t is not None else _("silent"))
                for p, t in rr.ack_times
            ]
            items.append(
                _(
                    "{room}: {times}",
                    room=await self.host.room_name(RoomID(rr.room)),
                    times=joined(times) if times else _("nothing to acknowledge"),
                )
            )
        silent = [await self.host.room_name(RoomID(r)) for r in drills.silent_rooms(report)]
        msg = Message.of(
            bold(_mark(_("report"))),
            " ",
            _(
                "of drill {drill} ({template} at {speed}x): time to acknowledge each phase, per room.",
                drill=code(drill_id),
                template=drill.template,
                speed=str(drill.speed),
            ),
        )
        msg = msg.bullets(items).paragraph(
            _("Silent rooms: {rooms}.", rooms=", ".join(silent)) if silent else _("Silent rooms: none.")
        )
        event = await self.host.post(
            RoomID(drill.coordination_room), msg, key(self.name, drill_id, "report"), wait=True
        )
        if event is not None:
            await self._keep(drill.coordination_room, event, drill_id)

    async def _keep(self, room_id: str, event_id: str, drill_id: str) -> None:
        forget_at = await self.drills.forget_at(drill_id)
        if forget_at is not None:
            await self.drills.add_message(room_id, event_id, drill_id, forget_at)
