"""``!coalition ...``, ``!local ...`` and ``!ack``: who is in a coalition, and who speaks for a room.

Each handler validates everything before it writes, so a refused command changes nothing; the
rules live in ``protocols.herald``; their refusals (``RuleError``) become the user's error
message where every typed error does, in the runtime.
"""

from __future__ import annotations

import secrets

from bots.herald.delivery import Broadcast
from bots.herald.grammar import KnownRoom
from bots.herald.render import rooms_list
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import UserRef
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.i18n import _, duration, when
from bots.runtime.ids import RoomID, server_of
from bots.runtime.message import Inline, Message
from protocols.herald.consent import (
    INVITE_TTL,
    MAX_OPEN_INVITES,
    TOKEN_BYTES,
    check_coalition_name,
    check_invite_token,
    make_invite_token,
)
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

    async def _not_coordinating(self, ctx: CommandContext) -> None:
        """A room coordinates one coalition at most (it may be a member of others: a coalition
        of coalitions), so that what a coordination room starts is never ambiguous."""
        current = await self.coalitions.coordinated_by(ctx.room_id)
        if current:
            raise UserError(
                _(
                    "This room already coordinates coalition {coalition}; a room coordinates one coalition. "
                    "Create the new one from another room, then invite this room into it.",
                    coalition=current[0].name,
                )
            )

    @command(
        "coalition create",
        help="Create a coalition coordinated from this room",
        power="moderator",
        where="room",
    )
    async def coalition_create(self, ctx: CommandContext, name: str) -> None:
        wanted = check_coalition_name(name)
        await self._not_coordinating(ctx)
        homeserver = server_of(ctx.room_id) or server_of(ctx.sender)
        created = await self.coalitions.create(wanted, ctx.room_id, homeserver, ctx.sender, ctx.now)
        if created is None:
            raise UserError(
                _(
                    "A coalition named {coalition} already exists on this bot; pick another name. To join it, "
                    "ask its coordination room for an invitation.",
                    coalition=wanted,
                )
            )
        await ctx.reply(
            Message.of(
                _(
                    "Coalition {coalition} created; this room coordinates it: its moderators start, amend and "
                    "cancel protocol runs. Rooms join only by invitation: a coordinator types !coalition "
                    "invite [room] here and passes the token to that room. This room's liaison is {liaison} "
                    "(change with !coalition liaison <@user>).",
                    coalition=wanted,
                    liaison=ctx.sender,
                )
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
            raise UserError(_("That room is already in coalition {coalition}.", coalition=coalition.name))
        if await self.coalitions.count_members(coalition.name) >= self.config.max_member_rooms:
            raise UserError(
                _(
                    "Coalition {coalition} has {limit} rooms, the most one coalition may have; remove a room "
                    "(!coalition remove <room>) before inviting another.",
                    coalition=coalition.name,
                    limit=self.config.max_member_rooms,
                )
            )
        token = make_invite_token(secrets.token_bytes(TOKEN_BYTES))
        expires = ctx.now + INVITE_TTL
        if not await self.coalitions.add_invite(
            coalition.name, token_hash(token), target, ctx.sender, ctx.now, expires, MAX_OPEN_INVITES
        ):
            raise UserError(
                _(
                    "Coalition {coalition} already has {limit} open invitations; wait until some are used or "
                    "expire ({ttl} after they were issued).",
                    coalition=coalition.name,
                    limit=MAX_OPEN_INVITES,
                    ttl=duration(INVITE_TTL),
                )
            )
        await self.share_invite(coalition.name, token_hash(token), target, expires)
        zone = await self.zone_of(ctx.room_id)
        head = (
            _(
                "Invitation to coalition {coalition}, for one room (the one named), valid once until {when}:",
                coalition=coalition.name,
                when=when(expires, zone),
            )
            if target
            else _(
                "Invitation to coalition {coalition}, for one room, valid once until {when}:",
                coalition=coalition.name,
                when=when(expires, zone),
            )
        )
        await ctx.reply(
            Message.of(head)
            .preformatted(token)
            .paragraph(
                _(
                    "Pass it privately to a moderator of the joining room; they type there: {command}",
                    command=f"!coalition join {token}",
                )
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
        homeserver = server_of(ctx.room_id) or server_of(ctx.sender)
        used = await self.coalitions.use_invite(
            token_hash(typed), ctx.room_id, homeserver, ctx.sender, ctx.now, self.config.max_member_rooms
        )
        if used.outcome == "other_room":
            raise UserError(_("This invitation was issued for another room; it works only there."))
        if used.outcome == "already" and used.coalition is not None:
            raise UserError(
                _("This room is already in coalition {coalition}.", coalition=used.coalition.name)
            )
        if used.outcome == "full":
            raise UserError(
                _(
                    "That coalition already has {limit} rooms, the most one coalition may have.",
                    limit=self.config.max_member_rooms,
                )
            )
        if used.coalition is None:
            raise UserError(
                _(
                    "This invitation is not valid: it was never issued by this bot, was used already, or "
                    "expired (invitations last {ttl}). Ask the coordination room for a new one.",
                    ttl=duration(INVITE_TTL),
                )
            )
        coalition = used.coalition
        await self.spend_invite(coalition.name, token_hash(typed))
        coordination = await self.label(coalition.coordination_room)
        coordinators = await self._coordinators_of(coalition)
        who: Inline = ", ".join(coordinators) if coordinators else _("its moderators")
        await ctx.reply(
            Message.of(
                _(
                    "This room joined coalition {coalition}. It is coordinated from “{coordination}” ({room}) by "
                    "{who}: protocol messages from this bot in this coalition come from them. This room's "
                    "liaison is {liaison} (change with !coalition liaison <@user>). Fill in your local details "
                    "with !local set meeting_point <place>, !local set local_contact <who>, !local set timezone "
                    "<Area/City>. A moderator can take this room out at any time with !coalition leave.",
                    coalition=coalition.name,
                    coordination=coordination,
                    room=coalition.coordination_room,
                    who=who,
                    liaison=ctx.sender,
                )
            )
        )
        await self.share_member(coalition.name, ctx.room_id)
        await self.coalition_changed(coalition.name)
        label = await self.label(ctx.room_id)
        await self.host.post(
            RoomID(coalition.coordination_room),
            Message.of(
                _(
                    "➕ {room} ({server}) joined coalition {coalition} with an invitation; liaison {liaison}.",
                    room=label,
                    server=homeserver,
                    coalition=coalition.name,
                    liaison=ctx.sender,
                )
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
            raise UserError(_("The coordination room cannot remove itself; it coordinates the coalition."))
        if not await self.coalitions.leave(coalition.name, target):
            raise UserError(
                _(
                    "That room is not in coalition {coalition}; !coalition rooms lists its rooms.",
                    coalition=coalition.name,
                )
            )
        cancelled = await self.runs.cancel_room(target, coalition.name)
        await self.coalition_changed(coalition.name)
        label = await self.label(target)
        await ctx.reply(
            Message.of(
                _(
                    "{room} is out of coalition {coalition}: it gets nothing further ({cancelled} pending "
                    "messages to it will not be sent).",
                    room=label,
                    coalition=coalition.name,
                    cancelled=cancelled,
                )
            )
        )
        await self.host.post(
            room,
            Message.of(
                _(
                    "This room was removed from coalition {coalition} by its coordination room: it gets no more "
                    "of its protocol messages.",
                    coalition=coalition.name,
                )
            ),
            ctx.key("coalition-removed"),
        )

    @command(
        "coalition leave",
        help="Take this room out of its coalition (in <coalition>: when it is in several)",
        power="moderator",
        where="room",
    )
    async def coalition_leave(self, ctx: CommandContext, *, in_: str | None = None) -> None:
        coalition, _member = await self.member_of(ctx, in_)
        if coalition.coordination_room == ctx.room_id:
            raise UserError(
                _(
                    "This room coordinates coalition {coalition}, so it cannot leave it; its member rooms would "
                    "be left without coordinators.",
                    coalition=coalition.name,
                )
            )
        await self.coalitions.leave(coalition.name, ctx.room_id)
        await self.runs.cancel_room(ctx.room_id, coalition.name)
        await self.coalition_changed(coalition.name)
        await ctx.reply(
            Message.of(
                _(
                    "This room left coalition {coalition}: it gets no more of its protocol messages.",
                    coalition=coalition.name,
                )
            )
        )
        label = await self.label(ctx.room_id)
        await self.host.post(
            RoomID(coalition.coordination_room),
            Message.of(_("➖ {room} left coalition {coalition}.", room=label, coalition=coalition.name)),
            ctx.key("coalition-left"),
        )

    @command(
        "coalition rooms", help="List the coalition's rooms, their homeserver and liaison (member rooms only)"
    )
    async def coalition_rooms(self, ctx: CommandContext, *, in_: str | None = None) -> None:
        coalition, _member = await self.member_of(ctx, in_)
        members = await self.coalitions.members(coalition.name)
        labelled = [(m, await self.label(m.room_id)) for m in members]
        await ctx.reply(rooms_list(coalition.name, coalition.coordination_room, labelled))

    @command(
        "coalition liaison", help="Name this room's liaison to the coalition", power="moderator", where="room"
    )
    async def coalition_liaison(self, ctx: CommandContext, user: UserRef, *, in_: str | None = None) -> None:
        coalition, _member = await self.member_of(ctx, in_)
        if user not in await self.host.members(ctx.room_id):
            raise UserError(
                _("{user} is not in this room: invite them first, then name them liaison.", user=user)
            )
        await self.coalitions.set_liaison(coalition.name, ctx.room_id, user)
        await self.share_member(coalition.name, ctx.room_id)
        await ctx.reply(
            Message.of(
                _(
                    "{user} is now this room's liaison to coalition {coalition}: they acknowledge protocols.",
                    user=user,
                    coalition=coalition.name,
                )
            )
        )
