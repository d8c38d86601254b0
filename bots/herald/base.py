"""What every part of the herald shares: its repositories, its templates, and the questions each
command asks first (which coalition is this room in, may this person coordinate or acknowledge).

The herald is one feature class (``bots.herald.feature.HeraldFeature``) assembled from mixins,
one per concern (coalitions, protocols, calendar, delivery); each mixin builds on this base.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bots.herald.config import HeraldConfig
from bots.runtime.commands import CommandContext
from bots.runtime.contract import ContractFeature
from bots.runtime.errors import (
    Forbidden,
    MatrixError,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransportError,
    UserError,
)
from bots.runtime.host import Host
from bots.runtime.i18n import _
from bots.runtime.ids import RoomID
from protocols.herald import (
    MemberRoom,
    ProtocolTemplate,
    TemplateError,
    TemplateIssue,
    load_library,
    load_template,
    shipped_library,
)
from storage.herald import Coalition, Coalitions, HeraldEvents, HeraldRuns, LocalDetails, Member, Run
from storage.herald_control import HeraldControl

log = logging.getLogger("bots.herald")


def load_templates(folders: Iterable[Path]) -> tuple[dict[str, ProtocolTemplate], list[TemplateIssue]]:
    """Every template in ``folders``; a broken file is skipped (and named), not fatal.

    One bad file an operator dropped in must not take the shipped protocols away with it.
    """
    folders = [f for f in folders if f.is_dir()]
    try:
        return load_library(folders), []
    except TemplateError as exc:
        problems = list(exc.issues)
    templates: dict[str, ProtocolTemplate] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
            try:
                template = load_template(path)
            except TemplateError:
                continue  # already named in ``problems``
            templates.setdefault(template.name, template)
    for problem in problems:
        log.warning("herald template skipped: %s", problem)
    return templates, problems


def permanent(exc: MatrixError) -> bool:
    """A refusal that retrying will not change: gone, forbidden, or another 4xx but 429."""
    if isinstance(exc, (Forbidden, NotFound)):
        return True
    if isinstance(exc, (RateLimited, TransportError)):
        return False
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


def run_id_of(text: str) -> str:
    return text.strip().lower()


class HeraldBase(ContractFeature[HeraldConfig]):
    """The herald's repositories and shared questions. Every table is scoped to this bot:
    bots sharing a database see only their own rows."""

    def __init__(self, host: Host, config: HeraldConfig) -> None:
        super().__init__(host, config)
        self.coalitions = Coalitions(host.db, host.user_id)
        self.local = LocalDetails(host.db, host.user_id)
        self.runs = HeraldRuns(host.db, host.user_id)
        self.events = HeraldEvents(host.db, host.user_id)
        self.control = HeraldControl(host.db, host.user_id)
        self._templates: dict[str, ProtocolTemplate] | None = None
        self.template_problems: list[TemplateIssue] = []

    # -- templates ----------------------------------------------------------------------------

    def library(self) -> dict[str, ProtocolTemplate]:
        """The shipped templates and those in ``features.herald.template_dirs`` (loaded once)."""
        if self._templates is None:
            folders = [shipped_library(), *self.config.template_dirs]
            self._templates, self.template_problems = load_templates(folders)
        return self._templates

    def template(self, name: str) -> ProtocolTemplate:
        found = self.library().get(name.strip().lower())
        if found is None:
            known = ", ".join(sorted(self.library())) or "none"
            raise UserError(
                _(
                    "There is no template '{name}'. Templates: {known} (see !protocol list).",
                    name=name,
                    known=known,
                )
            )
        return found

    # -- a room's details, zone and name ------------------------------------------------------

    async def zone_of(self, room_id: str) -> ZoneInfo:
        """The room's zone from the room settings every feature shares (UTC until it sets one)."""
        return await self.host.settings.zone(RoomID(room_id))

    async def details(self, room_id: str) -> dict[str, str]:
        """The room's local details, with its zone (if it set one) and language from the room
        settings."""
        found = await self.local.get_all(room_id)
        zone = await self.host.settings.zone_set(RoomID(room_id))
        if zone is not None:
            found["timezone"] = zone.key
        found["language"] = await self.host.settings.language(RoomID(room_id))
        return found

    async def member_rooms(self, members: Iterable[Member]) -> list[MemberRoom]:
        out = []
        for member in members:
            details = await self.details(member.room_id)
            out.append(MemberRoom(member.room_id, await self.zone_of(member.room_id), details))
        return out

    async def label(self, room_id: str) -> str:
        """A room's name as people know it (its id if it has none we can read)."""
        try:
            return str(await self.host.room_name(RoomID(room_id)))
        except MatrixError:
            return room_id

    # -- membership and who may do what -------------------------------------------------------

    async def memberships(self, room_id: str) -> list[tuple[Coalition, Member]]:
        """Every coalition this room belongs to (a coalition of coalitions: several), by name,
        each with the room's member record in it."""
        found = []
        for coalition in await self.coalitions.coalitions_of(room_id):
            for member in await self.coalitions.members(coalition.name):
                if member.room_id == room_id:
                    found.append((coalition, member))
        return found

    async def membership(self, room_id: str, coalition: str | None = None) -> tuple[Coalition, Member] | None:
        """The room's membership in ``coalition`` (named), else its first by name (None: none).
        For what a room does on its own (a reaction, another feature asking); a command that
        needs one coalition asks ``member_of``, which refuses to guess."""
        found = await self.memberships(room_id)
        if coalition is not None:
            wanted = coalition.strip().casefold()
            return next((f for f in found if f[0].name.casefold() == wanted), None)
        return found[0] if found else None

    async def gains_scope(self, room_id: str, coalition: str | None = None) -> tuple[str, list[str]] | None:
        """Read-only, for other features (the ledger of gains): the name of the coalition this
        room is in (``coalition``, when named) and every member room's id (the coordination room
        included), or None."""
        found = await self.membership(room_id, coalition)
        if found is None:
            return None
        named = found[0]
        rooms = [m.room_id for m in await self.coalitions.members(named.name)]
        return named.name, sorted({named.coordination_room, *rooms})

    async def seat_of(self, room_id: str, user_id: str) -> tuple[Coalition, Member] | None:
        """The room's membership in which ``user_id`` is the liaison, else its first: a room in
        several coalitions may send a different liaison to each."""
        found = await self.memberships(room_id)
        return next((f for f in found if f[1].liaison == user_id), found[0] if found else None)

    async def member_of(self, ctx: CommandContext, coalition: str | None = None) -> tuple[Coalition, Member]:
        """The coalition a command is about: the room's only one, or the one named with
        ``in <coalition>``; a room in several must name it."""
        found = await self.memberships(ctx.room_id)
        if not found:
            raise UserError(
                _(
                    "This room is not in a coalition. A coalition's coordination room invites a room "
                    "(!coalition invite); a moderator here then types !coalition join <token>."
                )
            )
        names = ", ".join(c.name for c, _m in found)
        if coalition is not None:
            named = await self.membership(ctx.room_id, coalition)
            if named is None:
                raise UserError(
                    _(
                        "This room is not in coalition {coalition}; it is in: {names}.",
                        coalition=coalition.strip(),
                        names=names,
                    )
                )
            return named
        if len(found) > 1:
            raise UserError(
                _(
                    "This room is in several coalitions ({names}); say which one by adding "
                    "in <coalition> to the command.",
                    names=names,
                )
            )
        return found[0]

    async def member_for_run(
        self, ctx: CommandContext, run: str | None, coalition: str | None
    ) -> tuple[Coalition, Member]:
        """As ``member_of``; a run named on a room in several coalitions says which."""
        if run is not None and coalition is None:
            found = await self.runs.get(run_id_of(run))
            if found is not None:
                named = await self.membership(ctx.room_id, found.coalition)
                if named is not None:
                    return named
        return await self.member_of(ctx, coalition)

    # -- what a coalition with a control room adds (bots.herald.heralds overrides these) --------

    def shared_coordination(self, room_id: str) -> str | None:
        """The coalition a room coordinates through a control room (None: none)."""
        return None

    async def share_run(self, run_id: str) -> None:
        """A run was confirmed, amended or cancelled here: tell the other heralds."""

    async def share_acks(self, coalition: str) -> None:
        """Acknowledgements were recorded here: add them to this herald's shared set."""

    async def share_member(self, coalition: str, room_id: str) -> None:
        """A room joined (or its liaison changed): tell the other heralds."""

    async def share_invite(
        self, coalition: str, token_hash: str, room_id: str | None, expires_at: datetime
    ) -> None:
        """An invitation was issued here: any herald accepts it (``bots.herald.invitations``)."""

    async def spend_invite(self, coalition: str, token_hash: str) -> None:
        """An invitation was used here: no herald accepts it again."""

    async def answers(self, room_id: str, event_id: str) -> bool:
        """Whether this herald answers a command (or takes a step) in a room: always, unless
        several heralds share the room (``bots.herald.heralds_live``)."""
        return True

    async def coordination(self, ctx: CommandContext) -> Coalition:
        """The coalition this room coordinates, if the sender may coordinate it."""
        coordinated = await self.coalitions.coordinated_by(ctx.room_id)
        shared = self.shared_coordination(ctx.room_id)
        if not coordinated and shared is not None:
            found = await self.coalitions.get(shared)
            coordinated = [found] if found is not None else []
        if not coordinated:
            raise UserError(
                _(
                    "Only a coalition's coordination room can do this (the room that created it with "
                    "!coalition create <name>); this room coordinates none."
                )
            )
        if not self.is_coordinator(ctx.sender):
            raise PermissionDenied(
                _(
                    "Starting, amending and cancelling protocols is limited to the coordinators this "
                    "bot's operator named (access.coordinators); ask one of them."
                )
            )
        return coordinated[0]

    async def run_in(self, coalition: Coalition, run_id: str) -> Run:
        run = await self.runs.get(run_id_of(run_id))
        if run is None or run.coalition != coalition.name:
            raise UserError(
                _(
                    "There is no run {run} in coalition {coalition}. !protocol status lists the latest.",
                    run=run_id,
                    coalition=coalition.name,
                )
            )
        return run

    async def require_liaison(self, ctx: CommandContext, member: Member | None) -> None:
        if member is not None and member.liaison == ctx.sender:
            return
        try:
            await ctx.require_power("moderator")
        except PermissionDenied:
            if member is not None and member.liaison:
                raise PermissionDenied(
                    _(
                        "Only this room's liaison or a moderator can do this (the liaison is {liaison}).",
                        liaison=member.liaison,
                    )
                ) from None
            raise PermissionDenied(_("Only this room's liaison or a moderator can do this.")) from None

    def is_coordinator(self, user_id: str) -> bool:
        """``access.coordinators`` (users or servers); empty leaves it to power levels alone."""
        allowed = self.host.access.coordinators
        if not allowed:
            return True
        server = user_id.partition(":")[2]
        return user_id in allowed or server in allowed

    async def still_in_room(self, room_id: str, user_id: str, member: Member | None = None) -> bool:
        """Whether ``user_id`` is joined to the room now. A liaison who is not (they left or
        were kicked) stops being the liaison here and then: the runtime passes no membership
        events to features, so the check is made when it matters (an ack, an escalation)."""
        try:
            joined = user_id in await self.host.members(RoomID(room_id))
        except MatrixError as exc:
            # The bot cannot read the room: trust no one for it now, but clear no liaison on a
            # homeserver that is only away or busy.
            if not permanent(exc):
                return False
            joined = False
        if not joined and member is not None and member.liaison == user_id:
            await self.coalitions.clear_liaison(room_id, user_id)
            log.info("herald: a liaison who is out of their room was cleared")
        return joined

    async def may_ack(self, room_id: str, user_id: str, member: Member) -> bool:
        """The room's liaison acknowledges; so may a room moderator (a liaison can be away).
        Either only while still in the room: a kicked liaison cannot silence escalation."""
        if not await self.still_in_room(room_id, user_id, member):
            return False
        if member.liaison == user_id:
            return True
        needed = self.host.power_needed("moderator")
        return needed is not None and await self.host.power_of(RoomID(room_id), user_id) >= needed
