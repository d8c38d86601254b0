"""The ghost chair's chat surface: ``!ghost ...`` (absent voices) and ``!gathering ...``.

Each handler validates everything before it writes, so a refused command changes nothing. The
rules' refusals (``RuleError``, ``TimeSpecError``) become the user's error message where every
typed error does, in the runtime. A gathering's words after the time (zone, ``draw``, ``remind``, ``care``,
``until``) may come in any order, so they are read by :func:`protocols.ghostchair.parse_gathering`
from the raw text; the declaration names them for ``!help``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bots.runtime.context import Context, escape
from bots.runtime.errors import UserError
from bots.runtime.router import Router, Words
from protocols.ghostchair import (
    GatheringLine,
    describe_options,
    describe_schedule,
    parse_gathering,
    parse_gathering_id,
    reminder_for_turn,
    render_gatherings,
    render_voices,
)
from protocols.schedule import next_occurrence
from protocols.timespec import format_local, parse_zone

if TYPE_CHECKING:
    from bots.ghostchair.feature import GhostChairFeature

log = logging.getLogger(__name__)

router = Router("ghostchair")

OPTIONS_HELP = (
    "[zone] is an IANA name (default: the room's zone); options, in any order: draw (draw the "
    "opening roles and a speaking order through the lottery), remind <duration> (a heads-up "
    "before), care <duration> (a care check-in after)"
)


def _feature(ctx: Context) -> GhostChairFeature:
    return ctx.bot.feature("ghostchair")  # type: ignore[return-value]


# -- absent voices ---------------------------------------------------------------------------


@router.command(
    "ghost add",
    help="Keep a chair for someone absent (e.g. the comrade in prison)",
    power="moderator",
    where="room",
)
async def ghost_add(ctx: Context, text: Words) -> None:
    voice = ctx.tail(2)  # shlex would eat the apostrophe in "the neighbour's kid"
    voices = await _feature(ctx).voices.add(ctx.room_id, voice, ctx.now)
    await ctx.reply(
        f"The ghost chair is now also kept for {voices[-1]} ({len(voices)} voices; "
        "see them with !ghost list).",
        f"The ghost chair is now also kept for <em>{escape(voices[-1])}</em> ({len(voices)} "
        "voices; see them with <code>!ghost list</code>).",
    )


@router.command("ghost list", help="The absent voices this room keeps a chair for", where="room")
async def ghost_list(ctx: Context) -> None:
    text, html = render_voices(await _feature(ctx).voices.voices(ctx.room_id))
    await ctx.reply(text, html)


@router.command(
    "ghost remove",
    help="Stop keeping the chair for voice number n (from !ghost list)",
    power="moderator",
    where="room",
)
async def ghost_remove(ctx: Context, n: str) -> None:
    feature = _feature(ctx)
    removed = await feature.voices.remove(ctx.room_id, n, ctx.now)
    left = len(await feature.voices.voices(ctx.room_id))
    await ctx.reply(
        f"Removed {removed}. {left} absent voices remain.",
        f"Removed <em>{escape(removed)}</em>. {left} absent voices remain.",
    )


@router.command("ghost now", help="Post the ghost-chair reminder now", where="room")
async def ghost_now(ctx: Context) -> None:
    voices, turn = await _feature(ctx).voices.take_turn(ctx.room_id, ctx.now)
    text, html = reminder_for_turn(voices, turn)
    await ctx.reply(text, html)


# -- gatherings ------------------------------------------------------------------------------


@router.command(
    "gathering every",
    help=f"Schedule a weekly gathering. {OPTIONS_HELP}, until <YYYY-MM-DD> (its sunset)",
    power="moderator",
    where="room",
)
async def gathering_every(ctx: Context, weekday: str, time: str, *zone_and_options: str) -> None:
    await _schedule(ctx, "every " + ctx.tail(2))


@router.command(
    "gathering at",
    help=f"Schedule a one-off gathering at YYYY-MM-DD HH:MM. {OPTIONS_HELP}",
    power="moderator",
    where="room",
)
async def gathering_at(ctx: Context, date: str, time: str, *zone_and_options: str) -> None:
    await _schedule(ctx, "at " + ctx.tail(2))


async def _schedule(ctx: Context, args: str) -> None:
    feature = _feature(ctx)
    spec = parse_gathering(args, await feature.room_zone(ctx.room_id), ctx.now)
    if spec.options.draw and feature.lottery() is None:
        raise UserError(
            "draw needs the lottery feature, which is not enabled for this bot: leave out draw, "
            "or ask the operator to add lottery to the bot's features. Nothing was scheduled."
        )
    gathering = await feature.gatherings.add(ctx.room_id, spec, ctx.sender, ctx.now)
    zone = spec.schedule.zone
    adopted = spec.zone_given and await feature.zones.get(ctx.room_id) is None
    if adopted:
        await feature.zones.set(ctx.room_id, zone)
    await feature.advance(gathering.id)  # sets its first job (nothing is due yet)
    log.info("gathering %d scheduled", gathering.id)
    upcoming = next_occurrence(spec.schedule, ctx.now)
    lines = [
        f"Gathering #{gathering.id}: {describe_schedule(spec.schedule)}"
        + (f"; {describe_options(spec.options)}" if describe_options(spec.options) else "")
        + ".",
        f"Next: {format_local(upcoming, zone)}." if upcoming is not None else "",
        "At its start I post the ghost-chair reminder"
        + (", then draw the opening roles and a speaking order." if spec.options.draw else "."),
        f"This room's zone is now {zone.key} (change it with !gathering zone <zone>)."
        if adopted
        else "",
        f"Cancel it with !gathering cancel {gathering.id}.",
    ]
    text = "\n".join(line for line in lines if line)
    await ctx.reply(text, "<br>".join(escape(line) for line in lines if line))


@router.command("gathering list", help="This room's gatherings and when each is next", where="room")
async def gathering_list(ctx: Context) -> None:
    feature = _feature(ctx)
    rows = [
        GatheringLine(g.id, g.schedule, g.options, next_occurrence(g.schedule, ctx.now))
        for g in await feature.gatherings.in_room(ctx.room_id)
    ]
    text, html = render_gatherings(rows)
    zone = (await feature.room_zone(ctx.room_id)).key
    await ctx.reply(f"{text}\nThis room's zone: {zone}.", f"{html}<p>This room's zone: {zone}.</p>")


@router.command(
    "gathering cancel",
    help="Cancel a gathering (its id from !gathering list)",
    power="moderator",
    where="room",
)
async def gathering_cancel(ctx: Context, id_: str) -> None:
    feature = _feature(ctx)
    gathering_id = parse_gathering_id(id_)
    gathering = await feature.gatherings.get(gathering_id)
    if gathering is None or gathering.room_id != ctx.room_id:
        raise UserError(f"There is no gathering #{gathering_id} in this room; see !gathering list.")
    if not await feature.gatherings.cancel(ctx.room_id, gathering_id):
        raise UserError(f"Gathering #{gathering_id} is already gone; see !gathering list.")
    feature.forget_job(gathering_id)
    log.info("gathering %d cancelled", gathering_id)
    await ctx.reply(
        f"Cancelled gathering #{gathering_id} ({describe_schedule(gathering.schedule)})."
    )


@router.command(
    "gathering zone",
    help="Show this room's time zone, or set it (moderators) by IANA name, e.g. Europe/Paris",
    where="room",
)
async def gathering_zone(ctx: Context, zone: str | None = None) -> None:
    feature = _feature(ctx)
    if zone is None:
        current = await feature.room_zone(ctx.room_id)
        await ctx.reply(
            f"This room's zone is {current.key}. A moderator sets it with !gathering zone <zone>."
        )
        return
    await ctx.require_power("moderator")
    chosen = parse_zone(zone)
    await feature.zones.set(ctx.room_id, chosen)
    await ctx.reply(
        f"This room's zone is now {chosen.key}: new gatherings use it unless they name one; "
        "existing gatherings keep theirs."
    )
