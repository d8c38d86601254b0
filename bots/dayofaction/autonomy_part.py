"""Local autonomy and liaisons: ``!protocol decline/rejoin``, ``!local note``,
``!coalition backup``, ``!coalition liaisons``, and the liaison drawn by the room's lottery.

What the herald asks (through ``host.peer``) when it delivers and escalates:
:meth:`AutonomyPart.declined_rooms`, :meth:`AutonomyPart.local_note`,
:meth:`AutonomyPart.escalation_chain` and :meth:`AutonomyPart.record_answer`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bots.config import Strict
from bots.dayofaction.herald_port import (
    CoalitionInfo,
    PhaseSent,
    RunInfo,
    RunListener,
    herald_port,
    require_port,
    run_for,
)
from bots.dayofaction.store import AutonomyStore
from bots.lottery.feature import LotteryFeature
from bots.runtime import room_names
from bots.runtime.commands import CommandContext, command
from bots.runtime.contract import ContractFeature
from bots.runtime.converters import Text, UserRef
from bots.runtime.direct_rooms import dm_room
from bots.runtime.errors import UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _, ngettext, when
from bots.runtime.ids import RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.message import Message, Span, bold, code
from protocols.dayofaction import autonomy as rules
from protocols.dayofaction import liaisons as li

log = logging.getLogger(__name__)


class DayOfActionConfig(Strict):
    """``features.dayofaction``."""

    encrypt_dms: bool = True
    liaison_check: timedelta = timedelta(minutes=1)  # how often a lottery's liaison is looked up
    drill_keep: timedelta = timedelta(days=7)
    liaison_keep: timedelta = timedelta(days=30)  # a liaison and backup, after the term ends
    drill_min_window: timedelta = timedelta(seconds=15)  # a compressed ack window is never shorter
    overload: int = li.OVERLOAD  # escalations answered in 30 days that offer a step back


class AutonomyPart(ContractFeature[DayOfActionConfig], RunListener):
    def __init__(self, host: Host, config: DayOfActionConfig) -> None:
        super().__init__(host, config)
        self.autonomy = AutonomyStore(host.db)

    # -- what the herald asks -------------------------------------------------------------------

    async def declined_rooms(self, run_id: str) -> dict[str, str | None]:
        """room -> reason (or None) for every room that sits ``run_id`` out."""
        return await self.autonomy.declined(run_id)

    async def local_note(self, run_id: str, room_id: str) -> str | None:
        return await self.autonomy.note(run_id, room_id)

    async def escalation_chain(
        self, run_id: str, room_id: RoomID, coordination_rooms: Sequence[str]
    ) -> list[rules.Target]:
        """Liaison, then backup, then the coordination rooms; empty for a declined room."""
        term = await self.current_liaison(room_id)
        return rules.escalation_chain(
            room=room_id,
            declined=await self.autonomy.declined(run_id),
            liaison=term.liaison if term else None,
            backup=term.backup if term else None,
            coordination_rooms=coordination_rooms,
            exclude=[self.host.user_id],
        )

    async def record_answer(self, room_id: str, user_id: str, at: datetime) -> None:
        """Someone acknowledged after being escalated to: counted for 30 days. Whoever reaches
        the overload threshold is offered a step back by DM (at most once a day)."""
        await self.autonomy.answered(room_id, user_id, at)
        counts = li.answered_recently(await self.autonomy.answers(at - li.ANSWER_WINDOW), at)
        if user_id in li.overloaded(counts, self.config.overload):
            await self._offer_stepback(user_id, room_id, at)

    async def current_liaison(self, room_id: RoomID) -> li.Liaison | None:
        """The room's liaison and backup, after applying its lottery's draw or mandate end."""
        await self._sync_liaison(room_id)
        return await self._named_liaison(room_id, await self.autonomy.liaison(room_id))

    async def liaison_as_it_stands(self, room_id: RoomID) -> li.Liaison | None:
        """:meth:`current_liaison` without applying anything: what a refusal checks, so a
        refused command changes nothing (the lottery's draw is applied once it goes ahead)."""
        now = self.host.clock()
        current = await self.autonomy.liaison(room_id)
        lottery = self.host.peer(LotteryFeature)
        mandate = await lottery.mandates.get(room_id, li.LIAISON_ROLE) if lottery else None
        if mandate is not None and mandate.active(now):
            if current is None or current.liaison != mandate.holder or current.term_end != mandate.expires:
                current = li.drawn(current, room_id, li.LIAISON_ROLE, mandate.holder, mandate.expires)
        elif current is not None:
            after, hand = li.hand_off(current, now)
            current = after if hand is not None else current
        return await self._named_liaison(room_id, current)

    async def _named_liaison(self, room_id: RoomID, term: li.Liaison | None) -> li.Liaison | None:
        if term is not None and term.liaison is not None:
            return term
        port = herald_port(self.host)
        named = await port.dayofaction_liaison(room_id) if port else None
        if named is None:
            return term
        return li.Liaison(room_id, named, term.backup if term else None, None)

    # -- commands -------------------------------------------------------------------------------

    @command(
        "protocol decline",
        help="This room sits a run out: no more phases or escalations come here",
        where="room",
    )
    async def protocol_decline(self, ctx: CommandContext, run: str, reason: Text | None = None) -> None:
        info = await self._member_run(ctx, run)
        why = rules.check_reason(reason)
        if not await self.autonomy.decline(info.run_id, ctx.room_id, why, info.forget_at):
            raise UserError(
                _("This room already sits run {run} out; !protocol rejoin {run} undoes it.", run=info.run_id)
            )
        log.info("dayofaction: a room declined run %s", info.run_id)
        await ctx.reply(
            Message.of(
                _(
                    "This room sits run {run} out: no more phases or escalations come here. The "
                    "coalition's board shows it as declined, not silent. {command} undoes it.",
                    run=code(info.run_id),
                    command=code(f"!protocol rejoin {info.run_id}"),
                )
            )
        )
        name = await self.host.room_name(ctx.room_id)
        for room in info.coordination_rooms:
            text = Message.of(
                _("{room} declined run {run}: {why}.", room=bold(name), run=code(info.run_id), why=why)
                if why
                else _("{room} declined run {run}.", room=bold(name), run=code(info.run_id))
            )
            await self.host.post(
                room, text, key(self.name, "declined", info.run_id, ctx.room_id, ctx.event_id)
            )

    @command("protocol rejoin", help="This room takes part in a run it declined after all", where="room")
    async def protocol_rejoin(self, ctx: CommandContext, run: str) -> None:
        info = await self._member_run(ctx, run)
        if not await self.autonomy.rejoin(info.run_id, ctx.room_id):
            raise UserError(_("This room has not declined run {run}.", run=info.run_id))
        await ctx.reply(Message.of(_("This room takes part in run {run} again.", run=code(info.run_id))))
        name = await self.host.room_name(ctx.room_id)
        for room in info.coordination_rooms:
            text = Message.of(_("{room} rejoined run {run}.", room=bold(name), run=code(info.run_id)))
            await self.host.post(
                room, text, key(self.name, "rejoined", info.run_id, ctx.room_id, ctx.event_id)
            )

    @command("local note", help="The room's own words under each phase message of a run", where="room")
    async def local_note_cmd(self, ctx: CommandContext, run: str, text: Text) -> None:
        info = await self._member_run(ctx, run)
        note = rules.check_note(text)
        await self.autonomy.set_note(info.run_id, ctx.room_id, note, info.forget_at)
        await ctx.reply(
            Message.of(
                _("Each phase message of run {run} here now ends with your note.", run=code(info.run_id))
            )
        )

    @command(
        "coalition backup",
        help="Name the room's backup liaison (escalations go liaison, backup, coordination)",
        where="room",
    )
    async def coalition_backup(self, ctx: CommandContext, user: UserRef) -> None:
        await self._in_a_coalition(ctx.room_id)
        await self._liaison_or_moderator(ctx)
        if user not in await self.host.members(ctx.room_id):
            raise UserError(
                _("{user} is not in this room; a backup is one of the room's members.", user=user)
            )
        li.name_backup(  # refused here, nothing is applied yet
            await self.liaison_as_it_stands(ctx.room_id), ctx.room_id, user, bot=self.host.user_id
        )
        term = li.name_backup(
            await self.current_liaison(ctx.room_id), ctx.room_id, user, bot=self.host.user_id
        )
        await self.autonomy.put_liaison(term, self._liaison_forget_at(term, ctx.now))
        await ctx.reply(
            Message.of(
                _(
                    "Backup liaison: {user}. Escalations go to the liaison, then the backup, then the "
                    "coordination rooms.",
                    user=user,
                )
            )
        )

    @command(
        "coalition liaisons",
        help="Each member room's liaison, backup, term end and escalations answered lately",
    )
    async def coalition_liaisons(self, ctx: CommandContext) -> None:
        coalitions = [c for c in await require_port(self.host).dayofaction_coalitions(ctx.room_id)]
        if not coalitions:
            raise UserError(_("This room is in no coalition."))
        answered = li.answered_recently(await self.autonomy.answers(ctx.now - li.ANSWER_WINDOW), ctx.now)
        msg = Message()
        zone = await self.host.settings.zone(ctx.room_id)
        serves: dict[str, str] = {}  # a liaison -> the room they serve (their DM's language)
        for c in coalitions:
            items: list[Span] = []
            for room in c.member_rooms:
                term = await self.current_liaison(room)
                who = term.liaison if term and term.liaison else None
                if who:
                    serves.setdefault(who, room)
                backup = term.backup if term and term.backup else None
                n = answered.get(who or "none", 0)
                items.append(
                    ngettext(
                        "{room}: liaison {who} (until {until}, answered {n} escalation in 30 days), backup {backup}",
                        "{room}: liaison {who} (until {until}, answered {n} escalations in 30 days), backup {backup}",
                        n,
                        room=await self.host.room_name(room),
                        who=who or _("none"),
                        until=when(term.term_end, zone) if term and term.term_end else _("no term"),
                        backup=backup or _("none"),
                    )
                )
            msg = msg.paragraph(_("Coalition {name}:", name=bold(c.name))).bullets(
                items or [_("no member rooms")]
            )
        await ctx.reply(msg)
        for person in li.overloaded(answered, self.config.overload):
            await self._offer_stepback(person, serves.get(person, ctx.room_id), ctx.now)

    # -- the lottery's liaison -------------------------------------------------------------------

    async def _sync_liaisons(self) -> None:
        lottery = self.host.peer(LotteryFeature)
        rooms = set(await self.autonomy.liaison_rooms())
        if lottery is not None:
            rooms |= {m.room for m in await lottery.mandates.all() if m.role == li.LIAISON_ROLE}
        for room in sorted(rooms):
            await self._sync_liaison(RoomID(room))

    async def _sync_liaison(self, room_id: RoomID) -> None:
        """Apply the room's lottery: a new liaison mandate makes its holder the liaison; the end
        of one hands over to the backup, or asks for a redraw. The room is told either way."""
        now = self.host.clock()
        current = await self.autonomy.liaison(room_id)
        lottery = self.host.peer(LotteryFeature)
        mandate = await lottery.mandates.get(room_id, li.LIAISON_ROLE) if lottery else None
        if (
            mandate is not None
            and mandate.active(now)
            and (current is None or current.liaison != mandate.holder or current.term_end != mandate.expires)
        ):
            term = li.drawn(current, room_id, li.LIAISON_ROLE, mandate.holder, mandate.expires)
            assert term is not None
            await self.autonomy.put_liaison(term, self._liaison_forget_at(term, now))
            port = herald_port(self.host)
            if port is not None:
                await port.dayofaction_set_liaison(room_id, UserID(mandate.holder))
            if current is None or current.liaison != mandate.holder:
                zone = await self.host.settings.zone(room_id)
                await self.host.post(
                    room_id,
                    Message.of(
                        _(
                            "{holder} is this room's liaison to the coalition until {when} (drawn by lottery).",
                            holder=mandate.holder,
                            when=when(mandate.expires, zone),
                        )
                    ),
                    key(self.name, "liaison", room_id, mandate.holder, mandate.expires.timestamp()),
                )
            return
        if current is None:
            return
        after, hand = li.hand_off(current, now)
        if hand is None:
            return
        await self.autonomy.put_liaison(after, self._liaison_forget_at(after, now))
        port = herald_port(self.host)
        if port is not None:
            await port.dayofaction_set_liaison(room_id, UserID(hand.acting) if hand.acting else None)
        if hand.acting:
            text = Message.of(
                _(
                    "{leaving}'s mandate as liaison ended. The backup, {acting}, acts as liaison until the next draw.",
                    leaving=hand.leaving,
                    acting=hand.acting,
                )
            )
        else:
            text = Message.of(
                _(
                    "{leaving}'s mandate as liaison ended and there is no backup: draw a new liaison "
                    "with {command}. Meanwhile escalations go to the coordination rooms.",
                    leaving=hand.leaving,
                    command=code("!draw liaison"),
                )
            )
        await self.host.post(
            room_id, text, key(self.name, "handoff", room_id, hand.leaving, now.date().isoformat())
        )

    def _liaison_forget_at(self, term: li.Liaison, now: datetime) -> datetime:
        """When a room's liaison and backup are forgotten: ``liaison_keep`` after the term ends
        (or after now, without a term or once it ended)."""
        ends = term.term_end if term.term_end is not None and term.term_end > now else now
        return ends + self.config.liaison_keep

    async def _offer_stepback(self, person: str, answered_for: str, now: datetime) -> None:
        """A new direct chat is named, and speaks, in the language of the room the person answered
        for (or serves as liaison), else of its coalitions' coordination rooms."""
        port = herald_port(self.host)
        coalitions = await port.dayofaction_coalitions(RoomID(answered_for)) if port else ()
        room = await dm_room(
            self.host,
            person,
            title=room_names.COALITION,
            topic=room_names.LIAISON_TOPIC,
            encrypted=self.config.encrypt_dms,
            language_room=await room_names.language_room(
                self.host.settings, [answered_for, *(r for c in coalitions for r in c.coordination_rooms)]
            ),
        )
        text = Message.of(
            _(
                "You answered many escalations in the last 30 days. That is a lot to carry: you may step "
                "back for a while with {command} in your room (care, not shame); the backup or a new "
                "draw takes over.",
                command=code("!stepback"),
            )
        )
        await self.host.post(room, text, key(self.name, "stepback", person, now.date().isoformat()))

    # -- helpers --------------------------------------------------------------------------------

    async def _member_run(self, ctx: CommandContext, run: str) -> RunInfo:
        info = await run_for(self.host, ctx.room_id, run)
        term = await self.liaison_as_it_stands(ctx.room_id)
        rules.check_decline(
            command_room=ctx.room_id,
            target_room=ctx.room_id if ctx.room_id in info.member_rooms else "",
            sender=ctx.sender,
            liaison=term.liaison if term else None,
            sender_power=await self.host.power_of(ctx.room_id, ctx.sender),
            moderator_power=self.host.power_needed("moderator") or 50,
        )
        return info

    async def _liaison_or_moderator(self, ctx: CommandContext) -> None:
        term = await self.liaison_as_it_stands(ctx.room_id)
        if not rules.may_decline(
            sender=ctx.sender,
            liaison=term.liaison if term else None,
            sender_power=await self.host.power_of(ctx.room_id, ctx.sender),
            moderator_power=self.host.power_needed("moderator") or 50,
        ):
            raise UserError(_("Only this room's liaison or a moderator of this room can do that."))

    async def _in_a_coalition(self, room_id: RoomID) -> CoalitionInfo:
        found = [
            c
            for c in await require_port(self.host).dayofaction_coalitions(room_id)
            if room_id in c.member_rooms
        ]
        if not found:
            raise UserError(_("This room is in no coalition: !coalition join <name> first."))
        return found[0]

    async def run_phase_sent(self, sent: PhaseSent) -> None:
        """The room's local note, under each phase message sent to it."""
        note = await self.autonomy.note(sent.run_id, sent.room_id)
        if note and sent.event_id is not None:
            await self.host.post(
                sent.room_id,
                Message.of(bold(_("Local note: ")), note),
                key(self.name, "note", sent.run_id, sent.phase, sent.room_id),
                reply_to=sent.event_id,
            )

    async def run_ended(self, run_id: str) -> None:
        await self.autonomy.forget_run(run_id)
