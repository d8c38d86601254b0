"""``!calendar link|rotate|off|follow|unfollow`` (a coordinator) and ``!local set public_name``."""

from __future__ import annotations

import secrets
from abc import abstractmethod
from urllib.parse import urlsplit

from bots.calendar.events import EventCommands
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import OnOff
from bots.runtime.errors import UserError
from bots.runtime.i18n import _, duration, ngettext
from bots.runtime.i18n_rules import said_clause
from bots.runtime.message import Inline, Message, Span, link
from protocols.calendar_feed import FeedError, calendar_name, parse_followed
from protocols.calendar_follow import FollowError, check_url, label_for

TOKEN_BYTES = 24  # 192 bits: unguessable, and short enough for a link


class PublishCommands(EventCommands):
    # -- the public addresses -----------------------------------------------------------------

    def addresses(self, token: str) -> tuple[str, str, str]:
        """(page, feed, webcal feed) for ``token``."""
        if self.config.public is None:
            raise UserError(self.not_configured())
        base = self.config.public.base_url
        page = f"{base}/c/{token}/"
        feed = f"{page}events.ics"
        webcal = "webcal://" + feed.split("://", 1)[1]
        return page, feed, webcal

    @staticmethod
    def not_configured() -> Span:
        return _(
            "This bot does not publish calendars: its operator has not set features.calendar.public "
            "(listen and base_url; see docs/calendar.md)."
        )

    async def _publish(self, ctx: CommandContext, coalition: str, rotate: bool) -> None:
        if self.config.public is None:
            raise UserError(self.not_configured())
        current = await self.publishing.get(coalition)
        token = current.token if current is not None and not rotate else secrets.token_urlsafe(TOKEN_BYTES)
        if current is None or rotate:
            await self.publishing.put(coalition, ctx.room_id, token, ctx.now)
            self.published(coalition, token, current.token if current is not None else None)
        page, feed, webcal = self.addresses(token)
        head: list[Inline] = [
            _("New public addresses of the {coalition} calendar.", coalition=coalition)
            if rotate
            else _("Public addresses of the {coalition} calendar.", coalition=coalition)
        ]
        if rotate and current is not None:
            head += [" ", _("The old addresses no longer work.")]
        await ctx.reply(
            Message.of(*head)
            .bullets(
                [
                    [_("The page: {link}", link=link(page, page))],
                    [_("The feed for calendar apps: {link}", link=link(feed, feed))],
                    [_("The same feed as a subscription link: {link}", link=webcal)],
                ]
            )
            .paragraph(
                _(
                    "Anyone with these addresses can read the calendar; they name no person, room or "
                    "homeserver. !calendar rotate replaces them, !calendar off stops publishing."
                )
            )
        )

    @abstractmethod
    def published(self, coalition: str, token: str | None, old: str | None) -> None:
        """The listener learns of a new, changed or removed token (the feature implements it)."""

    @command(
        "calendar link",
        help="The coalition calendar's public page and feed addresses (coordinator)",
        power="moderator",
        where="room",
    )
    async def calendar_link(self, ctx: CommandContext) -> None:
        seat = await self.coordinator_seat(ctx)
        await self._publish(ctx, seat.coalition, rotate=False)

    @command(
        "calendar rotate",
        help="Replace the public addresses; the old ones stop working (coordinator)",
        power="moderator",
        where="room",
    )
    async def calendar_rotate(self, ctx: CommandContext) -> None:
        seat = await self.coordinator_seat(ctx)
        await self._publish(ctx, seat.coalition, rotate=True)

    @command(
        "calendar off",
        help="Stop publishing the coalition calendar (coordinator)",
        power="moderator",
        where="room",
    )
    async def calendar_off(self, ctx: CommandContext) -> None:
        seat = await self.coordinator_seat(ctx)
        current = await self.publishing.get(seat.coalition)
        if current is None:
            raise UserError(
                _(
                    "The {coalition} calendar is not published; !calendar link publishes it.",
                    coalition=seat.coalition,
                )
            )
        await self.publishing.remove(seat.coalition)
        self.published(seat.coalition, None, current.token)
        await ctx.reply(
            Message.of(
                _(
                    "The {coalition} calendar is no longer published: its addresses now answer 404.",
                    coalition=seat.coalition,
                )
            )
        )

    # -- following other coalitions' feeds ----------------------------------------------------

    @command(
        "calendar follow",
        help="Merge another coalition's public feed into this calendar (coordinator)",
        power="moderator",
        where="room",
    )
    async def calendar_follow(self, ctx: CommandContext, url: str) -> None:
        seat = await self.coordinator_seat(ctx)
        target = check_url(url)
        own = {e.uid for e in await self.events.list_for(seat.coalition)}
        try:
            final, body = await self.fetch(target.url)
            events = parse_followed(body, "", max_events=self.config.follow.max_events, own_uids=sorted(own))
        except (FollowError, FeedError) as exc:
            raise UserError(
                _("Not followed: {problem}. Nothing was changed.", problem=said_clause(exc))
            ) from None
        label = label_for(calendar_name(body), check_url(final))
        if not await self.follows.add(
            seat.coalition, ctx.room_id, target.url, label, body, ctx.now, self.config.follow.max_follows
        ):
            raise UserError(
                _(
                    "The {coalition} calendar follows {n} feeds already; unfollow one first.",
                    coalition=seat.coalition,
                    n=self.config.follow.max_follows,
                )
            )
        self.changed(seat.coalition)
        await ctx.reply(
            Message.of(
                ngettext(
                    "Following “{label}”: {n} event merged into the {coalition} calendar, labelled with its "
                    "source, refreshed every {every}. !calendar unfollow stops it.",
                    "Following “{label}”: {n} events merged into the {coalition} calendar, labelled with "
                    "their source, refreshed every {every}. !calendar unfollow stops it.",
                    len(events),
                    label=label,
                    coalition=seat.coalition,
                    every=duration(self.config.follow.every),
                )
            )
        )

    @abstractmethod
    async def fetch(self, url: str) -> tuple[str, bytes]:
        """Fetch a followed feed within the configured bounds (the feature implements it)."""

    @command(
        "calendar unfollow",
        help="Stop merging a followed feed (all of them when no address is given) (coordinator)",
        power="moderator",
        where="room",
    )
    async def calendar_unfollow(self, ctx: CommandContext, url: str | None = None) -> None:
        seat = await self.coordinator_seat(ctx)
        target = check_url(url).url if url is not None else None
        removed = await self.follows.remove(seat.coalition, target)
        if not removed:
            host = urlsplit(target).hostname if target else None
            raise UserError(
                _(
                    "The {coalition} calendar does not follow {host}. Nothing was changed.",
                    coalition=seat.coalition,
                    host=host,
                )
                if host
                else _(
                    "The {coalition} calendar does not follow any feed. Nothing was changed.",
                    coalition=seat.coalition,
                )
            )
        self.changed(seat.coalition)
        await ctx.reply(
            Message.of(
                ngettext(
                    "Unfollowed {n} feed; its events are gone.",
                    "Unfollowed {n} feeds; their events are gone.",
                    removed,
                )
            )
        )

    # -- the room's public name ---------------------------------------------------------------

    @command(
        "local set public_name",
        help="Whether the public calendar names this room's group (off: 'a member group')",
        power="moderator",
        where="room",
    )
    async def local_public_name(self, ctx: CommandContext, shown: OnOff) -> None:
        seat = await self.seat(ctx.room_id, ctx.sender)
        await self.rooms.set_shows_name(ctx.room_id, shown)
        if seat is not None:
            self.changed(seat.coalition)
        await ctx.reply(
            Message.of(
                _("The public calendar names this group by the room's name.")
                if shown
                else _("The public calendar now calls this group “a member group”.")
            )
        )
