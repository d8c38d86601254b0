"""The lottery's commands. Each signature is the grammar (and so the usage line in ``!help``);
the handlers only hand over to the feature (the runtime turns the rules' refusals into replies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.runtime.context import Context
from bots.runtime.router import Duration, Router

if TYPE_CHECKING:
    from bots.lottery.feature import LotteryFeature

router = Router("lottery")


def _feature(ctx: Context) -> LotteryFeature:
    return ctx.bot.feature("lottery")  # type: ignore[return-value]


@router.command("roles", help="The roles, who holds them and until when (local time)", where="room")
async def roles(ctx: Context) -> None:
    await _feature(ctx).show_roles(ctx)


@router.command(
    "roles set", help="Define this room's roles, in drawing order", power="moderator", where="room"
)
async def roles_set(ctx: Context, *role: str) -> None:
    await _feature(ctx).set_roles(ctx, role)


@router.command(
    "roles term", help="How long a mandate lasts (e.g. 7d)", power="moderator", where="room"
)
async def roles_term(ctx: Context, duration: str) -> None:
    await _feature(ctx).set_term(ctx, duration)


@router.command(
    "roles window",
    help="How long members have to add their chance to a draw (e.g. 30s)",
    power="moderator",
    where="room",
)
async def roles_window(ctx: Context, duration: str) -> None:
    await _feature(ctx).set_window(ctx, duration)


@router.command(
    "roles redraw",
    help="on: draw a role again as soon as its mandate ends; off: leave it vacant",
    power="moderator",
    where="room",
)
async def roles_redraw(ctx: Context, on_off: str) -> None:
    await _feature(ctx).set_redraw(ctx, on_off)


@router.command(
    "draw",
    help="Draw the vacant roles (or the named ones) among the pool: commitment first, result after",
    where="room",
)
async def draw(ctx: Context, *role: str) -> None:
    await _feature(ctx).draw(ctx, role)


@router.command("verify", help="Recompute a draw from its published inputs", where="room")
async def verify(ctx: Context, draw_id: str) -> None:
    await _feature(ctx).verify(ctx, draw_id)


@router.command(
    "stepback", help="Leave the pool, for a while or until !stepin (care, not shame)", where="room"
)
async def stepback(ctx: Context, duration: Duration | None = None) -> None:
    await _feature(ctx).step_back(ctx, duration)


@router.command("stepin", help="Rejoin the pool", where="room")
async def stepin(ctx: Context) -> None:
    await _feature(ctx).step_in(ctx)


@router.command("release", help="End your own mandate early", where="room")
async def release(ctx: Context, role: str) -> None:
    await _feature(ctx).release(ctx, role)


@router.command(
    "renew",
    help="Propose renewing a mandate; another member (not the holder, not the proposer) "
    "confirms with the same command",
    where="room",
)
async def renew(ctx: Context, role: str) -> None:
    await _feature(ctx).renew(ctx, role)


@router.command("order", help="A random speaking order of the pool", where="room")
async def order(ctx: Context) -> None:
    await _feature(ctx).order(ctx)


@router.command(
    "triads", help="Check-in triads by chance, away from the last triads' pairs", where="room"
)
async def triads(ctx: Context) -> None:
    await _feature(ctx).triads(ctx)


@router.command(
    "cells",
    help="Split the pool into affinity cells (default 5-7); with 'rooms' (moderator) each cell "
    "gets its own room, which closes at its sunset",
    where="room",
)
async def cells(ctx: Context, min_max: str | None = None, rooms: str | None = None) -> None:
    await _feature(ctx).cells(ctx, min_max, rooms)
