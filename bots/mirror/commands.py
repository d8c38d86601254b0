"""The group-room side of the blind mirror: ``!mirror open``, ``!mirror accept`` and
``!mirror decline`` (in the room to be reflected upon), ``!mirror status``.

The handlers only translate the command into a call on the feature; the grammar (and so the
usage line in ``!help``) is the signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.runtime.context import Context
from bots.runtime.router import Duration, RoomRef, Router

if TYPE_CHECKING:
    from bots.mirror.feature import MirrorFeature

router = Router("mirror")


def _feature(ctx: Context) -> MirrorFeature:
    return ctx.bot.feature("mirror")  # type: ignore[return-value]


@router.command(
    "mirror open",
    help="Ask to open a blind-mirror round about another room you are in: once a moderator "
    "there accepts, members here reflect by DM, anonymously",
    power="moderator",
    where="room",
)
async def mirror_open(
    ctx: Context,
    room: RoomRef,
    *,
    closes: Duration | None = None,
    min: int | None = None,
) -> None:
    await _feature(ctx).open_round(ctx, room, closes, min)


@router.command(
    "mirror accept",
    help="Accept a request to hold a blind mirror about this room (the code is in the request)",
    power="moderator",
    where="room",
)
async def mirror_accept(ctx: Context, code: str) -> None:
    await _feature(ctx).answer_request(ctx, code, accept=True)


@router.command(
    "mirror decline",
    help="Decline a request to hold a blind mirror about this room",
    power="moderator",
    where="room",
)
async def mirror_decline(ctx: Context, code: str) -> None:
    await _feature(ctx).answer_request(ctx, code, accept=False)


@router.command("mirror status", help="The blind-mirror rounds of this room", where="room")
async def mirror_status(ctx: Context) -> None:
    await _feature(ctx).status(ctx)
