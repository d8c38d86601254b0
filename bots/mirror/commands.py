"""The group-room side of the blind mirror: ``!mirror open`` and ``!mirror status``.

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
    help="Open a blind-mirror round about another room: members reflect by DM, anonymously",
    power="moderator",
    where="room",
)
async def mirror_open(
    ctx: Context,
    room: RoomRef,
    *,
    closes: Duration | None = None,
    min: int | None = None,  # noqa: A002 - the word people type is "min"
) -> None:
    await _feature(ctx).open_round(ctx, room, closes, min)


@router.command("mirror status", help="The blind-mirror rounds of this room", where="room")
async def mirror_status(ctx: Context) -> None:
    await _feature(ctx).status(ctx)
