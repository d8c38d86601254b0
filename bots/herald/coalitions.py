"""``!coalition ...``, ``!local ...`` and ``!ack``: who is in a coalition, and who speaks for a room.

Each handler validates everything before it writes, so a refused command changes nothing; the
rules live in ``protocols.herald``; their refusals (``RuleError``) become the user's error
message where every typed error does, in the runtime.
"""

from __future__ import annotations

import secrets
from zoneinfo import ZoneInfo

from bots.herald.base import run_id_of
from bots.herald.delivery import Broadcast
from bots.herald.grammar import KnownRoom
from bots.herald.render import local_details, rooms_list
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Text, UserRef
from bots.runtime.errors import MatrixError, PermissionDenied, UserError
from bots.runtime.ids import RoomID, server_of
from bots.runtime.message import Message
from protocols.herald import validate_local
from protocols.herald.consent import (
    INVITE_TTL,
    MAX_MEMBERS,
    MAX_OPEN_INVITES,
    TOKEN_BYTES,
    check_coalition_name,
    check_invite_token,
    make_invite_token,
)
from protocols.timespec import format_duration, format_local
from storage.herald import Coalition, token_hash


class CoalitionCommands(Broadcast):
    """Creating, joining and leaving coalitions; liaisons; local details; acknowledgements."""

    async def _coordinators_of(self, coalition: Coalition) -> list[str]:
        """Who coordinates: the coordination room's moderators the operator allows to coordinate."""
        room = RoomID(coalition.coordination_room)
        needed = self.host.power_needed("moderator")
        if needed is None:
            return []
        try:  # the levels and creators once, not once per member: a room may be large
            members = await self.host.members(room)
            table = await self.host.power_table(room)
        except MatrixError:
            return []

        def power(user: str) -> int:
            try:
                return table.of(user)
            except (TypeError, ValueError):
                return 0

        found = [str(u) for u in members if power(u) >= needed and self.is_coordinator(u)]
        return sorted(found)[:10]

    async def coalition_changed(self, coalition: str) -> None:
        """A room joined or left the coalition (``bots.herald.space`` keeps its space in step)."""

    async def _not_in_a_coalition(self, ctx: CommandContext) -> None:
        current = await self.coalitions.coalitions_of(ctx.room_id)
        if current:
            raise UserError(
                f"This room is already in coalition {current[0].name}; a room takes part in one "
                "coalition at a time. Leave it first with !coalition leave."
            )

    @command(
        "coalition create",
        help="Create a coalition coordinated from this room",
        power="moderator",
        where="room",
    )
    async def coalition_create(self, ctx: CommandContext, name: str) -> None:
        wanted = check_coalition_name(name)
        await self._not_in_a_coalition(ctx)
        homeserver = server_of(ctx.room_id) or server_of(ctx.sender)
        created = await self.coalitions.create(wanted, ctx.room_id, homeserver, ctx.sender, ctx.now)
        if created is None:
            raise UserError(
                f"A coalition named {wanted} already exists on this bot; pick another name. "
                "To join it, ask its coordination room for an invitation."
            )
        await ctx.reply(
            Message.of(
                f"Coalition {wanted} created; this room coordinates it: its moderators start, amend and "
                "cancel protocol runs. Rooms join only by invitation: a coordinator types "
                "!coalition invite [room] here and passes the token to that room. "
                f"This room's liaison is {ctx.sender} (change with !coalition liaison <@user>)."
            )
        )

    @command(
        "coalition invite",
        help="Issue a one-time invitation to this room's coalition (optionally for one room)",
        power="moderator",
        where="room",
    )
    async def coalition_invite(self, ctx: CommandContext, room: KnownRoom | None = None) -> None:
        coalition = await self.coordination(ctx)
        target = str(room) if room is not None else None
        if target is not None and target in {
            m.room_id for m in await self.coalitions.members(coalition.name)
        }:
            raise UserError(f"That room is already in coalition {coalition.name}.")
        if await self.coalitions.count_members(coalition.name) >= MAX_MEMBERS:
            raise UserError(
                f"Coalition {coalition.name} has {MAX_MEMBERS} rooms, the most one coalition may have; "
                "remove a room (!coalition remove <room>) before inviting another."
            )
        token = make_invite_token(secrets.token_bytes(TOKEN_BYTES))
        expires = ctx.now + INVITE_TTL
        if not await self.coalitions.add_invite(
            coalition.name, token_hash(token), target, ctx.sender, ctx.now, expires, MAX_OPEN_INVITES
        ):
            raise UserError(
                f"Coalition {coalition.name} already has {MAX_OPEN_INVITES} open invitations; wait until some "
                f"are used or expire ({format_duration(INVITE_TTL)} after they were issued)."
            )
        await self.share_invite(coalition.name, token_hash(token), target, expires)
        zone = await self.zone_of(ctx.room_id)
        which = "one room (the one named)" if target else "one room"
        await ctx.reply(
            Message.of(
                f"Invitation to coalition {coalition.name}, for {which}, valid once until "
                f"{format_local(expires, zone)}:"
            )
            .preformatted(token)
            .paragraph(
                f"Pass it privately to a moderator of the joining room; they type there: !coalition join {token}"
            )
        )

    @command(
        "coalition join",
        help="Join a coalition with an invitation token from its coordination room",
        power="moderator",
        where="room",
    )
    async def coalition_join(self, ctx: CommandContext, token: str) -> None:
        typed = check_invite_token(token)
        await self._not_in_a_coalition(ctx)
        homeserver = server_of(ctx.room_id) or server_of(ctx.sender)
        used = await self.coalitions.use_invite(
            token_hash(typed), ctx.room_id, homeserver, ctx.sender, ctx.now, MAX_MEMBERS
        )
        if used.outcome == "other_room":
            raise UserError("This invitation was issued for another room; it works only there.")
        if used.outcome == "full":
            raise UserError(
                f"That coalition already has {MAX_MEMBERS} rooms, the most one coalition may have."
            )
        if used.coalition is None:
            raise UserError(
                "This invitation is not valid: it was never issued by this bot, was used already, or expired "
                f"(invitations last {format_duration(INVITE_TTL)}). Ask the coordination room for a new one."
            )
        coalition = used.coalition
        await self.spend_invite(coalition.name, token_hash(typed))
        coordination = await self.label(coalition.coordination_room)
        coordinators = await self._coordinators_of(coalition)
        who = ", ".join(coordinators) if coordinators else "its moderators"
        await ctx.reply(
            Message.of(
                f"This room joined coalition {coalition.name}. It is coordinated from “{coordination}” "
                f"({coalition.coordination_room}) by {who}: protocol messages from this bot in this coalition come "
                f"from them. This room's liaison is {ctx.sender} (change with !coalition liaison <@user>). "
                "Fill in your local details with !local set meeting_point <place>, "
                "!local set local_contact <who>, !local set timezone <Area/City>. "
                "A moderator can take this room out at any time with !coalition leave."
            )
        )
        await self.share_member(coalition.name, ctx.room_id)
        await self.coalition_changed(coalition.name)
        label = await self.label(ctx.room_id)
        await self.host.post(
            RoomID(coalition.coordination_room),
            Message.of(
                f"➕ {label} ({homeserver}) joined coalition {coalition.name} with an invitation; liaison {ctx.sender}."
            ),
            ctx.key("coalition-joined"),
        )

    @command(
        "coalition remove",
        help="Take a member room out of this room's coalition",
        power="moderator",
        where="room",
    )
    async def coalition_remove(self, ctx: CommandContext, room: KnownRoom) -> None:
        coalition = await self.coordination(ctx)
        target = str(room)
        if target == coalition.coordination_room:
            raise UserError("The coordination room cannot remove itself; it coordinates the coalition.")
        if not await self.coalitions.leave(coalition.name, target):
            raise UserError(
                f"That room is not in coalition {coalition.name}; !coalition rooms lists its rooms."
            )
        cancelled = await self.runs.cancel_room(target, coalition.name)
        await self.coalition_changed(coalition.name)
        label = await self.label(target)
        await ctx.reply(
            Message.of(
                f"{label} is out of coalition {coalition.name}: it gets nothing further "
                f"({cancelled} pending messages to it will not be sent)."
            )
        )
        await self.host.post(
            room,
            Message.of(
                f"This room was removed from coalition {coalition.name} by its coordination room: "
                "it gets no more of its protocol messages."
            ),
            ctx.key("coalition-removed"),
        )

    @command("coalition leave", help="Take this room out of its coalition", power="moderator", where="room")
    async def coalition_leave(self, ctx: CommandContext) -> None:
        coalition, _ = await self.member_of(ctx)
        if coalition.coordination_room == ctx.room_id:
            raise UserError(
                f"This room coordinates coalition {coalition.name}, so it cannot leave it; "
                "its member rooms would be left without coordinators."
            )
        await self.coalitions.leave(coalition.name, ctx.room_id)
        await self.runs.cancel_room(ctx.room_id, coalition.name)
        await self.coalition_changed(coalition.name)
        await ctx.reply(
            Message.of(
                f"This room left coalition {coalition.name}: it gets no more of its protocol messages."
            )
        )
        label = await self.label(ctx.room_id)
        await self.host.post(
            RoomID(coalition.coordination_room),
            Message.of(f"➖ {label} left coalition {coalition.name}."),
            ctx.key("coalition-left"),
        )

    @command(
        "coalition rooms", help="List the coalition's rooms, their homeserver and liaison (member rooms only)"
    )
    async def coalition_rooms(self, ctx: CommandContext) -> None:
        coalition, _ = await self.member_of(ctx)
        members = await self.coalitions.members(coalition.name)
        labelled = [(m, await self.label(m.room_id)) for m in members]
        await ctx.reply(rooms_list(coalition.name, coalition.coordination_room, labelled))

    @command(
        "coalition liaison", help="Name this room's liaison to the coalition", power="moderator", where="room"
    )
    async def coalition_liaison(self, ctx: CommandContext, user: UserRef) -> None:
        coalition, _ = await self.member_of(ctx)
        if user not in await self.host.members(ctx.room_id):
            raise UserError(f"{user} is not in this room: invite them first, then name them liaison.")
        await self.coalitions.set_liaison(coalition.name, ctx.room_id, user)
        await self.share_member(coalition.name, ctx.room_id)
        await ctx.reply(
            Message.of(
                f"{user} is now this room's liaison to coalition {coalition.name}: they acknowledge protocols."
            )
        )

    # -- local details ------------------------------------------------------------------------

    @command(
        "local set",
        help="Set a local detail used in protocol messages (meeting_point, local_contact, language, timezone)",
    )
    async def local_set(self, ctx: CommandContext, key: str, value: Text) -> None:
        found = await self.membership(ctx.room_id)
        await self.require_liaison(ctx, found[1] if found else None)
        norm_key, norm_value = validate_local(key, value)
        if norm_key == "timezone":
            await self.host.settings.set_zone(ctx.room_id, ZoneInfo(norm_value))
        elif norm_key == "language":
            try:
                await self.host.settings.set_language(ctx.room_id, norm_value)
            except ValueError as exc:
                raise UserError(f"{exc}.") from None
        else:
            await self.local.set(ctx.room_id, norm_key, norm_value, ctx.now)
        await ctx.reply(Message.of(f"{norm_key} set to: {norm_value}"))

    @command("local show", help="Show this room's local details")
    async def local_show(self, ctx: CommandContext) -> None:
        await ctx.reply(local_details(await self.details(ctx.room_id)))

    # -- acknowledgements ---------------------------------------------------------------------

    @command("ack", help="Acknowledge a run's messages for your room (liaison)")
    async def ack(self, ctx: CommandContext, run: str | None = None) -> None:
        run_id = run_id_of(run) if run else None
        found = await self.membership(ctx.room_id)
        if found is not None:
            coalition, member = found
            if not await self.may_ack(ctx.room_id, ctx.sender, member):
                raise PermissionDenied(
                    f"Only this room's liaison ({member.liaison or 'none set'}) or a moderator acknowledges for the room."
                )
            if run_id is not None:
                await self.run_in(coalition, run_id)
            targets = [member]
        else:
            # A liaison may answer from a direct chat (where the escalation reached them).
            # Only for rooms they are still in: a liaison who left or was kicked is cleared here.
            targets = [
                m
                for m in await self.coalitions.rooms_of_liaison(ctx.sender)
                if await self.still_in_room(m.room_id, ctx.sender, m)
            ]
            if not targets:
                raise UserError(
                    "This room is not in a coalition (or it left), so there is nothing to acknowledge here. "
                    "Liaisons acknowledge in their own coalition room, and from a direct chat only for "
                    "rooms they are still in."
                )
        done: list[str] = []
        for member in targets:
            awaiting = await self.runs.awaiting_ack(member.room_id, run_id)
            if not awaiting:
                continue
            latest_run = awaiting[-1].run_id if run_id is None else run_id
            phases = [d.phase_key for d in awaiting if d.run_id == latest_run]
            if await self.runs.ack(latest_run, member.room_id, ctx.sender, ctx.now):
                label = "this room" if member.room_id == ctx.room_id else await self.label(member.room_id)
                done.append(f"run {latest_run} for {label}: {', '.join(phases)}")
                await self.schedule_escalation(latest_run)
                shared_run = await self.runs.get(latest_run)
                if shared_run is not None:
                    await self.share_acks(shared_run.coalition)
        if not done:
            which = f"run {run_id}" if run_id else "any run"
            raise UserError(f"Nothing from {which} awaits an acknowledgement here.")
        await ctx.reply(Message.of("✅ Acknowledged " + "; ".join(done) + "."))
