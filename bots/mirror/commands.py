"""The group-room side of the blind mirror: ``!mirror open`` (in the reflecting room),
``!mirror accept`` / ``!mirror decline`` (in the room to be reflected upon), ``!mirror status``.

Each handler's signature is its grammar (and so the usage line in ``!help``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

from bots.mirror.base import MirrorBase
from bots.mirror.render import (
    NO_PICKLE_KEY,
    not_a_room_for_you,
    render_declined,
    render_opened,
    render_opened_there,
    render_request,
    render_requested,
    render_status,
)
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Converter
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.i18n import _
from bots.runtime.i18n_rules import said
from bots.runtime.ids import RoomID, UserID
from bots.runtime.router import RoomRef
from protocols.errors import RuleError
from protocols.mirror import FRESH_JOIN, check_quota, check_request, parse_code, plan_round

log = logging.getLogger(__name__)


def _whole_number(text: str) -> int:
    # A plain ValueError: the router answers "'lots' is not a valid <k>" with the usage line;
    # the range (at least 3) is a rule, checked with its own explanation by plan_round.
    if not re.fullmatch(r"\d{1,6}", text):
        raise ValueError(text)
    return int(text)


K = Annotated[int, Converter(_whole_number, "word", "k")]


class MirrorCommands(MirrorBase):
    @command(
        "mirror open",
        help="Ask to open a blind-mirror round about another room you are in: once a moderator "
        "there accepts, members here reflect by DM, anonymously",
        power="moderator",
        where="room",
    )
    async def mirror_open(
        self, ctx: CommandContext, room: RoomRef, *, closes: timedelta | None = None, min: K | None = None
    ) -> None:
        """Validate everything, then ask the room to be reflected upon.

        The opener must have joined that room (and so must the bot); otherwise the reply is
        the same whether the room exists or not. The reply here does not name the room: this
        room's members read it, and need not be in that one.
        """
        if not self.rounds.can_open:
            raise UserError(NO_PICKLE_KEY)
        try:
            reflected = await self.host.resolve_room(room)
            members = await self.host.members(reflected)
        except MatrixError as exc:
            raise UserError(not_a_room_for_you(room)) from exc
        if ctx.sender not in members:
            raise UserError(not_a_room_for_you(room))
        try:
            request = plan_round(
                ctx.room_id,
                reflected,
                ctx.now,
                closes if closes is not None else self.config.default_close_after,
                min if min is not None else self.config.default_min_submissions,
            )
            check_quota(*await self.rounds.active_counts(ctx.room_id, reflected, ctx.sender))
        except RuleError as exc:
            raise UserError(said(exc)) from exc
        pending = await self.rounds.add_request(
            ctx.room_id, reflected, ctx.sender, request.k, request.closes_at - ctx.now, ctx.now
        )
        log.info("blind-mirror request %d made", pending.id)
        asked = render_request(pending, await self.host.room_name(ctx.room_id), await self.zone(reflected))
        await self.host.post(reflected, asked, self.request_key("asked", pending))
        await ctx.reply(render_requested(pending, await self.zone(ctx.room_id)))

    @command(
        "mirror accept",
        help="Accept a request to hold a blind mirror about this room (the code is in the request)",
        power="moderator",
        where="room",
    )
    async def mirror_accept(self, ctx: CommandContext, code: str) -> None:
        await self._answer(ctx, code, accept=True)

    @command(
        "mirror decline",
        help="Decline a request to hold a blind mirror about this room",
        power="moderator",
        where="room",
    )
    async def mirror_decline(self, ctx: CommandContext, code: str) -> None:
        await self._answer(ctx, code, accept=False)

    @command("mirror status", help="The blind-mirror rounds of this room", where="room")
    async def mirror_status(self, ctx: CommandContext) -> None:
        rounds = await self.rounds.rounds_for_room(ctx.room_id)
        labelled = [
            replace(r, reflected_room=await self.host.room_name(RoomID(r.reflected_room))) for r in rounds
        ]
        requests = []
        for r in await self.rounds.requests_for_room(ctx.room_id):
            if r.reflected_room == ctx.room_id:
                label = await self.host.room_name(RoomID(r.reflecting_room))
                requests.append(
                    (r, _("from {room}: !mirror accept {code} or decline", room=label, code=r.code))
                )
            else:
                requests.append((r, _("asked of the room you named")))
        await ctx.reply(render_status(labelled, ctx.now, await self.zone(ctx.room_id), requests))

    async def _answer(self, ctx: CommandContext, code_text: str, accept: bool) -> None:
        """``!mirror accept|decline <code>`` in the room to be reflected upon, by a moderator."""
        try:
            code = parse_code(code_text)
            pending = check_request(await self.rounds.get_request(code), code, ctx.room_id, ctx.now)
        except RuleError as exc:
            raise UserError(said(exc)) from exc
        reflecting = RoomID(pending.reflecting_room)
        if not accept:
            await self.rounds.drop_request(pending.id)
            await ctx.reply(render_declined(pending, answer=True))
            await self.host.post(reflecting, render_declined(pending), self.request_key("declined", pending))
            log.info("blind-mirror request %d declined", pending.id)
            return
        try:
            request = plan_round(reflecting, ctx.room_id, ctx.now, pending.close_after, pending.k)
            in_room, about_room, by_opener = await self.rounds.active_counts(
                reflecting, ctx.room_id, pending.opener
            )
            # This request is itself counted in all three.
            check_quota(in_room - 1, about_room - 1, by_opener - 1)
        except RuleError as exc:
            raise UserError(said(exc)) from exc
        try:
            members = await self.host.members(reflecting)
        except MatrixError as exc:
            raise UserError(
                f"I am no longer in the room that asked (request {code}), so no round can "
                "open. Nothing was opened."
            ) from exc
        if not await self.rounds.drop_request(pending.id):
            return  # accepted twice at once: the other one opens it
        round_ = await self.rounds.open_round(request, pending.opener, members)
        self._schedule(round_)
        log.info("blind-mirror round %d opened", round_.id)
        lifetime = self.message_lifetime
        await ctx.reply(
            render_opened_there(
                round_, await self.host.room_name(reflecting), await self.zone(ctx.room_id), lifetime
            )
        )
        opened = render_opened(
            round_,
            await self.host.room_name(ctx.room_id),
            await self.zone(reflecting),
            lifetime,
            eligible=len(members),
            fresh=await self._fresh_joins(reflecting, members, ctx.now),
        )
        await self.host.post(reflecting, opened, self.round_key("opened", round_))

    async def _fresh_joins(self, room: RoomID, members: list[UserID], now: datetime) -> int:
        """How many of ``members`` joined ``room`` within ``FRESH_JOIN``; 0 when the homeserver
        does not say."""
        joined = await self.host.joined_at(room)
        since = now - FRESH_JOIN
        return sum(1 for m in members if m in joined and joined[m] >= since)
