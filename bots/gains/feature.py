"""The ledger of gains: ``!gain add``, ``!gain remove``, ``!gains``, ``!gains share``,
``!gains coalition``, ``!gains public``.

"Measure sovereignty, not spectacle." A gain is a category and a text; there is no author and
no head count. The text is forgotten after ``keep_text``; the category count stays. A coalition
tally goes through the herald (``host.peer``, read-only: which rooms are members) and counts
every member room this process keeps a ledger for, with the texts of the rooms that share
them (by name, or as "a member group").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bots.gains import render
from bots.gains.config import GainsConfig
from bots.gains.store import Ledger
from bots.herald.feature import HeraldFeature
from bots.runtime.commands import CommandContext, command
from bots.runtime.contract import ContractFeature
from bots.runtime.converters import OnOff, Text
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _
from bots.runtime.ids import RoomID
from bots.runtime.registry import register
from protocols.gains import RoomGains, categories, check_category, check_share, check_text, tally

log = logging.getLogger("bots.gains")


@register
class GainsFeature(ContractFeature[GainsConfig]):
    """The ledger of gains in self-rule, counted by category."""

    name = "gains"
    title = "Ledger of gains"
    config_model = GainsConfig
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, host: Host, config: GainsConfig) -> None:
        super().__init__(host, config)
        self.ledger = Ledger(host.db, host.user_id)
        self.categories = categories(config.categories)

    def retention(self) -> Mapping[str, timedelta]:
        return {"gain texts (their category counts stay)": self.config.keep_text}

    # -- commands -----------------------------------------------------------------------------

    @command("gain add", help="Record a gain in self-rule: a category and what was gained", where="room")
    async def add(self, ctx: CommandContext, category: str, text: Text) -> None:
        chosen = check_category(category, self.categories)
        cleaned = check_text(text)
        gain_id = await self.ledger.add(ctx.room_id, chosen, cleaned, ctx.now)
        await ctx.reply(render.recorded(gain_id, chosen, self.config.keep_text))

    @command("gain remove", help="Take back a gain recorded by mistake", power="moderator", where="room")
    async def remove(self, ctx: CommandContext, gain: int) -> None:
        category = await self.ledger.remove(ctx.room_id, gain)
        if category is None:
            raise UserError(
                _(
                    "There is no gain #{id} here (a gain's text is forgotten after a while; its count stays).",
                    id=str(gain),
                )
            )
        await ctx.reply(render.taken_back(gain, category))

    @command(
        "gains", help="This room's gains, counted by category, with the texts still remembered", where="room"
    )
    async def show(self, ctx: CommandContext) -> None:
        ordered = await self.public_tally([ctx.room_id])
        texts = (await self.ledger.texts([ctx.room_id]))[ctx.room_id]
        await ctx.reply(render.room(ordered, texts, await self.ledger.share_of(ctx.room_id)))

    @command(
        "gains share",
        help="How this room's gains reach its coalition's tally: counts, named or anonymous",
        power="moderator",
        where="room",
    )
    async def share(self, ctx: CommandContext, mode: str) -> None:
        chosen = check_share(mode)
        await self.ledger.set_share(ctx.room_id, chosen, ctx.now)
        await ctx.reply(render.share_set(chosen))

    @command(
        "gains coalition",
        help="The coalition's gains: every member room's, counted by category (in <coalition>: "
        "when this room is in several)",
        where="room",
    )
    async def coalition(self, ctx: CommandContext, *, in_: str | None = None) -> None:
        herald = self.host.peer(HeraldFeature)
        if herald is None:
            raise UserError(
                _(
                    "This room is not in a coalition (or this bot runs no herald): !gains shows this room's gains."
                )
            )
        if await herald.memberships(ctx.room_id):
            # One coalition: the room's only one or the one named; several: it refuses to guess.
            coalition, _member = await herald.member_of(ctx, in_)
            in_ = coalition.name
        scope = await herald.gains_scope(ctx.room_id, in_)
        if scope is None:
            raise UserError(
                _(
                    "This room is not in a coalition (or this bot runs no herald): !gains shows this room's gains."
                )
            )
        name, rooms = scope
        here = await self.ledger.known_rooms(rooms)
        counted = [r for r in rooms if r in here]
        counts = await self.ledger.counts(counted)
        texts = await self.ledger.texts(counted)
        members = []
        for room_id in counted:
            share = await self.ledger.share_of(room_id)
            title = await self._name(RoomID(room_id)) if share == "named" else ""
            items = [(c, t) for _, c, t in texts[room_id]] if share != "counts" else []
            members.append(RoomGains(room_id, title, share, counts[room_id], items))
        await ctx.reply(render.coalition(name, tally(members, self.categories), len(rooms) - len(counted)))

    @command(
        "gains public",
        help="on: the coalition's public calendar page shows its gains counted by category (no texts, "
        "no names); off: it shows none. In the coordination room",
        power="moderator",
        where="room",
    )
    async def public(self, ctx: CommandContext, on_off: OnOff) -> None:
        herald = self.host.peer(HeraldFeature)
        seat = await herald.coalition_seat(ctx.room_id, ctx.sender) if herald is not None else None
        if seat is None:
            raise UserError(
                _(
                    "This room is not in a coalition (or this bot runs no herald): !gains shows this room's gains."
                )
            )
        seat.require_coordinator()
        await self.ledger.set_public_page(ctx.room_id, on_off)
        from bots.calendar.feature import CalendarFeature  # the calendar imports this feature

        calendar = self.host.peer(CalendarFeature)
        if calendar is not None:
            calendar.changed(seat.coalition)  # the page is built again at the next request
        await ctx.reply(render.public_set(seat.coalition, on_off, calendar is not None))

    async def page_tally(self, coordination_room: str, coalition: str) -> dict[str, int] | None:
        """What the public page of ``coalition`` (published from ``coordination_room``) shows of
        its gains: counts by category over the member rooms counted here, with no text and no
        room name; None when its coordination room did not choose to show them (the default)."""
        herald = self.host.peer(HeraldFeature)
        if herald is None or not await self.ledger.public_page(coordination_room):
            return None
        scope = await herald.gains_scope(coordination_room, coalition)
        if scope is None:
            return None
        here = await self.ledger.known_rooms(scope[1])
        return await self.public_tally([r for r in scope[1] if r in here])

    async def public_tally(self, room_ids: Sequence[str]) -> dict[str, int]:
        """Counts by category over ``room_ids`` (in the categories' order), with no text and no
        room name: what a coalition's public page may show (reach it through ``host.peer``)."""
        counts = await self.ledger.counts(list(room_ids))
        return tally([RoomGains(r, "", "counts", c, ()) for r, c in counts.items()], self.categories).counts

    async def _name(self, room_id: RoomID) -> str:
        try:
            return await self.host.room_name(room_id) or render.MEMBER_ROOM
        except MatrixError:
            return render.MEMBER_ROOM

    # -- forgetting ---------------------------------------------------------------------------

    async def forget_expired(self, now: datetime) -> int:
        """Forget the texts of gains older than ``keep_text`` (of every bot); their counts stay.
        The replies that quoted a text are the room's own messages; the bot's reply to
        ``!gain add`` never repeats the text."""
        forgotten = await self.ledger.forget_texts_older_than(now - self.config.keep_text)
        if forgotten:
            log.info("gains: forgot the texts of %d gains", forgotten)
        return forgotten

    async def forget_room(self, room_id: RoomID) -> None:
        await self.ledger.forget_room(room_id)
