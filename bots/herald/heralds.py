"""``!coalition herald add|remove``, ``!coalition heralds`` and ``!coalition coordinate``: several
heralds, on different homeservers, and several coordination rooms for one coalition.

Adding the first other herald moves the coalition into a control room (the upgrade): this bot
creates it (room version 12, encrypted), writes what it knows there (``protocols.coalition.
upgrade``: rooms, runs with their plans, acknowledgements, its own copies), admits the new herald
and invites it into the control room and every member room. From then on any herald can start,
amend or cancel a run and any herald delivers, whichever goes first (``bots.herald.leaderless``).
"""

from __future__ import annotations

import secrets

from bots.herald.base import log
from bots.herald.control_room import create_control_room, grant_power, profile_exists, put_state
from bots.herald.control_view import ControlView
from bots.herald.render_heralds import herald_list
from bots.herald.sharing import Sharing
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import UserRef
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.i18n import _, ngettext
from bots.runtime.ids import RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.message import Message
from protocols.coalition import Registry
from protocols.coalition.charter import copies_event
from protocols.coalition.delivery import SeenCopy
from protocols.coalition.reveal import admission_state, coordination_state, instance_state
from protocols.coalition.upgrade import upgrade_single_herald
from storage.herald import Coalition
from storage.herald_control import StoredCopy


class HeraldCommands(Sharing):
    """Heralds and coordination rooms of a coalition."""

    async def _ensure_control(self, coalition: Coalition) -> ControlView:
        """The coalition's control room, made now from this herald's records if it has none."""
        room = await self.control.control_of(coalition.name)
        if room is not None:
            view = self.views.get(room) or await self.refresh(room)
            if view is not None:
                return view
        return await self.upgrade(coalition)

    async def upgrade(self, coalition: Coalition) -> ControlView:
        """Move a single-herald coalition into a new control room, losing no run, delivery or ack."""
        me = str(self.host.user_id)
        members = await self.coalitions.members(coalition.name)
        runs = await self.runs.list_for(coalition.name)
        deliveries = {r.run_id: await self.runs.deliveries(r.run_id) for r in runs}
        amendments = {r.run_id: len(await self.runs.amendments(r.run_id)) for r in runs}
        salts = {r.run_id: secrets.token_bytes(16) for r in runs}
        plan = upgrade_single_herald(
            me, coalition.coordination_room, members, runs, deliveries, amendments, salts
        )
        room = await create_control_room(self.host, coalition.name, [])
        now = self.host.clock()
        await self.control.link(coalition.name, room, now)
        view = ControlView(room, Registry.empty([me]))
        self.views[room] = view
        await self.share_charter(view, coalition.name)
        for write in plan.state:
            await self._state(view, write)
        for copy in plan.own_copies:
            await self.control.add_copy(_stored(copy))
        for run in runs:  # what was delivered before, ahead of the plans: the
            # others hold back on it as soon as they can plan
            mine = [c for c in plan.own_copies if c.key.run_id == run.run_id]
            if mine:
                await self._private(
                    view,
                    copies_event(run.run_id, mine),
                    key(self.name, "upgrade", room, "copies", run.run_id),
                )
        for index, event in enumerate(plan.private):
            await self._private(view, event, key(self.name, "upgrade", room, index))
        for run in runs:
            rev = next(
                (w.content["rev"] for w in plan.state if w.state_key == run.run_id and "rev" in w.content),
                None,
            )
            digest = next(
                (
                    w.content["plan_hash"]
                    for w in plan.state
                    if w.state_key == run.run_id and "plan_hash" in w.content
                ),
                None,
            )
            if isinstance(rev, int) and isinstance(digest, str):
                await self.control.set_shared_rev(run.run_id, rev, digest)
        log.info("herald: coalition moved into a control room (%d rooms, %d runs)", len(members), len(runs))
        return view

    @command(
        "coalition herald add",
        help="Add another herald (a bot on another homeserver) to this room's coalition",
        power="moderator",
        where="room",
    )
    async def coalition_herald_add(self, ctx: CommandContext, user: UserRef) -> None:
        coalition = await self.coordination(ctx)
        if user == self.host.user_id:
            raise UserError(_("This bot is already a herald of the coalition."))
        if not await profile_exists(self.host, UserID(user)):
            raise UserError(
                _(
                    "{user} is not a Matrix user this homeserver can find (or its homeserver does not "
                    "answer): check the id with its operator.",
                    user=user,
                )
            )
        view = await self._ensure_control(coalition)
        held = view.registry.heralds.get(user)
        if held is not None and not held.retired:
            raise UserError(
                _("{user} is already a herald of coalition {coalition}.", user=user, coalition=coalition.name)
            )
        generation = 0 if held is None else held.generation + 1
        await self._state(view, admission_state(user, generation=generation))
        await grant_power(self.host, view.room_id, user)
        try:
            await self.host.invite(RoomID(view.room_id), UserID(user))
        except MatrixError as exc:
            log.info("herald: inviting a herald into the control room failed (%s)", exc.errcode)
        rooms = sorted(view.registry.member_rooms)
        invited = await self.invite_heralds(view, rooms)
        await ctx.reply(
            Message.of(
                ngettext(
                    "{user} is now a herald of coalition {coalition}: it was invited to the control room "
                    "and to {n} member room. It takes part once it has joined them, which its "
                    "operator allows by listing this homeserver in access.allowed_servers. "
                    "!coalition heralds shows each herald and its last heartbeat.",
                    "{user} is now a herald of coalition {coalition}: it was invited to the control room "
                    "and to {n} member rooms. It takes part once it has joined them, which its "
                    "operator allows by listing this homeserver in access.allowed_servers. "
                    "!coalition heralds shows each herald and its last heartbeat.",
                    invited,
                    user=user,
                    coalition=coalition.name,
                )
            )
        )

    @command(
        "coalition herald remove",
        help="Retire a herald from this room's coalition",
        power="moderator",
        where="room",
    )
    async def coalition_herald_remove(self, ctx: CommandContext, user: UserRef) -> None:
        coalition = await self.coordination(ctx)
        view = self.view_of(coalition.name)
        held = view.registry.heralds.get(user) if view is not None else None
        if view is None or held is None or held.retired:
            raise UserError(
                _(
                    "{user} is not a herald of coalition {coalition}; !coalition heralds lists them.",
                    user=user,
                    coalition=coalition.name,
                )
            )
        if len(view.registry.live_heralds - {user}) == 0:
            raise UserError(_("That is the coalition's last herald: add another before retiring it."))
        # Creators too: a retired creator still counts as admitted (its past writes stay valid)
        # but no longer takes part in delivery.
        await self._state(view, admission_state(user, generation=held.generation, retired=True))
        if user == self.host.user_id:
            await self._state(view, instance_state(user, active=False))
        try:
            await self.host.api(
                "POST",
                f"/_matrix/client/v3/rooms/{view.room_id}/kick",
                {"user_id": user, "reason": "retired"},
            )
        except MatrixError:
            pass  # itself, or already gone: the registry is what counts
        await ctx.reply(
            Message.of(
                _(
                    "{user} is retired from coalition {coalition}: no herald counts on it for delivery "
                    "any more, and its later messages prove nothing.",
                    user=user,
                    coalition=coalition.name,
                )
            )
        )

    @command("coalition heralds", help="List the coalition's heralds, their homeserver and last heartbeat")
    async def coalition_heralds(self, ctx: CommandContext, *, in_: str | None = None) -> None:
        coalition, _member = await self.member_of(ctx, in_)
        view = self.view_of(coalition.name)
        if view is None:
            await ctx.reply(
                Message.of(
                    _(
                        "Coalition {coalition} has one herald, this bot ({bot}). "
                        "A coordination room adds another with !coalition herald add <@bot:server>.",
                        coalition=coalition.name,
                        bot=str(self.host.user_id),
                    )
                )
            )
            return
        rooms: dict[str, int] = {}
        for room_id in view.registry.member_rooms:
            try:
                joined = await self._joined(room_id)
            except MatrixError:
                continue
            for herald in view.registry.heralds:
                rooms[herald] = rooms.get(herald, 0) + (herald in joined)
        await ctx.reply(herald_list(coalition.name, view, rooms, self.host.clock()))

    @command(
        "coalition coordinate",
        help="Make a member room another coordination room of this room's coalition",
        power="moderator",
        where="room",
    )
    async def coalition_coordinate(self, ctx: CommandContext, room: str) -> None:
        coalition = await self.coordination(ctx)
        try:
            target = str(await self.host.resolve_room(room))
        except MatrixError:
            raise UserError(
                _("The bot cannot find that room: use #alias:server, a room id or a matrix.to link.")
            ) from None
        members = {m.room_id for m in await self.coalitions.members(coalition.name)}
        if target not in members:
            raise UserError(
                _(
                    "That room is not in coalition {coalition}: it joins first (!coalition invite here, "
                    "then !coalition join <token> there), then it can coordinate.",
                    coalition=coalition.name,
                )
            )
        view = await self._ensure_control(coalition)
        if target in view.registry.coordination_rooms:
            raise UserError(_("That room already coordinates the coalition."))
        await self._state(view, coordination_state(target))
        await ctx.reply(
            Message.of(
                _(
                    "That room now coordinates coalition {coalition} too: its moderators start, amend and "
                    "cancel runs through any herald, and it keeps working if this room is lost.",
                    coalition=coalition.name,
                )
            )
        )


def _stored(copy: SeenCopy) -> StoredCopy:
    return StoredCopy(
        copy.key.run_id,
        copy.key.key,
        copy.key.room_id,
        copy.sender,
        copy.event_id,
        copy.origin_server_ts,
        copy.digest,
    )


__all__ = ["HeraldCommands", "put_state"]
