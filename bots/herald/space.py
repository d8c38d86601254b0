"""A coalition and its member rooms as a Matrix space, so that members browse the coalition's
rooms in their client's room list (``m.space.child`` in the space, ``m.space.parent`` in each
room).

``!coalition space`` (a coordinator, in the coordination room) makes the space the first time
and brings it up to date after: every member room is listed in it, and named the space as its
parent where the bot has the power to send that state there; the reply counts the rooms it could
not link, then names them. Anyone joined to a member room may join the space (its join rule is
``restricted`` to the member rooms); the coordinator who asked is invited.

From then on the space follows the coalition: a room that joins is listed, a room that leaves
(or is removed, or removes the bot) is taken out, in commands and in what a control room shared
by several heralds says. When the coalition is gone its space is emptied and forgotten. Which
rooms the space lists is the space's own state; the herald keeps only the space's id
(``herald_space``), for as long as the coalition lives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bots.herald.config import HeraldConfig
from bots.herald.control_room import q
from bots.herald.control_view import ControlView
from bots.herald.pinning import PhasePins
from bots.runtime import spaces
from bots.runtime.commands import CommandContext, command
from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.i18n import ngettext
from bots.runtime.ids import RoomID, UserID
from bots.runtime.message import Message, link
from bots.runtime.offline import Offline
from storage.herald_pins import HeraldSpaces

log = logging.getLogger(__name__)

JOIN_RULES = "m.room.join_rules"


def space_link(space_id: str) -> str:
    return f"https://matrix.to/#/{space_id}"


def listed_children(hierarchy: dict[str, Any], space_id: str) -> set[str]:
    """The rooms a space lists, from its ``/hierarchy``: the space's own ``m.space.child``
    events with a ``via`` (an empty content is a removed link, as the spec says)."""
    found: set[str] = set()
    for room in hierarchy.get("rooms") or []:
        if not isinstance(room, dict) or room.get("room_id") != space_id:
            continue
        for event in room.get("children_state") or []:
            if not isinstance(event, dict) or event.get("type") != spaces.CHILD:
                continue
            content, child = event.get("content"), event.get("state_key")
            if isinstance(content, dict) and content.get("via") and isinstance(child, str):
                found.add(child)
    return found


def restricted_to(rooms: Iterable[str]) -> dict[str, Any]:
    """A join rule that lets anyone joined to one of ``rooms`` join (room versions 8 and up)."""
    allow = [{"type": "m.room_membership", "room_id": r} for r in sorted(rooms)]
    return {"join_rule": "restricted", "allow": allow}


class CoalitionSpaces(PhasePins):
    """``!coalition space``, and the space kept in step with the coalition's rooms."""

    def __init__(self, host: Host, config: HeraldConfig) -> None:
        super().__init__(host, config)
        self.spaces = HeraldSpaces(host.db, host.user_id)
        self._space_rooms: dict[str, frozenset[str]] = {}  # what each space was last brought to

    @command(
        "coalition space",
        help="Show the coalition and its member rooms as a Matrix space (made the first time, brought up to date after)",
        power="moderator",
        where="room",
    )
    async def coalition_space(self, ctx: CommandContext) -> None:
        coalition = await self.coordination(ctx)
        found = await self.spaces.get(coalition.name)
        if found is None:
            space = await spaces.create_space(self.host, coalition.name)
            await self.spaces.put(coalition.name, space, ctx.now)
            log.info("herald: a space was made for a coalition")
        else:
            space = RoomID(found.space_id)
        rooms = [m.room_id for m in await self.coalitions.members(coalition.name)]
        unlinked: list[str] = []
        for room in rooms:
            linked = await spaces.link(self.host, space, RoomID(room))
            if not (linked.child and linked.parent):
                unlinked.append(room)
        try:
            await self._unlist_others(space, set(rooms))
            await self._open_to(space, rooms)
            self._space_rooms[coalition.name] = frozenset(rooms)
        except MatrixError as exc:  # the next change of rooms (or this command) tries again
            log.warning("herald: the space could not be brought up to date: %s", exc.errcode)
            self._space_rooms.pop(coalition.name, None)
        try:
            await self.host.invite(space, UserID(ctx.sender))
        except MatrixError:
            pass  # already in the space, or invited before
        reply = Message.of(
            ngettext(
                "Coalition {name} is a space now, listing its {n} room: {space}. Anyone in a member room may join it; you are invited.",
                "Coalition {name} is a space now, listing its {n} rooms: {space}. Anyone in a member room may join it; you are invited.",
                len(rooms),
                name=coalition.name,
                space=link(space_link(space), coalition.name),
            )
        )
        if unlinked:
            labels = ", ".join([await self.label(r) for r in unlinked])
            reply = reply.paragraph(
                ngettext(
                    "{n} room could not be linked to the space (I lack the power to name its parent there; a moderator there can give it, then type !coalition space again): {rooms}.",
                    "{n} rooms could not be linked to the space (I lack the power to name their parent there; a moderator there can give it, then type !coalition space again): {rooms}.",
                    len(unlinked),
                    rooms=labels,
                )
            )
        await ctx.reply(reply)

    # -- keeping the space in step ----------------------------------------------------------

    async def coalition_changed(self, coalition: str) -> None:
        """A room joined or left the coalition: its space follows, its pins come down."""
        await super().coalition_changed(coalition)
        await self.space_follow(coalition)
        for run_id in await self.pins.run_ids():
            run = await self.runs.get(run_id)
            if run is None or run.coalition == coalition:
                await self.settle_pins(run_id)

    async def apply_view(self, view: ControlView) -> None:
        """A control room shared by several heralds moved the coalition's rooms: the same."""
        await super().apply_view(view)
        if view.coalition is not None:
            await self.space_follow(view.coalition)

    async def space_follow(self, coalition: str) -> bool:
        """List the coalition's current rooms in its space and take out the others (nothing to
        do when it has no space, or its rooms did not change since). True when it looked."""
        found = await self.spaces.get(coalition)
        if found is None:
            return False
        rooms = frozenset(m.room_id for m in await self.coalitions.members(coalition))
        if self._space_rooms.get(coalition) == rooms:
            return False
        space = RoomID(found.space_id)
        try:
            listed = await self._listed(space)
            for room in sorted(rooms - listed):
                await spaces.link(self.host, space, RoomID(room))
            await self._unlist_others(space, set(rooms), listed)
            await self._open_to(space, rooms)
        except MatrixError as exc:
            log.warning("herald: a coalition's space not brought up to date now: %s", exc.errcode)
            return False
        self._space_rooms[coalition] = rooms
        return True

    async def _listed(self, space: RoomID) -> set[str]:
        # The space's first page holds its own entry, with every child link it has.
        path = f"/_matrix/client/v1/rooms/{q(space)}/hierarchy"
        found = await self.host.api("GET", path, query={"max_depth": "1", "limit": "1"})
        return listed_children(found, str(space))

    async def _unlist_others(self, space: RoomID, rooms: set[str], listed: set[str] | None = None) -> None:
        for room in sorted((listed if listed is not None else await self._listed(space)) - rooms):
            await spaces.unlink(self.host, space, RoomID(room))

    async def _open_to(self, space: RoomID, rooms: Iterable[str]) -> None:
        path = f"/_matrix/client/v3/rooms/{q(space)}/state/{JOIN_RULES}/"
        await self.host.api("PUT", path, restricted_to(rooms))

    # -- forgetting ---------------------------------------------------------------------------

    async def forget_room_affordances(self, room_id: RoomID) -> None:
        """The bot is out of ``room_id``: its pins there stay the room's; a space that removed
        the bot is forgotten; the runs stood down with a lost coordination room take their pins
        down; every space follows its coalition's rooms (the room may have been one of them)."""
        await self.forget_room_pins(room_id)
        await self.spaces.forget_room(room_id)
        for run_id in await self.pins.run_ids():
            await self.settle_pins(run_id)
        await self.forget_orphan_spaces()
        for found in await self.spaces.every():
            await self.space_follow(found.coalition)

    async def forget_orphan_spaces(self) -> int:
        """Spaces of coalitions that are gone: emptied (where the homeserver answers) and
        forgotten."""
        gone = 0
        for found in await self.spaces.orphans():
            try:
                await self._unlist_others(RoomID(found.space_id), set())
            except (MatrixError, Offline):
                pass  # offline, or the space is gone: it lists nothing anyone is told about
            await self.spaces.drop(found.coalition)
            self._space_rooms.pop(found.coalition, None)
            gone += 1
        return gone

    async def forget_expired_affordances(self, now: datetime) -> int:
        """Pins of expired runs, and spaces of coalitions that are gone."""
        return await self.forget_expired_pins(now - self.host.retention.protocol_runs) + (
            await self.forget_orphan_spaces()
        )

    async def restore_affordances(self) -> None:
        """At start: runs that ended while the bot was down take their pins down, and the
        unpinning of finished runs is scheduled again."""
        try:
            await self.settle_all_pins()
        except MatrixError as exc:
            log.info("herald: pins not settled at start (%s); the sweeper tries again", exc.errcode)
